// CPU implementation of ncodec's interleaved rANS format (docs/bitstream.md, "rans-interleaved").
//
// K lanes (1..31, or a multiple of 32 up to 1024) each hold a 64-bit state x in [2^32, 2^48); symbols are coded against
// 16-bit integer CDFs; renormalisation moves one 16-bit word at a time. Symbol j of a chunk belongs to
// lane j % K at step j / K. Within a step the words a decoder reads are ordered by ascending lane: the
// same schedule a CUDA warp gets from a ballot and a prefix popcount (entropy/csrc/rans_interleaved.cu),
// so the CPU and GPU produce identical bytes. Chunks are independent and are spread over threads.
//
// Every read is bounds-checked: a malformed stream ends in an error, never in an out-of-range access.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <atomic>
#include <type_traits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace py = pybind11;

namespace {

constexpr uint64_t kLower = uint64_t(1) << 32;  // state lower bound L
constexpr int kPrecision = 16;
constexpr uint32_t kTotal = uint32_t(1) << kPrecision;
constexpr int kMaxLanes = 1024;

using IntArray = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
using CdfArray = py::array_t<uint32_t, py::array::c_style | py::array::forcecast>;

struct Tables {
  const uint32_t* cdf;  // (rows, width): cdf[r, 0] = 0, non-decreasing, padded with 2^16
  int64_t rows;
  int64_t width;
  const uint16_t* buckets = nullptr;  // optional (rows, 2^kBucketBits): first bin of each slot range
};

// Decoder search accelerator: for each table, the bin that holds the first slot of each of 2^kBucketBits
// equal slot ranges. The decoder starts there and steps forward (usually zero or one step); built only
// when the tables are few compared with the symbols (table-indexed coding, not per-symbol CDFs).
constexpr int kBucketBits = 8;
constexpr int kBucketShift = kPrecision - kBucketBits;

std::vector<uint16_t> build_buckets(const Tables& t) {
  std::vector<uint16_t> b(static_cast<size_t>(t.rows) << kBucketBits);
  for (int64_t r = 0; r < t.rows; ++r) {
    const uint32_t* row = t.cdf + r * t.width;
    int64_t s = 0;
    for (int64_t k = 0; k < (int64_t(1) << kBucketBits); ++k) {
      const uint32_t slot = static_cast<uint32_t>(k << kBucketShift);
      while (row[s + 1] <= slot) ++s;
      b[(r << kBucketBits) + k] = static_cast<uint16_t>(s);
    }
  }
  return b;
}

inline int64_t find_bin_bucketed(const uint32_t* row, const uint16_t* buckets, uint32_t slot) {
  int64_t s = buckets[slot >> kBucketShift];
  while (row[s + 1] <= slot) ++s;
  return s;
}

// Largest s in [0, width - 1) with row[s] <= slot (row[0] = 0 <= slot < row[width - 1] = 2^16).
inline int64_t find_bin(const uint32_t* row, int64_t width, uint32_t slot) {
  const uint32_t* base = row;
  int64_t n = width - 1;
  while (n > 1) {
    const int64_t half = n >> 1;
    base = (base[half] <= slot) ? base + half : base;
    n -= half;
  }
  return base - row;
}

void check_tables(const Tables& t) {
  if (t.width < 2) throw std::invalid_argument("CDF rows need at least two entries");
  for (int64_t r = 0; r < t.rows; ++r) {
    const uint32_t* row = t.cdf + r * t.width;
    if (row[0] != 0 || row[t.width - 1] != kTotal)
      throw std::invalid_argument("each CDF row must start at 0 and end at 2^16");
    for (int64_t k = 1; k < t.width; ++k)
      if (row[k] < row[k - 1]) throw std::invalid_argument("CDF rows must be non-decreasing");
  }
}

// Encodes one chunk of m symbols into words, written backwards from the end of `buf`.
// Returns the number of words; they occupy buf[cap - count, cap).
int64_t encode_chunk(const int64_t* bins, const int64_t* idx, int64_t m, const Tables& t, int lanes,
                     uint16_t* buf, int64_t cap) {
  uint64_t x[kMaxLanes];
  for (int l = 0; l < lanes; ++l) x[l] = kLower;
  int64_t pos = cap;
  const int64_t steps = (m + lanes - 1) / lanes;
  for (int64_t step = steps - 1; step >= 0; --step) {
    const int64_t base = step * lanes;
    const int top = static_cast<int>(std::min<int64_t>(lanes, m - base));
    for (int l = top - 1; l >= 0; --l) {  // descending lanes: the decoder reads them ascending
      const int64_t j = base + l;
      const uint32_t* row = t.cdf + static_cast<int64_t>(idx[j]) * t.width;
      const uint32_t start = row[bins[j]];
      const uint64_t freq = row[bins[j] + 1] - start;
      uint64_t s = x[l];
      if (s >= (freq << 32)) {
        buf[--pos] = static_cast<uint16_t>(s & 0xFFFF);
        s >>= 16;
      }
      x[l] = ((s / freq) << kPrecision) + (s % freq) + start;
    }
  }
  for (int l = lanes - 1; l >= 0; --l) {  // final states, 3 words each, low word first when read
    buf[--pos] = static_cast<uint16_t>(x[l] >> 32);
    buf[--pos] = static_cast<uint16_t>((x[l] >> 16) & 0xFFFF);
    buf[--pos] = static_cast<uint16_t>(x[l] & 0xFFFF);
  }
  return cap - pos;
}

// Decodes one chunk; returns an empty string on success or the reason it is malformed.
const char* decode_chunk(const uint16_t* words, int64_t count, const int64_t* idx, int64_t m,
                         const Tables& t, int lanes, int64_t* out) {
  if (count < 3 * static_cast<int64_t>(lanes)) return "chunk shorter than its lane states";
  uint64_t x[kMaxLanes];
  for (int l = 0; l < lanes; ++l) {
    x[l] = uint64_t(words[3 * l]) | (uint64_t(words[3 * l + 1]) << 16) | (uint64_t(words[3 * l + 2]) << 32);
    if (x[l] < kLower) return "lane state out of range";
  }
  int64_t pos = 3 * static_cast<int64_t>(lanes);
  const int64_t steps = (m + lanes - 1) / lanes;
  for (int64_t step = 0; step < steps; ++step) {
    const int64_t base = step * lanes;
    const int top = static_cast<int>(std::min<int64_t>(lanes, m - base));
    for (int l = 0; l < top; ++l) {
      const int64_t j = base + l;
      const uint32_t* row = t.cdf + static_cast<int64_t>(idx[j]) * t.width;
      const uint32_t slot = static_cast<uint32_t>(x[l] & 0xFFFF);
      const int64_t s = t.buckets ? find_bin_bucketed(row, t.buckets + (static_cast<int64_t>(idx[j]) << kBucketBits), slot)
                                  : find_bin(row, t.width, slot);
      const uint32_t start = row[s];
      const uint64_t freq = row[s + 1] - start;
      uint64_t v = freq * (x[l] >> 16) + slot - start;
      if (v < kLower) {
        if (pos >= count) return "chunk words exhausted";
        v = (v << 16) | words[pos++];
      }
      x[l] = v;
      out[j] = static_cast<int64_t>(s);
    }
  }
  if (pos != count) return "unused words at the end of a chunk";
  for (int l = 0; l < lanes; ++l)
    if (x[l] != kLower) return "lane did not return to its initial state";
  return "";
}

template <typename Fn>
void parallel_for(int64_t count, int threads, Fn fn) {
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, count)));
  if (threads == 1) {
    for (int64_t c = 0; c < count; ++c) fn(c);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int w = 0; w < threads; ++w)
    pool.emplace_back([=, &fn] {
      for (int64_t c = w; c < count; c += threads) fn(c);
    });
  for (auto& th : pool) th.join();
}

