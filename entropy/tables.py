"""Integer probability tables shared by the encoder and decoder.

A table set holds, for T distributions over consecutive integers, the integer counts of each
regular bin plus one trailing *escape* bin, all summing to ``2**precision``. Symbols outside a
table's range are coded as the escape bin followed by their exact value (see ``entropy.escape``),
so nothing is ever clipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where tables are built: a torch-free decoder reads them
    import torch

PRECISION = 16
TOTAL = 1 << PRECISION


def quantize_pmf(pmf: torch.Tensor, tail: torch.Tensor | None = None,
                 precision: int = PRECISION) -> torch.Tensor:
    """Turn float pmfs (T, n) (+ escape tail mass (T,)) into int64 counts (T, n+1) summing to 2**p.

    Every bin, the escape bin included, gets at least one count so any symbol stays codable.
    Only used when tables are *built* (at export); decoders read the stored integers.
    """
    import torch

    pmf = pmf.double().clamp_min(0)
    if tail is None:
        tail = (1.0 - pmf.sum(dim=1)).clamp_min(0)
    full = torch.cat([pmf, tail.double().clamp_min(0)[:, None]], dim=1)
    n = full.shape[1]
    total = 1 << precision
    if n >= total:
        raise ValueError(f"alphabet of {n} bins does not fit {precision}-bit precision")
    full = full / full.sum(dim=1, keepdim=True).clamp_min(1e-300)
    counts = torch.floor(full * (total - n)).long() + 1
    fix_counts_(counts, total)
    return counts


def fix_counts_(counts: torch.Tensor, total: int) -> torch.Tensor:
    """Make each row of int64 ``counts`` sum to ``total`` by adjusting its largest bin (in place)."""
    import torch

    deficit = total - counts.sum(dim=1)
    largest = torch.argmax(counts, dim=1)
    rows = torch.arange(counts.shape[0])
    counts[rows, largest] += deficit
    if bool((counts[rows, largest] < 1).any()):
        raise ValueError("cannot normalise counts: alphabet too large for the precision")
    return counts


@dataclass
class TableSet:
    """T integer distributions: ``counts[t, :lengths[t]+1]`` (last = escape), bin 0 is value ``offsets[t]``."""

    counts: np.ndarray  # (T, max_len + 1) int64, zero padded
    lengths: np.ndarray  # (T,) int64: number of regular bins
    offsets: np.ndarray  # (T,) int64: value of the first regular bin
    precision: int = PRECISION
    # optional: counts * 2**-precision as float64 (exact), when whoever built the tables had them at hand;
    # saves the constriction backend a conversion pass over large per-symbol tables
    probabilities: np.ndarray | None = None

    @classmethod
    def from_rows(cls, rows: list[torch.Tensor], offsets: list[int] | torch.Tensor,
                  precision: int = PRECISION) -> "TableSet":
        width = max(int(r.numel()) for r in rows)
        counts = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            counts[i, : r.numel()] = r.cpu().numpy()
        lengths = np.array([int(r.numel()) - 1 for r in rows], dtype=np.int64)
        return cls(counts, lengths, np.asarray(offsets, dtype=np.int64).reshape(-1), precision)

    def validate(self) -> None:
        """Check the invariants the coders rely on (used when loading weight files)."""
        if self.counts.ndim != 2 or self.lengths.shape[0] != self.counts.shape[0]:
            raise ValueError("malformed table set")
        if self.offsets.shape != self.lengths.shape:
            raise ValueError("malformed table offsets")
        width = self.counts.shape[1]
        for t in range(self.counts.shape[0]):
            n = int(self.lengths[t]) + 1
            if n < 2 or n > width:
                raise ValueError("table length out of range")
            row = self.counts[t, :n]
            if (row < 1).any() or int(row.sum()) != (1 << self.precision) or (self.counts[t, n:] != 0).any():
                raise ValueError("table counts are not a valid integer distribution")

    def to_state(self) -> dict[str, torch.Tensor]:
        import torch

        return {"counts": torch.from_numpy(self.counts.astype(np.int32)),
                "lengths": torch.from_numpy(self.lengths), "offsets": torch.from_numpy(self.offsets),
                "precision": torch.tensor(self.precision)}

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> "TableSet":
        ts = cls(np.asarray(state["counts"]).astype(np.int64), np.asarray(state["lengths"]).astype(np.int64),
                 np.asarray(state["offsets"]).astype(np.int64), int(state["precision"]))
        ts.validate()
        return ts
