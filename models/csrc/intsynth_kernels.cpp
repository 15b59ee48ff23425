// Fused element-wise passes of the integer synthesis (models/intsynth.py defines the arithmetic).
//
// Every step is a single IEEE float32 operation in the order the reference executor uses, compiled
// with -ffp-contract=off so no multiply-add is fused: the results are the same bits as the reference
// on any machine. Rounding is std::nearbyint in the default mode (half to even, as torch.round).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

namespace py = pybind11;
using f32array = py::array_t<float, py::array::c_style>;
using u8array = py::array_t<std::uint8_t, py::array::c_style>;

template <typename Fn>
static void parallel_rows(std::int64_t rows, int threads, Fn fn) {
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::min<std::int64_t>(rows, 64))));
  if (threads == 1) {
    fn(0, rows);
    return;
  }
  std::vector<std::thread> pool;
  std::int64_t step = (rows + threads - 1) / threads;
  for (int t = 0; t < threads; ++t) {
    std::int64_t lo = t * step, hi = std::min(rows, lo + step);
    if (lo < hi) pool.emplace_back([=] { fn(lo, hi); });
  }
  for (auto& th : pool) th.join();
}

// Clones for wider vector units; the arithmetic (and so every result) is the same in each clone.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NCODEC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NCODEC_CLONES
#endif

static inline float clampf(float x, float lo, float hi) { return std::min(std::max(x, lo), hi); }

NCODEC_CLONES static void square_rows(const float* pv, const float* pm, std::uint8_t* po, std::int64_t lo,
                                      std::int64_t hi, std::int64_t c) {
  for (std::int64_t r = lo; r < hi; ++r) {
    const float* row = pv + r * c;
    std::uint8_t* dst = po + r * c;
    for (std::int64_t j = 0; j < c; ++j) {
      float sq = row[j] * row[j];
      float q = std::nearbyint(sq * pm[j]);
      dst[j] = static_cast<std::uint8_t>(static_cast<int>(std::min(q, 255.0f)));
    }
  }
}

NCODEC_CLONES static void gdn_rows(const float* pv, const float* pn, const float* pm, std::uint8_t* po, std::int64_t lo,
                                   std::int64_t hi, std::int64_t w, std::int64_t c, bool inverse) {
  const std::int64_t c4 = 4 * c;
  float t[1024];
  for (std::int64_t y = lo; y < hi; ++y)
    for (std::int64_t x = 0; x < w; ++x) {
      const std::int64_t base = (y * w + x) * c4;
      for (int p = 0; p < 4; ++p) {
        const std::int64_t oy = 2 * y + (p >> 1), ox = 2 * x + (p & 1);
        std::uint8_t* dst = po + (oy * 2 * w + ox) * c;
        const float* sv = pv + base + p * c;
        const float* sn = pn + base + p * c;
        if (inverse)
          for (std::int64_t j = 0; j < c; ++j) t[j] = sv[j] * std::sqrt(sn[j]);
        else
          for (std::int64_t j = 0; j < c; ++j) t[j] = sv[j] / std::sqrt(sn[j]);
        for (std::int64_t j = 0; j < c; ++j) {
          float q = clampf(std::nearbyint(t[j] * pm[j]), -128.0f, 127.0f);
          dst[j] = static_cast<std::uint8_t>(static_cast<int>(q) + 128);
        }
      }
    }
}

NCODEC_CLONES static void gdn_flat_rows(const float* pv, const float* pn, const float* pm, std::uint8_t* po,
                                        std::int64_t lo, std::int64_t hi, std::int64_t c, bool inverse) {
  for (std::int64_t r = lo; r < hi; ++r) {
    const float* sv = pv + r * c;
    const float* sn = pn + r * c;
    std::uint8_t* dst = po + r * c;
    for (std::int64_t j = 0; j < c; ++j) {
      float root = std::sqrt(sn[j]);
      float t = inverse ? sv[j] * root : sv[j] / root;
      float q = clampf(std::nearbyint(t * pm[j]), -128.0f, 127.0f);
      dst[j] = static_cast<std::uint8_t>(static_cast<int>(q) + 128);
    }
  }
}

// sq[i] = min(255, rne((v[i] * v[i]) * mult[i % C]))   (v >= 0 after squaring)
static void square_u8(f32array v, f32array mult, u8array out, int threads) {
  const std::int64_t n = v.size(), c = mult.size();
  if (c <= 0 || n % c || out.size() != n) throw std::invalid_argument("square_u8: shape mismatch");
  const float* pv = v.data();
  const float* pm = mult.data();
  std::uint8_t* po = out.mutable_data();
  py::gil_scoped_release nogil;
  parallel_rows(n / c, threads, [&](std::int64_t lo, std::int64_t hi) { square_rows(pv, pm, po, lo, hi, c); });
}