Tables tables_of(const CdfArray& cdf) {
  if (cdf.ndim() != 2) throw std::invalid_argument("cdf must be a 2-D array (rows, width)");
  return Tables{cdf.data(), cdf.shape(0), cdf.shape(1)};
}

void check_indexes(const int64_t* idx, int64_t n, const Tables& t) {
  for (int64_t j = 0; j < n; ++j)
    if (idx[j] < 0 || idx[j] >= t.rows) throw std::invalid_argument("table index out of range");
}

void check_lanes(int lanes, int64_t chunk_symbols) {
  // 1..31 lanes: small tensors, whose 6-byte lane states would outweigh the payload (CPU-decoded);
  // otherwise whole warps for the CUDA kernels
  if (lanes < 1 || lanes > kMaxLanes || (lanes >= 32 && lanes % 32))
    throw std::invalid_argument("lanes must lie in [1, 31] or be a multiple of 32 in [32, 1024]");
  if (chunk_symbols < lanes || chunk_symbols % lanes || chunk_symbols > (int64_t(1) << 30))
    throw std::invalid_argument("chunk_symbols must be a positive multiple of lanes, at most 2^30");
}

inline void put_u32(std::string& s, size_t at, uint32_t v) {
  for (int b = 0; b < 4; ++b) s[at + b] = static_cast<char>((v >> (8 * b)) & 0xFF);
}

