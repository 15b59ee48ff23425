"""Non-parametric factorized density per channel (Ballé et al. 2018, appendix 6.1).

Training: ``likelihood(y)`` of noisy/rounded values and ``aux_loss()`` that learns each channel's tail
quantiles. Coding: ``build_tables()`` evaluates the learned CDF once, at export, and returns integer
tables (one per channel) that ship inside the weight file.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ncodec.entropy.tables import PRECISION, TableSet, quantize_pmf

MAX_HALF_RANGE = 2048  # a channel's table never spans more than 2*MAX_HALF_RANGE+1 values


class FactorizedDensity(nn.Module):
    """Per-channel learned univariate density over the reals, coded on the integers."""

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0,
                 tail_mass: float = 1e-9) -> None:
        super().__init__()
        self.channels = channels
        self.tail_mass = tail_mass
        dims = (1,) + tuple(filters) + (1,)
        scale = init_scale ** (1.0 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1.0 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        target = math.log(2.0 / tail_mass - 1.0)
        self.quantiles = nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))
        self.register_buffer("quantile_targets", torch.tensor([-target, 0.0, target]), persistent=False)

    def _logits_cdf(self, x: torch.Tensor, detach_params: bool = False) -> torch.Tensor:
        """x: (C, 1, n) -> logits of the cumulative distribution, same shape."""
        def p(t: torch.Tensor) -> torch.Tensor:
            return t.detach() if detach_params else t

        h = x
        for i, matrix in enumerate(self.matrices):
            h = torch.matmul(F.softplus(p(matrix)), h) + p(self.biases[i])
            if i < len(self.factors):
                h = h + torch.tanh(p(self.factors[i])) * torch.tanh(h)
        return h

    def likelihood(self, y: torch.Tensor) -> torch.Tensor:
        """Probability mass of the unit bin around each value of y (B, C, H, W)."""
        b, c, hgt, wid = y.shape
        v = y.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lower = self._logits_cdf(v - 0.5)
        upper = self._logits_cdf(v + 0.5)
        sign = -torch.sign(lower + upper).detach()
        p = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        p = p.clamp_min(1e-9)
        return p.reshape(c, b, hgt, wid).permute(1, 0, 2, 3)

    def aux_loss(self) -> torch.Tensor:
        """Pull ``quantiles`` to the tail_mass/2, median and 1-tail_mass/2 points of each channel."""
        logits = self._logits_cdf(self.quantiles, detach_params=True)
        return torch.abs(logits - self.quantile_targets.view(1, 1, 3)).sum()

    @torch.no_grad()
    def build_tables(self, precision: int = PRECISION, offsets: torch.Tensor | None = None) -> TableSet:
        """Integer coding tables, one per channel, over [floor(q_low), ceil(q_high)].

        ``offsets`` (per channel, float) shifts the coding grid: symbol k stands for the value k + offset
        (CompressAI quantises hyper-latents around each channel's median this way)."""
        q = self.quantiles.detach().double()
        shift = torch.zeros(self.channels, dtype=torch.float64) if offsets is None else offsets.double().view(-1)
        lo = torch.floor(q[:, 0, 0] - shift).clamp(-MAX_HALF_RANGE, 0).long()
        hi = torch.ceil(q[:, 0, 2] - shift).clamp(0, MAX_HALF_RANGE).long()
        rows, table_offsets = [], []
        for c in range(self.channels):
            values = torch.arange(int(lo[c]), int(hi[c]) + 1, dtype=torch.float32) + float(shift[c])
            sub = self._channel_view(c)
            lower = sub(values - 0.5).double()
            upper = sub(values + 0.5).double()
            sign = -torch.sign(lower + upper)
            pmf = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
            tail = torch.sigmoid(sub(values[:1] - 0.5).double()) + torch.sigmoid(-sub(values[-1:] + 0.5).double())
            rows.append(quantize_pmf(pmf[None], tail, precision)[0])
            table_offsets.append(int(lo[c]))
        return TableSet.from_rows(rows, table_offsets, precision)

    def _channel_view(self, c: int):
        def logits(v: torch.Tensor) -> torch.Tensor:
            x = v.view(1, 1, -1)
            h = x
            for i, matrix in enumerate(self.matrices):
                h = torch.matmul(F.softplus(matrix[c:c + 1]), h) + self.biases[i][c:c + 1]
                if i < len(self.factors):
                    h = h + torch.tanh(self.factors[i][c:c + 1]) * torch.tanh(h)
            return h.view(-1)
        return logits
