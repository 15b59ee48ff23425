// CUDA kernels for ncodec's interleaved rANS format (docs/bitstream.md, "rans-interleaved").
//
// One thread block per chunk, one thread per lane (K = blockDim.x, a multiple of 32). At each step every
// lane codes one symbol; the lanes that move a 16-bit word get their place in the chunk's word stream
// from a warp ballot plus an exclusive prefix popcount, and a per-warp total in shared memory orders the
// warps (compaction of the variable-length reads and writes). CDF tables are staged in shared memory when
// they fit. The schedule is the one the C++ coder (rans_interleaved.cpp) runs lane by lane and that
// entropy/rans_lanes.py emulates with NumPy, so all three write identical bytes.
//
// Malformed input never reads or writes out of bounds: every word read is checked against its chunk's
// word count, every table index and bin against the table shape, and a per-chunk error flag is returned.
//
// Built on demand by entropy/rans_cuda.py (nvcc -shared) and called through the extern "C" launchers.

#include <cstdint>
#include <cuda_runtime.h>

namespace {

constexpr uint64_t kLower = 1ull << 32;
constexpr int kPrecision = 16;
constexpr int kMaxWarps = 32;
constexpr int kSharedTableWords = 11 * 1024;  // 44 KB of CDF entries fit beside the warp totals

__device__ __forceinline__ int find_bin(const uint32_t* row, int width, uint32_t slot) {
  int base = 0;
  int n = width - 1;
  while (n > 1) {
    const int half = n >> 1;
    base = (row[base + half] <= slot) ? base + half : base;
    n -= half;
  }
  return base;
}

// Exclusive count of set flags over lower lanes of the block, and the block's total.
__device__ __forceinline__ void block_rank(bool flag, uint32_t* warp_totals, int& rank, int& total) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  const unsigned ballot = __ballot_sync(0xffffffffu, flag);
  rank = __popc(ballot & ((1u << lane) - 1u));
  if (warps == 1) {
    total = __popc(ballot);
    return;
  }
  if (lane == 0) warp_totals[warp] = __popc(ballot);
  __syncthreads();
  int before = 0, all = 0;
  for (int w = 0; w < warps; ++w) {
    const int c = static_cast<int>(warp_totals[w]);
    before += (w < warp) ? c : 0;
    all += c;
  }
  rank += before;
  total = all;
  __syncthreads();
}

__device__ const uint32_t* stage_tables(const uint32_t* cdf, int rows, int width, int shared, uint32_t* smem) {
  if (!shared) return cdf;
  const int size = rows * width;
  for (int i = threadIdx.x; i < size; i += blockDim.x) smem[i] = cdf[i];
  __syncthreads();
  return smem;
}

__global__ void encode_kernel(const int32_t* __restrict__ bins, const int32_t* __restrict__ idx, int64_t n,
                              const uint32_t* __restrict__ cdf, int rows, int width, int64_t chunk_symbols,
                              int shared, uint16_t* __restrict__ scratch, uint32_t* __restrict__ counts,
                              int32_t* __restrict__ errors) {
  extern __shared__ uint32_t smem[];
  const uint32_t* tab = stage_tables(cdf, rows, width, shared, smem + kMaxWarps);
  const int lanes = blockDim.x;
  const int l = threadIdx.x;
  const int64_t chunk = blockIdx.x;
  const int64_t a = chunk * chunk_symbols;
  const int64_t m = min(chunk_symbols, n - a);
  const int64_t cap = 3 * static_cast<int64_t>(lanes) + chunk_symbols;
  uint16_t* buf = scratch + chunk * cap;
  int64_t pos = cap;
  uint64_t x = kLower;
  bool bad = false;
  const int64_t steps = (m + lanes - 1) / lanes;
  for (int64_t step = steps - 1; step >= 0; --step) {
    const int64_t j = step * lanes + l;
    bool active = j < m;
    uint64_t freq = 1;
    uint32_t start = 0;
    if (active) {
      const int32_t t = idx[a + j];
      const int32_t s = bins[a + j];
      if (t < 0 || t >= rows || s < 0 || s >= width - 1) {
        bad = true;
      } else {
        const uint32_t* row = tab + static_cast<int64_t>(t) * width;
        start = row[s];
        freq = row[s + 1] - start;
        if (freq == 0) bad = true;
      }
      active = !bad;
    }
    const bool emit = active && x >= (freq << 32);
    int rank, total;
    block_rank(emit, smem, rank, total);
    if (emit) {
      buf[pos - total + rank] = static_cast<uint16_t>(x & 0xFFFF);
      x >>= 16;
    }
    if (active) x = ((x / freq) << kPrecision) + (x % freq) + start;
    pos -= total;
  }
  pos -= 3 * lanes;
  buf[pos + 3 * l] = static_cast<uint16_t>(x & 0xFFFF);
  buf[pos + 3 * l + 1] = static_cast<uint16_t>((x >> 16) & 0xFFFF);
  buf[pos + 3 * l + 2] = static_cast<uint16_t>(x >> 32);
  const int any_bad = __syncthreads_or(bad);
  if (l == 0) {
    counts[chunk] = static_cast<uint32_t>(cap - pos);
    errors[chunk] = any_bad;
  }
}