inline uint32_t get_u32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

// Stream: u16 lanes, u32 chunk_symbols, u32 word count per chunk, then every chunk's u16 words.
// `bins` and `idx` must already be validated (check_encodable); runs without the GIL.
std::string encode_core(const int64_t* b, const int64_t* idx, int64_t n, const Tables& t, int lanes,
                        int64_t chunk_symbols, int threads) {
  const int64_t chunks = (n + chunk_symbols - 1) / chunk_symbols;
  const int64_t cap = 3 * static_cast<int64_t>(lanes) + chunk_symbols;  // at most one word per symbol
  std::vector<uint16_t> scratch(static_cast<size_t>(chunks * cap));
  std::vector<int64_t> counts(static_cast<size_t>(chunks));
  parallel_for(chunks, threads, [&](int64_t c) {
    const int64_t a = c * chunk_symbols;
    const int64_t m = std::min(chunk_symbols, n - a);
    counts[c] = encode_chunk(b + a, idx + a, m, t, lanes, scratch.data() + c * cap, cap);
  });
  int64_t total_words = 0;
  for (int64_t c : counts) total_words += c;
  const size_t header = 6 + 4 * static_cast<size_t>(chunks);
  std::string out(header + 2 * static_cast<size_t>(total_words), '\0');
  out[0] = static_cast<char>(lanes & 0xFF);
  out[1] = static_cast<char>(lanes >> 8);
  put_u32(out, 2, static_cast<uint32_t>(chunk_symbols));
  size_t at = header;
  for (int64_t c = 0; c < chunks; ++c) {
    put_u32(out, 6 + 4 * c, static_cast<uint32_t>(counts[c]));
    const uint16_t* w = scratch.data() + c * cap + (cap - counts[c]);
    for (int64_t k = 0; k < counts[c]; ++k) {  // little-endian words
      out[at++] = static_cast<char>(w[k] & 0xFF);
      out[at++] = static_cast<char>(w[k] >> 8);
    }
  }
  return out;
}

void check_encodable(const int64_t* b, const int64_t* idx, int64_t n, const Tables& t) {
  check_indexes(idx, n, t);
  for (int64_t j = 0; j < n; ++j) {
    const uint32_t* row = t.cdf + idx[j] * t.width;
    if (b[j] < 0 || b[j] >= t.width - 1 || row[b[j] + 1] == row[b[j]])
      throw std::invalid_argument("symbol has zero probability in its table");
  }
}

py::bytes encode(const IntArray& bins, const IntArray& indexes, const CdfArray& cdf, int lanes,
                 int64_t chunk_symbols, int threads) {
  check_lanes(lanes, chunk_symbols);
  const Tables t = tables_of(cdf);
  const int64_t n = bins.size();
  if (indexes.size() != n) throw std::invalid_argument("one table index per symbol is needed");
  check_tables(t);
  check_encodable(bins.data(), indexes.data(), n, t);
  std::string out;
  {
    py::gil_scoped_release release;
    out = encode_core(bins.data(), indexes.data(), n, t, lanes, chunk_symbols, threads);
  }
  return py::bytes(out);
}

void check_value_tables(const IntArray& offsets, const IntArray& lengths, const Tables& t) {
  if (offsets.size() != t.rows || lengths.size() != t.rows)
    throw std::invalid_argument("one offset and one length per table are needed");
  for (int64_t r = 0; r < t.rows; ++r)
    if (lengths.data()[r] < 1 || lengths.data()[r] > t.width - 2)
      throw std::invalid_argument("table length out of range");
}