// v, n: (H, W, 4C) phase-major (channel p*C + c, p = 2*rh + rw); out: (2H, 2W, C) uint8 with zero
// point 128 of clamp(rne((v * sqrt(n)) * mult[c]), -128, 127)   (v / sqrt(n) when inverse is false).
static void gdn_u8(f32array v, f32array n, f32array mult, u8array out, bool inverse, int threads) {
  if (v.ndim() != 3 || n.ndim() != 3 || out.ndim() != 3) throw std::invalid_argument("gdn_u8: expected 3-D arrays");
  const std::int64_t h = v.shape(0), w = v.shape(1), c4 = v.shape(2), c = mult.size();
  if (c4 != 4 * c || n.shape(0) != h || n.shape(1) != w || n.shape(2) != c4 || out.shape(0) != 2 * h ||
      out.shape(1) != 2 * w || out.shape(2) != c)
    throw std::invalid_argument("gdn_u8: shape mismatch");
  const float* pv = v.data();
  const float* pn = n.data();
  const float* pm = mult.data();
  std::uint8_t* po = out.mutable_data();
  py::gil_scoped_release nogil;
  if (c > 1024) throw std::invalid_argument("gdn_u8: at most 1024 channels");
  parallel_rows(h, threads, [&](std::int64_t lo, std::int64_t hi) { gdn_rows(pv, pn, pm, po, lo, hi, w, c, inverse); });
}

// v, n: (P, C) rows of channels; out (P, C) uint8, zero point 128, of clamp(rne((v / sqrt(n)) * mult[c]))
// (v * sqrt(n) when inverse): GDN between strided convolutions, without a phase shuffle.
static void gdn_flat_u8(f32array v, f32array n, f32array mult, u8array out, bool inverse, int threads) {
  const std::int64_t size = v.size(), c = mult.size();
  if (c <= 0 || size % c || n.size() != size || out.size() != size) throw std::invalid_argument("gdn_flat_u8: shape mismatch");
  const float* pv = v.data();
  const float* pn = n.data();
  const float* pm = mult.data();
  std::uint8_t* po = out.mutable_data();
  py::gil_scoped_release nogil;
  parallel_rows(size / c, threads, [&](std::int64_t lo, std::int64_t hi) { gdn_flat_rows(pv, pn, pm, po, lo, hi, c, inverse); });
}

// v: (H, W, 4*3) phase-major -> pixels (2H, 2W, 3) = clamp(rne(v * 255), 0, 255)
static void pixels_u8(f32array v, u8array out, int threads) {
  if (v.ndim() != 3 || out.ndim() != 3) throw std::invalid_argument("pixels_u8: expected 3-D arrays");
  const std::int64_t h = v.shape(0), w = v.shape(1), c4 = v.shape(2), c = c4 / 4;
  if (c4 % 4 || out.shape(0) != 2 * h || out.shape(1) != 2 * w || out.shape(2) != c)
    throw std::invalid_argument("pixels_u8: shape mismatch");
  const float* pv = v.data();
  std::uint8_t* po = out.mutable_data();
  py::gil_scoped_release nogil;
  parallel_rows(h, threads, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t y = lo; y < hi; ++y)
      for (std::int64_t x = 0; x < w; ++x)
        for (int p = 0; p < 4; ++p) {
          const std::int64_t oy = 2 * y + (p >> 1), ox = 2 * x + (p & 1);
          const float* sv = pv + (y * w + x) * c4 + p * c;
          std::uint8_t* dst = po + (oy * 2 * w + ox) * c;
          for (std::int64_t j = 0; j < c; ++j)
            dst[j] = static_cast<std::uint8_t>(clampf(std::nearbyint(sv[j] * 255.0f), 0.0f, 255.0f));
        }
  });
}

PYBIND11_MODULE(_intsynth, m) {
  m.doc() = "Fused element-wise passes of ncodec's integer synthesis";
  m.def("square_u8", &square_u8, py::arg("v"), py::arg("mult"), py::arg("out").noconvert(), py::arg("threads"));
  m.def("gdn_u8", &gdn_u8, py::arg("v"), py::arg("n"), py::arg("mult"), py::arg("out").noconvert(), py::arg("inverse"),
        py::arg("threads"));
  m.def("gdn_flat_u8", &gdn_flat_u8, py::arg("v"), py::arg("n"), py::arg("mult"), py::arg("out").noconvert(), py::arg("inverse"),
        py::arg("threads"));
  m.def("pixels_u8", &pixels_u8, py::arg("v"), py::arg("out").noconvert(), py::arg("threads"));
}
