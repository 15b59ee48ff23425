"""Gaussian conditional model (mean and scale), as in Ballé 2018 / Minnen 2018.

Training uses the continuous likelihood of a unit bin. Coding uses a fixed set of integer tables, one
per scale of a log-spaced scale table; the table for a symbol is chosen from a *fixed-point* scale by
integer comparison against integer thresholds, so encoder and decoder always pick the same table.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ncodec.entropy.tables import PRECISION, TableSet, quantize_pmf

SCALE_MIN = 0.11
SCALE_MAX = 256.0
NUM_SCALES = 64
TAIL_MASS = 1e-9
PARAM_FRAC_BITS = 8  # fixed-point means and scales are integers in units of 2**-8


def default_scale_table() -> torch.Tensor:
    return torch.exp(torch.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), NUM_SCALES, dtype=torch.float64))


def _std_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x / math.sqrt(2.0))


class GaussianConditional(nn.Module):
    """Discretised Gaussian with per-element mean and scale; integer tables indexed by scale."""

    def __init__(self, scale_bound: float = SCALE_MIN) -> None:
        super().__init__()
        self.scale_bound = scale_bound

    def likelihood(self, y: torch.Tensor, scales: torch.Tensor, means: torch.Tensor | None = None) -> torch.Tensor:
        v = y - means if means is not None else y
        s = _LowerBound.apply(scales, self.scale_bound)
        v = torch.abs(v)
        upper = _std_cdf((0.5 - v) / s)
        lower = _std_cdf((-0.5 - v) / s)
        return (upper - lower).clamp_min(1e-9)

    @staticmethod
    @torch.no_grad()
    def build_tables(precision: int = PRECISION) -> tuple[TableSet, torch.Tensor]:
        """Integer tables for each scale of the scale table, and the int64 index thresholds.

        ``thresholds[i]`` is the smallest fixed-point scale (units 2**-8) that selects table i+1.
        """
        scales = default_scale_table()
        rows, offsets = [], []
        for s in scales.tolist():
            half = max(1, math.ceil(s * math.sqrt(2.0) * _erfcinv(TAIL_MASS)))
            values = torch.arange(-half, half + 1, dtype=torch.float64)
            pmf = _std_cdf((values + 0.5) / s) - _std_cdf((values - 0.5) / s)
            tail = 2.0 * _std_cdf(torch.tensor([(-half - 0.5) / s], dtype=torch.float64))
            rows.append(quantize_pmf(pmf[None], tail, precision)[0])
            offsets.append(-half)
        midpoints = torch.sqrt(scales[:-1] * scales[1:])
        thresholds = torch.ceil(midpoints * (1 << PARAM_FRAC_BITS)).long()
        return TableSet.from_rows(rows, offsets, precision), thresholds


def scale_indexes(scales_fixed: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Table index of each fixed-point scale (int64, units 2**-8): pure integer comparison."""
    return torch.bucketize(scales_fixed.long().contiguous(), thresholds.long(), right=True)


def _erfcinv(p: float) -> float:
    """Inverse of erfc for small p by bisection (export-time only)."""
    lo, hi = 0.0, 10.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if math.erfc(mid) > p:
            lo = mid
        else:
            hi = mid
    return hi


class _LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient still pushes values below the bound upwards."""

    @staticmethod
    def forward(ctx, x, bound):  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp_min(bound)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        pass_through = (x >= ctx.bound) | (grad < 0)
        return grad * pass_through.to(grad.dtype), None