IntArray positions_array(const std::vector<std::vector<int64_t>>& per_chunk) {
  size_t total = 0;
  for (const auto& v : per_chunk) total += v.size();
  IntArray out(static_cast<py::ssize_t>(total));
  int64_t* o = out.mutable_data();
  for (const auto& v : per_chunk) o = std::copy(v.begin(), v.end(), o);
  return out;
}

constexpr int64_t kMaxAbsValue = (int64_t(1) << 61) - 1;

// Values instead of bins: value v of table t is bin v - offsets[t] when inside [0, lengths[t]), else the
// escape bin lengths[t]. Returns the stream and the positions of the escaped values (ascending).
py::tuple encode_values(const IntArray& values, const IntArray& indexes, const CdfArray& cdf, const IntArray& offsets,
                        const IntArray& lengths, int lanes, int64_t chunk_symbols, int threads) {
  check_lanes(lanes, chunk_symbols);
  const Tables t = tables_of(cdf);
  const int64_t n = values.size();
  if (indexes.size() != n) throw std::invalid_argument("one table index per symbol is needed");
  check_tables(t);
  check_value_tables(offsets, lengths, t);
  const int64_t* v = values.data();
  const int64_t* idx = indexes.data();
  const int64_t* off = offsets.data();
  const int64_t* len = lengths.data();
  check_indexes(idx, n, t);
  std::vector<int64_t> bins(static_cast<size_t>(n));
  const int64_t blocks = (n + 65535) / 65536;
  std::vector<std::vector<int64_t>> escaped(static_cast<size_t>(blocks));
  std::vector<char> bad(static_cast<size_t>(blocks), 0);
  std::string out;
  {
    py::gil_scoped_release release;
    parallel_for(blocks, threads, [&](int64_t k) {
      for (int64_t j = k * 65536, end = std::min(n, j + 65536); j < end; ++j) {
        const int64_t r = idx[j];
        if (v[j] > kMaxAbsValue || v[j] < -kMaxAbsValue) bad[k] = 1;
        const int64_t bin = v[j] - off[r];
        const bool inside = bin >= 0 && bin < len[r];
        bins[j] = inside ? bin : len[r];
        if (!inside) escaped[k].push_back(j);
        const uint32_t* row = t.cdf + r * t.width;
        if (row[bins[j] + 1] == row[bins[j]]) bad[k] = 2;
      }
    });
  }
  for (char e : bad) {
    if (e == 1) throw std::invalid_argument("symbol magnitude exceeds 2**61");
    if (e == 2) throw std::invalid_argument("symbol has zero probability in its table");
  }
  {
    py::gil_scoped_release release;
    out = encode_core(bins.data(), idx, n, t, lanes, chunk_symbols, threads);
  }
  return py::make_tuple(py::bytes(out), positions_array(escaped));
}

// Decodes into bins (out) or, when offsets/lengths are given, into values plus escape positions.
struct DecodeResult {
  std::vector<std::vector<int64_t>> escaped;
};

