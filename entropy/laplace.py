"""Integer discrete-Laplace tables for coding quantised network weights (INR codecs).

A family of 32 two-sided geometric distributions p(k) ∝ θ^|k| with scales b = 0.25·2^(i/4)
(0.25 … 54). The ratios θ = round(2^16·exp(-1/b)) are stored as integers below, and each table is
built from them with integer arithmetic only, so encoder and decoder hold identical counts on every
machine (DESIGN.md's determinism rule). A table covers |k| ≤ R, where R is the last k whose mass
is still at least 2^-18 of the centre's (at most 1024); values beyond go through the coders' escape
mechanism.

The encoder picks, per weight tensor, the table with the smallest code length and sends its index.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ncodec.entropy.tables import PRECISION, TableSet

# round(2**16 * exp(-1 / (0.25 * 2**(i / 4)))) for i = 0..31; fixed forever (part of the bitstream format)
LAPLACE_THETAS = (1200, 2268, 3874, 6075, 8869, 12192, 15933, 19953, 24109, 28267, 32314, 36162, 39750,
                  43041, 46019, 48681, 51039, 53111, 54917, 56484, 57835, 58997, 59992, 60842, 61565,
                  62181, 62703, 63145, 63520, 63836, 64104, 64329)
MAX_RANGE = 1024
_CENTRE = 1 << 40


def _table_counts(theta: int) -> np.ndarray:
    """Integer counts (2R+1 regular bins + escape) summing to 2**PRECISION for one ratio θ/2^16."""
    masses = [_CENTRE]
    while len(masses) <= MAX_RANGE and masses[-1] >= _CENTRE >> 18:
        masses.append((masses[-1] * theta) >> 16)
    one_side = np.array(masses[:-1] if len(masses) > 2 else masses, dtype=np.int64)
    two_sided = np.concatenate([one_side[:0:-1], one_side, [0]])  # [-R..R] + escape
    total = 1 << PRECISION
    free = total - two_sided.size
    counts = 1 + (two_sided * free) // int(two_sided.sum())
    counts[int(np.argmax(counts))] += total - int(counts.sum())
    return counts


@lru_cache(maxsize=1)
def laplace_tables() -> TableSet:
    """The 32 tables as one TableSet (index i ↔ LAPLACE_THETAS[i]); built once, integers only."""
    rows = [_table_counts(theta) for theta in LAPLACE_THETAS]
    width = max(r.size for r in rows)
    counts = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        counts[i, :r.size] = r
    lengths = np.array([r.size - 1 for r in rows], dtype=np.int64)
    tables = TableSet(counts, lengths, -(lengths // 2), PRECISION)
    tables.validate()
    return tables


def best_table(values: np.ndarray) -> int:
    """Index of the table that codes the integers ``values`` in the fewest bits (escapes at 16 bits)."""
    tables = laplace_tables()
    v = np.asarray(values, dtype=np.int64).reshape(-1)
    if v.size == 0:
        return 0
    clipped = np.clip(v, -MAX_RANGE - 1, MAX_RANGE + 1) + MAX_RANGE + 1
    hist = np.bincount(clipped, minlength=2 * MAX_RANGE + 3).astype(np.float64)
    costs = np.empty(len(LAPLACE_THETAS))
    for i in range(len(LAPLACE_THETAS)):
        n, lo = int(tables.lengths[i]), int(tables.offsets[i])
        bits = np.full(hist.size, 16.0 - np.log2(tables.counts[i, n] / 2 ** PRECISION))
        bits[lo + MAX_RANGE + 1:lo + n + MAX_RANGE + 1] = -np.log2(tables.counts[i, :n] / 2 ** PRECISION)
        costs[i] = float(hist @ bits)
    return int(np.argmin(costs))
