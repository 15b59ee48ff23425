"""Gaussian mixture (K components) with a training likelihood and integer-only per-symbol CDFs.

Coding never evaluates erfc: each symbol's CDF is built from integer parameters (means and scales in
units of 2**-8, weights summing to 2**16) by integer arithmetic and a lookup in an integer table of the
standard normal CDF (``phi_table``), which is built once and shipped with the weights. Encoder and
decoder therefore produce identical tables on any machine.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ncodec.entropy.gaussian import PARAM_FRAC_BITS, SCALE_MIN
from ncodec.entropy.tables import PRECISION, TableSet, fix_counts_

PHI_FRAC = 10  # standardised abscissa step 2**-10
PHI_RANGE = 8  # table covers [-8, 8] standard deviations
PHI_BITS = 24  # table values in units 2**-24
WEIGHT_BITS = 16  # mixture weights sum to 2**16
MAX_ALPHABET = 4095


def phi_table() -> torch.Tensor:
    """int64 table of the standard normal CDF at t = i / 2**PHI_FRAC - PHI_RANGE (export time only)."""
    n = 2 * PHI_RANGE * (1 << PHI_FRAC) + 1
    t = torch.arange(n, dtype=torch.float64) / (1 << PHI_FRAC) - PHI_RANGE
    vals = torch.round(0.5 * torch.erfc(-t / math.sqrt(2.0)) * (1 << PHI_BITS)).long()
    return torch.cummax(vals, 0).values  # monotone by construction


def quantize_params(means: torch.Tensor, scales: torch.Tensor, logits: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float mixture parameters -> integer (means, scales in 2**-8 units; weights summing to 2**16).

    Used where the parameters come from a float network on the *encoder only* (or in tests); a decoder
    that must reproduce them obtains them from a fixed-point network instead.
    """
    f = float(1 << PARAM_FRAC_BITS)
    m = torch.round(means.double() * f).long()
    s = torch.round(scales.double().clamp_min(SCALE_MIN) * f).long().clamp_min(1)
    w = torch.floor(torch.softmax(logits.double(), dim=-1) * ((1 << WEIGHT_BITS) - logits.shape[-1])).long() + 1
    w[..., 0] += (1 << WEIGHT_BITS) - w.sum(-1)
    return m, s, w


class GaussianMixture(nn.Module):
    """Discretised K-component Gaussian mixture per element."""

    def __init__(self, components: int = 3) -> None:
        super().__init__()
        self.components = components

    def likelihood(self, y: torch.Tensor, means: torch.Tensor, scales: torch.Tensor,
                   logits: torch.Tensor) -> torch.Tensor:
        """y (...), parameters (..., K) -> probability mass of the unit bin around y."""
        s = scales.clamp_min(SCALE_MIN)
        w = torch.softmax(logits, dim=-1)
        v = y.unsqueeze(-1) - means
        upper = 0.5 * torch.erfc(-(v + 0.5) / (s * math.sqrt(2.0)))
        lower = 0.5 * torch.erfc(-(v - 0.5) / (s * math.sqrt(2.0)))
        return ((upper - lower) * w).sum(-1).clamp_min(1e-9)

    @staticmethod
    def coding_tables(means: torch.Tensor, scales: torch.Tensor, weights: torch.Tensor, phi: torch.Tensor,
                      alphabet: int | None = None, precision: int = PRECISION) -> TableSet:
        """One integer table per symbol from integer parameters (n, K); integer arithmetic only."""
        means, scales, weights, phi = means.long(), scales.long().clamp_min(1), weights.long(), phi.long()
        n, k = means.shape
        if alphabet is None:
            alphabet = int(min(MAX_ALPHABET, 2 * ((int(scales.max()) * 8) >> PARAM_FRAC_BITS) + 3)) if n else 3
        alphabet = max(3, min(int(alphabet), MAX_ALPHABET))
        one = 1 << PARAM_FRAC_BITS
        center = torch.div((weights * means).sum(-1), (1 << WEIGHT_BITS) * one, rounding_mode="floor")
        lo = center - alphabet // 2
        edges = (lo[:, None] + torch.arange(alphabet + 1)[None, :]) * one - one // 2  # (n, L+1), 2**-8 units
        t = torch.div((edges[:, :, None] - means[:, None, :]) << PHI_FRAC, scales[:, None, :], rounding_mode="floor")
        idx = (t + PHI_RANGE * (1 << PHI_FRAC)).clamp(0, phi.numel() - 1)
        cdf = torch.div((phi[idx] * weights[:, None, :]).sum(-1), 1 << WEIGHT_BITS, rounding_mode="floor")
        mass = cdf[:, 1:] - cdf[:, :-1]
        tail = (1 << PHI_BITS) - (cdf[:, -1] - cdf[:, 0])
        full = torch.cat([mass, tail[:, None]], dim=1)
        total = 1 << precision
        counts = torch.div(full * (total - (alphabet + 1)), 1 << PHI_BITS, rounding_mode="floor") + 1
        fix_counts_(counts, total)
        import numpy as np

        return TableSet(counts.numpy().astype(np.int64), np.full(n, alphabet, dtype=np.int64),
                        lo.numpy().astype(np.int64), precision)
