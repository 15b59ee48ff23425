"""Shared test vectors for the interleaved rANS implementations (C++, NumPy lane emulation, CUDA).

Each case is generated from a fixed seed (NumPy's PCG64 streams are stable across versions); the
SHA-256 of the stream every implementation must write is committed in tests/golden/rans/digests.json.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

DIGESTS = Path(__file__).parent / "golden" / "rans" / "digests.json"


def random_cdf(rng: np.random.Generator, rows: int, max_bins: int, zero_bins: bool = True) -> np.ndarray:
    """uint32 CDF rows (rows, max_bins + 1) with random, sometimes very skewed, counts summing to 2**16."""
    cdf = np.zeros((rows, max_bins + 1), dtype=np.uint32)
    for r in range(rows):
        bins = int(rng.integers(2, max_bins + 1))
        weights = rng.gamma(float(rng.choice([0.05, 0.5, 3.0])), size=bins)
        counts = np.floor(weights / weights.sum() * (65536 - bins)).astype(np.int64) + 1
        if zero_bins and bins > 3:  # zero-width bins inside a row (never coded) must not confuse the search
            counts[int(rng.integers(1, bins - 1))] = 0
        counts[int(np.argmax(counts))] += 65536 - int(counts.sum())
        cdf[r, 1:bins + 1] = np.cumsum(counts)
        cdf[r, bins + 1:] = 65536
    return cdf


def random_symbols(rng: np.random.Generator, cdf: np.ndarray, n: int, per_symbol: bool = False
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(bins, table indexes) with each bin drawn from its table's own distribution."""
    idx = np.arange(n) % cdf.shape[0] if per_symbol else rng.integers(0, cdf.shape[0], n)
    u = rng.integers(0, 65536, n)
    rows = cdf[idx].astype(np.int64)
    bins = (rows <= u[:, None]).sum(axis=1) - 1
    return bins.astype(np.int64), idx.astype(np.int64)


def cases() -> list[dict]:
    """The shared vectors: several lane counts, chunk sizes, partial chunks and table layouts."""
    specs = [  # (name, seed, n, rows, max_bins, lanes, chunk_symbols, per_symbol)
        ("small-one-chunk", 1, 77, 4, 12, 32, 128, False),
        ("gaussian-like-many-chunks", 2, 20000, 64, 40, 32, 2048, False),
        ("lanes-64-partial", 3, 9001, 16, 300, 64, 1024, False),
        ("lanes-96", 4, 5000, 8, 5, 96, 960, False),
        ("per-symbol-cdfs", 5, 3000, 3000, 20, 32, 512, True),
        ("wide-alphabet", 6, 4000, 2, 4000, 32, 4096, False),
    ]
    out = []
    for name, seed, n, rows, max_bins, lanes, chunk, per_symbol in specs:
        rng = np.random.default_rng(seed)
        cdf = random_cdf(rng, rows, max_bins)
        bins, idx = random_symbols(rng, cdf, n, per_symbol)
        out.append({"name": name, "bins": bins, "idx": idx, "cdf": cdf, "lanes": lanes, "chunk_symbols": chunk})
    return out


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def expected_digests() -> dict[str, str]:
    return json.loads(DIGESTS.read_text())