DecodeResult decode_into(const py::buffer& data, const IntArray& indexes, const Tables& t, int threads, int64_t* o,
                         const int64_t* off, const int64_t* len) {
  const py::buffer_info info = data.request();
  const auto* p = static_cast<const uint8_t*>(info.ptr);
  const int64_t size = info.size * info.itemsize;
  const int64_t n = indexes.size();
  const int64_t* idx = indexes.data();
  check_indexes(idx, n, t);
  if (size < 6) throw std::runtime_error("interleaved rANS header truncated");
  const int lanes = p[0] | (p[1] << 8);
  const int64_t chunk_symbols = get_u32(p + 2);
  try {
    check_lanes(lanes, chunk_symbols);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string("interleaved rANS header: ") + e.what());
  }
  const int64_t chunks = (n + chunk_symbols - 1) / chunk_symbols;
  if (size < 6 + 4 * chunks) throw std::runtime_error("interleaved rANS chunk table truncated");
  std::vector<int64_t> offsets(static_cast<size_t>(chunks) + 1, 0);
  for (int64_t c = 0; c < chunks; ++c) offsets[c + 1] = offsets[c] + get_u32(p + 6 + 4 * c);
  const int64_t payload = size - 6 - 4 * chunks;
  if (2 * offsets[chunks] != payload) throw std::runtime_error("interleaved rANS chunk sizes do not match the payload");
  Tables tb = t;
  std::vector<uint16_t> buckets;
  if (t.width <= 65536 && t.rows * (int64_t(1) << kBucketBits) <= std::max<int64_t>(n, 4096)) {
    buckets = build_buckets(t);
    tb.buckets = buckets.data();
  }
  const uint8_t* w8 = p + 6 + 4 * chunks;
  DecodeResult result;
  result.escaped.resize(static_cast<size_t>(chunks));
  std::vector<const char*> errors(static_cast<size_t>(chunks), "");
  {
    py::gil_scoped_release release;
    parallel_for(chunks, threads, [&](int64_t c) {
      const int64_t a = c * chunk_symbols;
      const int64_t m = std::min(chunk_symbols, n - a);
      const int64_t count = offsets[c + 1] - offsets[c];
      std::vector<uint16_t> words(static_cast<size_t>(count));  // aligned little-endian copy
      const uint8_t* src = w8 + 2 * offsets[c];
      for (int64_t k = 0; k < count; ++k) words[k] = static_cast<uint16_t>(src[2 * k] | (src[2 * k + 1] << 8));
      errors[c] = decode_chunk(words.data(), count, idx + a, m, tb, lanes, o + a);
      if (*errors[c] || off == nullptr) return;
      for (int64_t j = a; j < a + m; ++j) {
        const int64_t r = idx[j];
        if (o[j] > len[r]) {
          errors[c] = "decoded symbol outside its table";
          return;
        }
        if (o[j] == len[r]) result.escaped[c].push_back(j);
        o[j] += off[r];
      }
    });
  }
  for (const char* e : errors)
    if (*e) throw std::runtime_error(std::string("interleaved rANS stream is corrupt: ") + e);
  return result;
}

IntArray decode(const py::buffer& data, const IntArray& indexes, const CdfArray& cdf, int threads) {
  const Tables t = tables_of(cdf);
  check_tables(t);
  IntArray out(indexes.size());
  decode_into(data, indexes, t, threads, out.mutable_data(), nullptr, nullptr);
  return out;
}

py::tuple decode_values(const py::buffer& data, const IntArray& indexes, const CdfArray& cdf, const IntArray& offsets,
                        const IntArray& lengths, int threads) {
  const Tables t = tables_of(cdf);
  check_tables(t);
  check_value_tables(offsets, lengths, t);
  IntArray out(indexes.size());
  DecodeResult r = decode_into(data, indexes, t, threads, out.mutable_data(), offsets.data(), lengths.data());
  return py::make_tuple(out, positions_array(r.escaped));
}

// Integer tables from log2-domain logits (units 2^-8), one row per symbol: weight 2^(30 - d/256) with
// d = max - logit, read from a 256-entry integer table, then counts = weight * (2^16 - bins) / total + 1
// (the extra last bin is ncodec's escape bin) with the rounding remainder on the largest bin. Integer
// arithmetic only, so every machine builds the same tables (codecs/octree_learned.py documents it).
template <typename T>
IntArray counts_from_log2_impl(const py::array_t<T, py::array::c_style | py::array::forcecast>& logits,
                               const IntArray& lut, int threads, double* probabilities) {
  if (logits.ndim() != 2 || lut.size() != 256) throw std::invalid_argument("logits (n, k) and a 256-entry table needed");
  const int64_t n = logits.shape(0), k = logits.shape(1);
  if (k < 1 || k + 1 >= int64_t(kTotal)) throw std::invalid_argument("alphabet too large");
  const T* lg = logits.data();
  const int64_t* lt = lut.data();
  for (int j = 0; j < 256; ++j)
    if (lt[j] < 1 || lt[j] > (int64_t(1) << 30)) throw std::invalid_argument("table entries must be in [1, 2^30]");
  IntArray out({n, k + 1});
  int64_t* o = out.mutable_data();
  const int64_t free_counts = int64_t(kTotal) - (k + 1);
  std::atomic<bool> bad{false};
  {
    py::gil_scoped_release release;
    const int64_t blocks = (n + 4095) / 4096;
    parallel_for(blocks, threads, [&](int64_t b) {
      for (int64_t r = b * 4096, end = std::min(n, r + 4096); r < end; ++r) {
        const T* row = lg + r * k;
        int64_t* c = o + r * (k + 1);
        if constexpr (std::is_floating_point_v<T>) {  // float64 logits must hold integers below 2^52
          for (int64_t j = 0; j < k; ++j)
            if (!(std::fabs(row[j]) < 4.0e15) || row[j] != static_cast<T>(static_cast<int64_t>(row[j]))) bad = true;
          if (bad) return;
        }
        int64_t top = static_cast<int64_t>(row[0]);
        for (int64_t j = 1; j < k; ++j) top = std::max(top, static_cast<int64_t>(row[j]));
        int64_t total = 0;
        for (int64_t j = 0; j < k; ++j) {
          const int64_t d = top - static_cast<int64_t>(row[j]);  // >= 0
          const int64_t shift = std::min<int64_t>(d >> 8, 62);
          c[j] = lt[d & 255] >> shift;
          total += c[j];
        }
        c[k] = 0;
        int64_t sum = 0, largest = 0;
        for (int64_t j = 0; j <= k; ++j) {
          c[j] = c[j] * free_counts / total + 1;
          sum += c[j];
          if (c[j] > c[largest]) largest = j;
        }
        c[largest] += int64_t(kTotal) - sum;
        if (probabilities != nullptr)  // exact: counts * 2^-16
          for (int64_t j = 0; j <= k; ++j) probabilities[r * (k + 1) + j] = static_cast<double>(c[j]) / double(kTotal);
      }
    });
  }
  if (bad) throw std::invalid_argument("float64 logits must hold integers below 2^52");
  return out;
}