__global__ void compact_kernel(const uint16_t* __restrict__ scratch, const uint32_t* __restrict__ counts,
                               const int64_t* __restrict__ offsets, int64_t cap, uint16_t* __restrict__ out) {
  const int64_t chunk = blockIdx.x;
  const int64_t count = counts[chunk];
  const uint16_t* src = scratch + chunk * cap + (cap - count);
  uint16_t* dst = out + offsets[chunk];
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) dst[k] = src[k];
}

__global__ void decode_kernel(const uint16_t* __restrict__ words, const int64_t* __restrict__ offsets,
                              const uint32_t* __restrict__ counts, const int32_t* __restrict__ idx, int64_t n,
                              const uint32_t* __restrict__ cdf, int rows, int width, int64_t chunk_symbols,
                              int shared, int32_t* __restrict__ out, int32_t* __restrict__ errors) {
  extern __shared__ uint32_t smem[];
  const uint32_t* tab = stage_tables(cdf, rows, width, shared, smem + kMaxWarps);
  const int lanes = blockDim.x;
  const int l = threadIdx.x;
  const int64_t chunk = blockIdx.x;
  const int64_t a = chunk * chunk_symbols;
  const int64_t m = min(chunk_symbols, n - a);
  const uint16_t* w = words + offsets[chunk];
  const int64_t count = counts[chunk];
  bool bad = count < 3 * static_cast<int64_t>(lanes);
  uint64_t x = kLower;
  if (!bad) {
    x = uint64_t(w[3 * l]) | (uint64_t(w[3 * l + 1]) << 16) | (uint64_t(w[3 * l + 2]) << 32);
    bad = x < kLower;
  }
  int64_t pos = 3 * static_cast<int64_t>(lanes);
  const int64_t steps = (m + lanes - 1) / lanes;
  for (int64_t step = 0; step < steps; ++step) {
    const int64_t j = step * lanes + l;
    bool need = false;
    if (j < m && !bad) {
      const int32_t t = idx[a + j];
      if (t < 0 || t >= rows) {
        bad = true;
      } else {
        const uint32_t* row = tab + static_cast<int64_t>(t) * width;
        const uint32_t slot = static_cast<uint32_t>(x & 0xFFFF);
        const int s = find_bin(row, width, slot);
        const uint32_t start = row[s];
        x = uint64_t(row[s + 1] - start) * (x >> 16) + slot - start;
        need = x < kLower;
        out[a + j] = s;
      }
    }
    int rank, total;
    block_rank(need, smem, rank, total);
    if (need) {
      const int64_t p = pos + rank;
      if (p < count) {
        x = (x << 16) | w[p];
      } else {
        bad = true;
      }
    }
    pos += total;
  }
  if (pos != count || x != kLower) bad = true;
  const int any_bad = __syncthreads_or(bad);
  if (l == 0) errors[chunk] = any_bad;
}

int shared_bytes(int rows, int width, int* use_shared) {
  const int64_t words = static_cast<int64_t>(rows) * width;
  *use_shared = words <= kSharedTableWords;
  return static_cast<int>((kMaxWarps + (*use_shared ? words : 0)) * sizeof(uint32_t));
}

}  // namespace

extern "C" {

// Encodes ceil(n / chunk_symbols) chunks into scratch (chunks x (3 lanes + chunk_symbols) words, each
// chunk's words at its end) and writes each chunk's word count and error flag.
int ncodec_rans_encode(const int32_t* bins, const int32_t* idx, int64_t n, const uint32_t* cdf, int rows, int width,
                       int lanes, int64_t chunk_symbols, uint16_t* scratch, uint32_t* counts, int32_t* errors,
                       void* stream) {
  const int64_t chunks = (n + chunk_symbols - 1) / chunk_symbols;
  if (chunks == 0) return 0;
  int shared = 0;
  const int smem = shared_bytes(rows, width, &shared);
  encode_kernel<<<static_cast<unsigned>(chunks), lanes, smem, static_cast<cudaStream_t>(stream)>>>(
      bins, idx, n, cdf, rows, width, chunk_symbols, shared, scratch, counts, errors);
  return static_cast<int>(cudaGetLastError());
}

// Moves each chunk's words from scratch to out[offsets[c]:], making the stream contiguous.
int ncodec_rans_compact(const uint16_t* scratch, const uint32_t* counts, const int64_t* offsets, int64_t chunks,
                        int64_t cap, uint16_t* out, void* stream) {
  if (chunks == 0) return 0;
  compact_kernel<<<static_cast<unsigned>(chunks), 256, 0, static_cast<cudaStream_t>(stream)>>>(scratch, counts,
                                                                                              offsets, cap, out);
  return static_cast<int>(cudaGetLastError());
}

// Decodes every chunk of a stream whose words start at words + offsets[c] (counts[c] words each).
int ncodec_rans_decode(const uint16_t* words, const int64_t* offsets, const uint32_t* counts, const int32_t* idx,
                       int64_t n, const uint32_t* cdf, int rows, int width, int lanes, int64_t chunk_symbols,
                       int32_t* out, int32_t* errors, void* stream) {
  const int64_t chunks = (n + chunk_symbols - 1) / chunk_symbols;
  if (chunks == 0) return 0;
  int shared = 0;
  const int smem = shared_bytes(rows, width, &shared);
  decode_kernel<<<static_cast<unsigned>(chunks), lanes, smem, static_cast<cudaStream_t>(stream)>>>(
      words, offsets, counts, idx, n, cdf, rows, width, chunk_symbols, shared, out, errors);
  return static_cast<int>(cudaGetLastError());
}

}  // extern "C"
