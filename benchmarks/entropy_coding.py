"""Entropy-coder throughput and size: constriction, CompressAI's rANS, ncodec's interleaved rANS (C++,
and the CUDA kernels when a GPU is present), on the same quantised-Gaussian symbols and integer tables.

Symbols: each draws one of ncodec's 64 Gaussian scale tables (scales 0.11..256, 16-bit CDFs) and a value
from that Gaussian, kept inside the table's range (so every coder codes the same bins, no escapes).
Every coder gets the bins plus a table index per symbol, already as arrays; times are medians of
``--repeats`` runs and include whatever each coder needs to turn those arrays into its own input
(CompressAI's Python lists, constriction's per-table models). Bytes are compared with the ideal
-log2 p of the integer tables. Writes results/bench-entropy-coding.json and prints a table.

    python benchmarks/entropy_coding.py [--sizes 1e6,1e7,1e8] [--threads 2] [--lanes 32] [-o OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from ncodec.entropy import _rans
from ncodec.entropy.coders import CompressAIRansCoder, ConstrictionCoder, RansInterleavedCoder, cdf_rows
from ncodec.entropy.gaussian import GaussianConditional, default_scale_table

ROOT = Path(__file__).resolve().parent.parent
COMPRESSAI_LIMIT = 10_000_000  # its encoder takes Python lists: 1e8 symbols need > 10 GB of list objects


def symbols(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, object]:
    """(bins, table indexes, tables): quantised-Gaussian symbols inside their tables."""
    tables, _ = GaussianConditional.build_tables()
    scales = default_scale_table().numpy()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, scales.size, n)
    values = np.round(rng.standard_normal(n) * scales[idx]).astype(np.int64)
    lo = tables.offsets[idx]
    bins = np.clip(values - lo, 0, tables.lengths[idx] - 1)
    return bins, idx, tables


def ideal_bytes(bins: np.ndarray, idx: np.ndarray, tables) -> float:
    total = 0.0
    for a in range(0, bins.size, 10_000_000):  # in slices: keeps memory flat at 1e8 symbols
        p = tables.counts[idx[a:a + 10_000_000], bins[a:a + 10_000_000]] / 65536.0
        total += float(-np.log2(p).sum())
    return total / 8


def timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def bench_cpu(name: str, encode, decode, expected: np.ndarray, repeats: int) -> dict:
    t_enc, data = timed(encode, repeats)
    t_dec, out = timed(lambda: decode(data), repeats)
    bins = expected
    if not np.array_equal(np.asarray(out).reshape(-1), expected):
        raise SystemExit(f"{name}: round trip failed")
    return {"coder": name, "encode_s": t_enc, "decode_s": t_dec, "bytes": len(data),
            "encode_msym_s": bins.size / t_enc / 1e6, "decode_msym_s": bins.size / t_dec / 1e6}


def bench_gpu(bins: np.ndarray, idx: np.ndarray, cdf: np.ndarray, lanes: int, chunk: int, repeats: int) -> list[dict]:
    """Kernel time on device-resident data (CUDA events), plus the host round trip with transfers."""
    from ncodec.entropy import rans_cuda

    gpu = rans_cuda.load_or_none("cuda")
    if gpu is None:
        return []
    import torch

    d_bins, d_idx, d_cdf = (gpu.tensor(a, torch.int32) for a in (bins, idx, cdf))
    rows = []

    def cuda_time(fn):
        fn()  # warm-up (and the first call's lazy setup)
        times = []
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            result = fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) / 1000)
        return float(np.median(times)), result

    t_enc, (words, counts) = cuda_time(lambda: gpu.encode_device(d_bins, d_idx, d_cdf, lanes, chunk))
    t_dec, out = cuda_time(lambda: gpu.decode_device(words, counts, d_idx, d_cdf, lanes, chunk))
    if not torch.equal(out.cpu().long(), torch.from_numpy(bins)):
        raise SystemExit("cuda: round trip failed")
    size = 6 + 4 * counts.numel() + 2 * words.numel()
    cpu_bytes = _rans.encode(bins, idx, cdf, lanes, chunk, os.cpu_count() or 1)
    host = gpu.encode(bins, idx, cdf, lanes, chunk)
    rows.append({"coder": f"ncodec rans-interleaved CUDA kernels ({torch.cuda.get_device_name()})",
                 "encode_s": t_enc, "decode_s": t_dec, "bytes": size, "same_bytes_as_cpu": host == cpu_bytes,
                 "encode_msym_s": bins.size / t_enc / 1e6, "decode_msym_s": bins.size / t_dec / 1e6})
    t_enc, data = timed(lambda: gpu.encode(bins, idx, cdf, lanes, chunk), repeats)
    t_dec, _ = timed(lambda: gpu.decode(data, idx, cdf), repeats)
    rows.append({"coder": "ncodec rans-interleaved CUDA, host arrays in/out (with transfers)",
                 "encode_s": t_enc, "decode_s": t_dec, "bytes": len(data),
                 "encode_msym_s": bins.size / t_enc / 1e6, "decode_msym_s": bins.size / t_dec / 1e6})
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1e6,1e7,1e8", help="symbol counts, comma separated")
    p.add_argument("--threads", type=int, default=2, help="threads of the interleaved C++ coder")
    p.add_argument("--lanes", type=int, default=32)
    p.add_argument("--chunk-symbols", type=int, default=RansInterleavedCoder.CHUNK_SYMBOLS)
    p.add_argument("--gpu-chunk-symbols", type=int, default=1 << 14,
                   help="chunk size for the CUDA rows (more chunks keep more warps busy)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip", default="", help="coders to leave out: constriction,compressai")
    p.add_argument("--out", "--output", "-o", default=str(ROOT / "results" / "bench-entropy-coding.json"),
                   help="JSON file to write (default: the committed results/bench-entropy-coding.json)")
    a = p.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    results = []
    for size in (int(float(s)) for s in a.sizes.split(",")):
        bins, idx, tables = symbols(size)
        cdf = cdf_rows(tables)
        ideal = ideal_bytes(bins, idx, tables)
        rows = []
        ours = lambda: _rans.encode(bins, idx, cdf, a.lanes, a.chunk_symbols, a.threads)  # noqa: E731
        rows.append(bench_cpu(f"ncodec rans-interleaved C++ ({a.threads} threads, {a.lanes} lanes)", ours,
                              lambda d: _rans.decode(d, idx, cdf, a.threads), bins, a.repeats))
        coder = RansInterleavedCoder(lanes=a.lanes, chunk_symbols=a.chunk_symbols, threads=a.threads)
        values = bins + tables.offsets[idx]
        rows.append(bench_cpu("ncodec rans-interleaved via Coder.encode/decode (escape handling included)",
                              lambda: coder.encode(values, idx, tables), lambda d: coder.decode(d, idx, tables),
                              values, a.repeats))
        if "constriction" not in skip:
            cc = ConstrictionCoder()
            rows.append(bench_cpu("constriction AnsCoder (one Categorical per table, grouped)",
                                  lambda: cc._encode_bins(bins, idx, tables, False),
                                  lambda d: cc._decode_bins(d, idx, tables, False), bins, max(1, a.repeats - 2)))
        if "compressai" not in skip and size <= COMPRESSAI_LIMIT:
            ca = CompressAIRansCoder()
            rows.append(bench_cpu("CompressAI RansEncoder/RansDecoder (indexes as lists)",
                                  lambda: ca._encode_bins(bins, idx, tables, False),
                                  lambda d: ca._decode_bins(d, idx, tables, False), bins, max(1, a.repeats - 2)))
        rows += bench_gpu(bins, idx, cdf, a.lanes, a.gpu_chunk_symbols, a.repeats)
        for r in rows:
            r.update(symbols=size, ideal_bytes=ideal, overhead_pct=100 * (r["bytes"] / ideal - 1))
        results += rows
        for r in rows:
            print(f"{size:>11,}  {r['coder'][:72]:<72} enc {r['encode_msym_s']:9.1f} M/s  "
                  f"dec {r['decode_msym_s']:9.1f} M/s  +{r['overhead_pct']:.3f} %", flush=True)
    doc = {"benchmark": "entropy-coding", "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                                                      "processor": platform.processor()},
           "settings": vars(a), "results": results}
    try:
        import torch

        if torch.cuda.is_available():
            doc["machine"]["gpu"] = torch.cuda.get_device_name()
    except ImportError:
        pass
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")
    print("\n| symbols | coder | encode M sym/s | decode M sym/s | bytes over ideal |\n|---|---|---|---|---|")
    for r in results:
        print(f"| {r['symbols']:,} | {r['coder']} | {r['encode_msym_s']:.1f} | {r['decode_msym_s']:.1f} | "
              f"{r['overhead_pct']:+.3f} % |")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    raise SystemExit(run_reporting_errors(main))
