"""Parallel context model: channel-wise slices with a checkerboard spatial context (ELIC style, He et al.
2022; checkerboard: He et al. 2021; channel conditioning: Minnen & Singh 2020), variable rate.

The latent y (M channels) is split into uneven channel slices. Slice i is coded in two passes: its
*anchor* half of a checkerboard, whose Gaussian means and scales come from the hyperprior and the
already-decoded slices (channel context), then the *non-anchor* half, which also sees the decoded
anchors of its own slice through a 5x5 spatial context. Decoding is therefore 2 x slices batched
passes, never a per-pixel loop.

Every net on the path to a distribution (hyper-synthesis, channel context, spatial context, parameter
aggregation) is a ``FixedPointNet`` so the codec can run it on integers (DESIGN.md, determinism
rule 1). The aggregation nets are pointwise (1x1), so the single-pass training computation gives
anchors exactly the parameters the decoder's first pass computes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ncodec.entropy.factorized import FactorizedDensity
from ncodec.entropy.fixedpoint import FixedPointNet
from ncodec.entropy.gaussian import GaussianConditional
from ncodec.models.image import DEFAULT_LAMBDAS, VariableRateImageModel, round_ste
from ncodec.models.layers import conv, deconv


def default_slices(M: int) -> tuple[int, ...]:
    """ELIC's uneven split (16, 16, 32, 64, rest of 320) scaled to M channels."""
    first = max(1, M // 20)
    sizes = [first, first, 2 * first, 4 * first]
    return tuple(sizes + [M - sum(sizes)])


def checkerboard(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """(1, 1, H, W) bool mask of the anchor positions ((row + col) even)."""
    r = torch.arange(height, device=device).view(-1, 1)
    c = torch.arange(width, device=device).view(1, -1)
    return ((r + c) % 2 == 0).view(1, 1, height, width)


class CheckerboardChannelContext(VariableRateImageModel):
    """Mean-scale hyperprior + channel-slice and checkerboard contexts, all fixed-point capable."""

    kind = "checkerboard-channel"
    downsample = 64

    def __init__(self, N: int = 64, M: int = 96, lambdas: tuple[float, ...] = DEFAULT_LAMBDAS,
                 slices: tuple[int, ...] | None = None, hidden: int = 128) -> None:
        super().__init__(N, M, lambdas)
        self.slices = tuple(int(s) for s in (slices or default_slices(M)))
        if sum(self.slices) != M or min(self.slices) < 1:
            raise ValueError(f"slices {self.slices} must be positive and sum to M={M}")
        self.hidden = hidden
        self.h_a = nn.Sequential(conv(M, N, 3, 1), nn.LeakyReLU(inplace=True), conv(N, N),
                                 nn.LeakyReLU(inplace=True), conv(N, N))
        # Same shape as the mean-scale hyperprior's h_s, so its trained weights initialise this model.
        self.h_s = FixedPointNet([deconv(N, M), nn.ReLU(), deconv(M, M * 3 // 2), nn.ReLU(),
                                  conv(M * 3 // 2, M * 2, 3, 1)])
        self.z_density = FactorizedDensity(N)
        self.gaussian = GaussianConditional()
        self.channel_ctx = nn.ModuleList()
        self.spatial_ctx = nn.ModuleList()
        self.aggregate = nn.ModuleList()
        done = 0
        for i, s in enumerate(self.slices):
            if i:
                self.channel_ctx.append(FixedPointNet(
                    [conv(done, hidden // 2, 3, 1), nn.ReLU(), conv(hidden // 2, 2 * s, 3, 1)], input_kind="activations"))
            self.spatial_ctx.append(FixedPointNet([conv(s, 2 * s, 5, 1)], input_kind="activations"))
            cin = 2 * M + (2 * s if i else 0) + 2 * s
            self.aggregate.append(FixedPointNet(
                [conv(cin, hidden, 1, 1), nn.ReLU(), conv(hidden, hidden, 1, 1), nn.ReLU(), conv(hidden, 2 * s, 1, 1)],
                input_kind="activations"))
            done += s

    def config(self) -> dict[str, Any]:
        return super().config() | {"slices": list(self.slices), "hidden": self.hidden}

    def entropy_nets(self) -> dict[str, FixedPointNet]:
        """Every fixed-point net by a stable name (the weight file stores their integer parameters)."""
        nets = {"h_s": self.h_s}
        for i in range(len(self.slices)):
            if i:
                nets[f"channel_ctx.{i - 1}"] = self.channel_ctx[i - 1]
            nets[f"spatial_ctx.{i}"] = self.spatial_ctx[i]
            nets[f"aggregate.{i}"] = self.aggregate[i]
        return nets

    def slice_params(self, i: int, hyper: torch.Tensor, decoded: list[torch.Tensor],
                     spatial: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(scales, means) of slice ``i`` from the hyper features, the decoded slices before it and the
        spatial-context features (None: zeros, i.e. the anchor pass)."""
        parts = [hyper]
        if i:
            parts.append(self.channel_ctx[i - 1](torch.cat(decoded, dim=1)))
        s = self.slices[i]
        parts.append(spatial if spatial is not None else hyper.new_zeros(hyper.shape[0], 2 * s, *hyper.shape[2:]))
        scales, means = self.aggregate[i](torch.cat(parts, dim=1)).chunk(2, dim=1)
        return scales, means

    def forward(self, x: torch.Tensor, levels: torch.Tensor) -> dict[str, Any]:
        g, ig = self.level_gains(levels)
        y = self.g_a(x) * g
        z = self.h_a(y)
        z_noisy = z + torch.empty_like(z).uniform_(-0.5, 0.5)
        hyper = self.h_s(round_ste(z))
        anchor = checkerboard(y.shape[2], y.shape[3], y.device)
        decoded, likelihoods = [], []
        for i, y_i in enumerate(y.split(self.slices, dim=1)):
            scales_a, means_a = self.slice_params(i, hyper, decoded, None)
            y_anchor = (round_ste(y_i - means_a) + means_a) * anchor
            spatial = self.spatial_ctx[i](y_anchor) * ~anchor
            scales_n, means_n = self.slice_params(i, hyper, decoded, spatial)
            scales = torch.where(anchor, scales_a, scales_n)
            means = torch.where(anchor, means_a, means_n)
            likelihoods.append(self.gaussian.likelihood(y_i + torch.empty_like(y_i).uniform_(-0.5, 0.5), scales, means))
            decoded.append(round_ste(y_i - means) + means)
        x_hat = self.g_s(torch.cat(decoded, dim=1) * ig)
        return {"x_hat": x_hat, "likelihoods": {"y": torch.cat(likelihoods, dim=1),
                                                "z": self.z_density.likelihood(z_noisy)}}