// int64 logits, or float64 logits that hold exact integers (what an exact float64 matmul produces).
// With with_probabilities, returns (counts, counts * 2^-16 as float64) from the same pass.
py::object counts_from_log2(const py::array& logits, const IntArray& lut, int threads, bool with_probabilities) {
  py::array_t<double> probs;
  double* p = nullptr;
  if (with_probabilities) {
    if (logits.ndim() != 2) throw std::invalid_argument("logits (n, k) needed");
    probs = py::array_t<double>({logits.shape(0), logits.shape(1) + 1});
    p = probs.mutable_data();
  }
  IntArray counts;
  if (py::isinstance<py::array_t<double>>(logits)) {
    const auto values = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(logits);
    counts = counts_from_log2_impl<double>(values, lut, threads, p);
  } else {
    counts = counts_from_log2_impl<int64_t>(IntArray::ensure(logits), lut, threads, p);
  }
  if (with_probabilities) return py::make_tuple(counts, probs);
  return std::move(counts);
}

}  // namespace

PYBIND11_MODULE(_rans, m) {
  m.doc() = "Interleaved rANS (K lanes, 16-bit words, 16-bit CDFs): CPU encoder and decoder.";
  m.def("encode", &encode, py::arg("bins"), py::arg("indexes"), py::arg("cdf"), py::arg("lanes"),
        py::arg("chunk_symbols"), py::arg("threads"),
        "Code bins[j] with CDF row indexes[j]; returns the stream bytes.");
  m.def("decode", &decode, py::arg("data"), py::arg("indexes"), py::arg("cdf"), py::arg("threads"),
        "Inverse of encode; raises RuntimeError on a malformed stream.");
  m.def("encode_values", &encode_values, py::arg("values"), py::arg("indexes"), py::arg("cdf"), py::arg("offsets"),
        py::arg("lengths"), py::arg("lanes"), py::arg("chunk_symbols"), py::arg("threads"),
        "Code values (table t covers offsets[t] .. offsets[t] + lengths[t] - 1, else its escape bin); "
        "returns (stream bytes, escaped positions).");
  m.def("decode_values", &decode_values, py::arg("data"), py::arg("indexes"), py::arg("cdf"), py::arg("offsets"),
        py::arg("lengths"), py::arg("threads"),
        "Inverse of encode_values: (values with escaped positions unfilled, escaped positions).");
  m.def("counts_from_log2", &counts_from_log2, py::arg("logits"), py::arg("lut"), py::arg("threads"),
        py::arg("with_probabilities") = false,
        "Integer tables (n, k + 1) summing to 2^16 from log2-domain logits (n, k) in units 2^-8.");
  m.attr("PRECISION") = kPrecision;
}
