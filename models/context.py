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
from ncodec.entropy.mixture import GaussianMixture
from ncodec.models.image import DEFAULT_LAMBDAS, RoundingMode, VariableRateImageModel
from ncodec.models.layers import (AttentionBlock, ResidualBlock, ResidualBlockUpsample, ResidualBlockWithStride,
                                  ResidualBottleneckBlock, conv, deconv, subpel_conv3x3)

# Layouts of the context model: ncodec's own, and the parallel context models CompressAI defines (their
# layers, so ``ncodec import-compressai`` maps their weights one to one).
ARCHS = ("ncodec", "elic2022-official", "elic2022-chandelier", "cheng2020-anchor-checkerboard")


def default_slices(M: int) -> tuple[int, ...]:
    """ELIC's uneven split (16, 16, 32, 64, rest of 320) scaled to M channels."""
    first = max(1, M // 20)
    sizes = [first, first, 2 * first, 4 * first]
    return tuple(sizes + [M - sum(sizes)])


def compressai_transforms(arch: str, N: int, M: int) -> tuple[nn.Sequential, nn.Sequential]:
    """(g_a, g_s) of CompressAI's ELIC (residual bottleneck + attention) or Cheng 2020 anchor models."""
    if arch.startswith("elic2022"):
        def rbs() -> list[nn.Module]:
            return [ResidualBottleneckBlock(N, N) for _ in range(3)]
        g_a = nn.Sequential(conv(3, N), *rbs(), conv(N, N), *rbs(), AttentionBlock(N), conv(N, N), *rbs(),
                            conv(N, M), AttentionBlock(M))
        g_s = nn.Sequential(AttentionBlock(M), deconv(M, N), *rbs(), deconv(N, N), AttentionBlock(N), *rbs(),
                            deconv(N, N), *rbs(), deconv(N, 3))
        return g_a, g_s
    g_a = nn.Sequential(ResidualBlockWithStride(3, N), ResidualBlock(N, N), ResidualBlockWithStride(N, N),
                        ResidualBlock(N, N), ResidualBlockWithStride(N, N), ResidualBlock(N, N), conv(N, N, 3, 2))
    g_s = nn.Sequential(ResidualBlock(N, N), ResidualBlockUpsample(N, N), ResidualBlock(N, N),
                        ResidualBlockUpsample(N, N), ResidualBlock(N, N), ResidualBlockUpsample(N, N),
                        ResidualBlock(N, N), subpel_conv3x3(N, 3, 2))
    return g_a, g_s


def checkerboard(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """(1, 1, H, W) bool mask of the anchor positions ((row + col) even)."""
    r = torch.arange(height, device=device).view(-1, 1)
    c = torch.arange(width, device=device).view(1, -1)
    return ((r + c) % 2 == 0).view(1, 1, height, width)


class CheckerboardChannelContext(VariableRateImageModel):
    """Mean-scale hyperprior + channel-slice and checkerboard contexts, all fixed-point capable."""

    kind = "checkerboard-channel"
    downsample = 64
    latent_codec = "checkerboard-channel"

    def __init__(self, N: int = 64, M: int = 96, lambdas: tuple[float, ...] = DEFAULT_LAMBDAS,
                 slices: tuple[int, ...] | None = None, hidden: int = 128, arch: str = "ncodec") -> None:
        super().__init__(N, M, lambdas)
        if arch not in ARCHS:
            raise ValueError(f"unknown context-model layout {arch!r}; known: {', '.join(ARCHS)}")
        self.arch = arch
        self.slices = tuple(int(s) for s in (slices or default_slices(M)))
        if sum(self.slices) != M or min(self.slices) < 1:
            raise ValueError(f"slices {self.slices} must be positive and sum to M={M}")
        if arch == "cheng2020-anchor-checkerboard" and (len(self.slices) != 1 or M != N):
            raise ValueError("cheng2020-anchor-checkerboard has one slice and M = N")
        self.hidden = hidden
        act: type[nn.Module] = nn.LeakyReLU if arch == "cheng2020-anchor-checkerboard" else nn.ReLU
        if arch != "ncodec":
            self.g_a, self.g_s = compressai_transforms(arch, N, M)
        if arch == "ncodec":
            self.h_a = nn.Sequential(conv(M, N, 3, 1), nn.LeakyReLU(inplace=True), conv(N, N),
                                     nn.LeakyReLU(inplace=True), conv(N, N))
            # Same shape as the mean-scale hyperprior's h_s, so its trained weights initialise this model.
            hyper_layers: list[nn.Module] = [deconv(N, M), nn.ReLU(), deconv(M, M * 3 // 2), nn.ReLU(),
                                             conv(M * 3 // 2, M * 2, 3, 1)]
        elif arch.startswith("elic2022"):
            self.h_a = nn.Sequential(conv(M, N, 3, 1), nn.ReLU(), conv(N, N), nn.ReLU(), conv(N, N))
            last = (deconv(N * 3 // 2, N * 2, 3, 1) if arch == "elic2022-official"
                    else conv(N * 3 // 2, M * 2, 3, 1))
            hyper_layers = [deconv(N, N), nn.ReLU(), deconv(N, N * 3 // 2), nn.ReLU(), last]
        else:  # Cheng 2020 anchor: 3x3 convolutions, sub-pixel up-sampling, LeakyReLU
            self.h_a = nn.Sequential(conv(N, N, 3, 1), nn.LeakyReLU(), conv(N, N, 3, 1), nn.LeakyReLU(),
                                     conv(N, N, 3, 2), nn.LeakyReLU(), conv(N, N, 3, 1), nn.LeakyReLU(),
                                     conv(N, N, 3, 2))
            wide = N * 3 // 2
            hyper_layers = [conv(N, N, 3, 1), nn.LeakyReLU(), conv(N, 4 * N, 3, 1), nn.PixelShuffle(2),
                            nn.LeakyReLU(), conv(N, wide, 3, 1), nn.LeakyReLU(), conv(wide, 4 * wide, 3, 1),
                            nn.PixelShuffle(2), nn.LeakyReLU(), conv(wide, 2 * N, 3, 1)]
        self.h_s = FixedPointNet(hyper_layers)
        hyper_channels = self.h_s.net[-1].out_channels
        self.z_density = FactorizedDensity(N)
        self.gaussian = GaussianConditional()
        self.channel_ctx = nn.ModuleList()
        self.spatial_ctx = nn.ModuleList()
        self.aggregate = nn.ModuleList()
        for i, s in enumerate(self.slices):
            if i:
                cin = self.channel_context_channels(i)
                widths = [hidden // 2] if arch == "ncodec" else [224, 128]
                k = 3 if arch == "ncodec" else 5
                layers: list[nn.Module] = []
                for w in widths:
                    layers += [conv(cin, w, k, 1), nn.ReLU()]
                    cin = w
                self.channel_ctx.append(FixedPointNet(layers + [conv(cin, 2 * s, k, 1)], input_kind="activations"))
            self.spatial_ctx.append(FixedPointNet([conv(s, 2 * s, 5, 1)], input_kind="activations"))
            cin = hyper_channels + (2 * s if i else 0) + 2 * s
            layers = []
            for w in self._aggregate_widths(cin, s):
                layers += [conv(cin, w, 1, 1), act()]
                cin = w
            self.aggregate.append(FixedPointNet(layers + [conv(cin, 2 * s, 1, 1)], input_kind="activations"))

    def _aggregate_widths(self, cin: int, s: int) -> list[int]:
        """Hidden widths of slice parameter aggregation (the layouts CompressAI defines, or ncodec's)."""
        if self.arch == "ncodec":
            return [self.hidden, self.hidden]
        if self.arch == "elic2022-official":  # linear ramp from cin to 2s, floored, at least 2N
            ramp = torch.linspace(cin, 2 * s, 4).floor().int().tolist()
            return [max(w, 2 * self.N) for w in ramp[1:-1]]
        if self.arch == "elic2022-chandelier":
            return [2 * self.M, 512]
        return [self.N * 10 // 3, self.N * 8 // 3]

    def channel_context_channels(self, i: int) -> int:
        """Input channels of slice ``i``'s channel context (i >= 1)."""
        if self.arch == "elic2022-chandelier":  # the first and the most recent slice only
            return self.slices[0] + (self.slices[i - 1] if i > 1 else 0)
        return sum(self.slices[:i])

    def channel_context_input(self, i: int, decoded: list[torch.Tensor]) -> torch.Tensor:
        """What slice ``i``'s channel context sees of the decoded slices before it."""
        if self.arch == "elic2022-chandelier" and i > 1:
            return torch.cat([decoded[0], decoded[i - 1]], dim=1)
        return torch.cat(decoded[:i], dim=1)

    def config(self) -> dict[str, Any]:
        cfg = super().config() | {"slices": list(self.slices), "hidden": self.hidden}
        if self.arch != "ncodec":
            cfg["arch"] = self.arch
        return cfg

    def entropy_nets(self) -> dict[str, FixedPointNet]:
        """Every fixed-point net by a stable name (the weight file stores their integer parameters)."""
        nets = {"h_s": self.h_s}
        for i in range(len(self.slices)):
            if i:
                nets[f"channel_ctx.{i - 1}"] = self.channel_ctx[i - 1]
            nets[f"spatial_ctx.{i}"] = self.spatial_ctx[i]
            nets[f"aggregate.{i}"] = self.aggregate[i]
        return nets

    def slice_inputs(self, i: int, hyper: torch.Tensor, decoded: list[torch.Tensor],
                     spatial: torch.Tensor | None) -> torch.Tensor:
        """What slice ``i``'s parameter nets read: the hyper features, the channel context of the decoded
        slices before it and the spatial-context features (None: zeros, i.e. the anchor pass)."""
        parts = [hyper]
        if i:
            parts.append(self.channel_ctx[i - 1](self.channel_context_input(i, decoded)))
        s = self.slices[i]
        parts.append(spatial if spatial is not None else hyper.new_zeros(hyper.shape[0], 2 * s, *hyper.shape[2:]))
        return torch.cat(parts, dim=1)

    def slice_params(self, i: int, hyper: torch.Tensor, decoded: list[torch.Tensor],
                     spatial: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(scales, means) of slice ``i`` (see ``slice_inputs``)."""
        scales, means = self.aggregate[i](self.slice_inputs(i, hyper, decoded, spatial)).chunk(2, dim=1)
        return scales, means

    def slice_likelihood(self, i: int, v: torch.Tensor, scales: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Likelihood of the noisy centred values ``v`` = y - mean of slice ``i`` (Gaussian here)."""
        return self.gaussian.likelihood(v, scales)

    def latent_forward(self, y: torch.Tensor, mode: RoundingMode = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mode = self.rounding(mode)
        z = self.h_a(y)
        z_hat = self.quantize_z(z)
        z_read = self.perturb(z, mode=mode) if mode == "noise" else z_hat
        hyper = self.h_s(z_hat)
        anchor = checkerboard(y.shape[2], y.shape[3], y.device)
        decoded, likelihoods = [], []
        for i, y_i in enumerate(y.split(self.slices, dim=1)):
            inputs_a = self.slice_inputs(i, hyper, decoded, None)
            scales_a, means_a = self.aggregate[i](inputs_a).chunk(2, dim=1)
            q_anchor = self.quantize(y_i, means_a, mode)
            y_anchor = q_anchor * anchor
            spatial = self.spatial_ctx[i](y_anchor) * ~anchor
            inputs_n = self.slice_inputs(i, hyper, decoded, spatial)
            scales_n, means_n = self.aggregate[i](inputs_n).chunk(2, dim=1)
            scales = torch.where(anchor, scales_a, scales_n)
            means = torch.where(anchor, means_a, means_n)
            inputs = torch.where(anchor, inputs_a, inputs_n)
            if callable(mode):  # one soft sample per value, for the context, the rate and ŷ alike
                y_q = torch.where(anchor, q_anchor, self.quantize(y_i, means_n, mode))
                v = y_q - means
            else:
                y_q = self.quantize(y_i, means, mode)
                v = self.perturb(y_i, means, mode) - means  # noise: y + u - mean, as training always read it
            likelihoods.append(self.slice_likelihood(i, v, scales, inputs))
            decoded.append(y_q)
        return torch.cat(decoded, dim=1), {"y": torch.cat(likelihoods, dim=1), "z": self.z_density.likelihood(z_read)}


class CheckerboardChannelGMM(CheckerboardChannelContext):
    """The context model with a K-component Gaussian mixture per symbol (Cheng 2020 / ELIC-GMM style).

    Each slice gets a pointwise fixed-point ``mixture`` net beside its aggregation net, reading the same
    inputs. Per channel and component it gives a mean offset, a scale offset and a weight logit, so
    component k has mean ``mean + d_k`` and scale ``scale + e_k``. All of them are on the 2**-8 grid of
    the fixed-point path, so coding builds every CDF from integers (``entropy/mixture.py``). The
    quantisation centre stays the aggregation net's mean. The mixture net's last layer starts near zero,
    so a model initialised from a trained Gaussian context model (``--init-partial``) starts as that
    model, with the components slightly apart to break their symmetry.
    """

    kind = "checkerboard-channel-gmm"
    latent_codec = "checkerboard-channel-gmm"

    def __init__(self, N: int = 64, M: int = 96, lambdas: tuple[float, ...] = DEFAULT_LAMBDAS,
                 slices: tuple[int, ...] | None = None, hidden: int = 128, arch: str = "ncodec",
                 components: int = 3) -> None:
        super().__init__(N, M, lambdas, slices, hidden, arch)
        if not 2 <= components <= 8:
            raise ValueError("a mixture has 2 to 8 components")
        self.components = components
        self.mixture = nn.ModuleList()
        for i, s in enumerate(self.slices):
            cin = self.aggregate[i].net[0].in_channels
            last = conv(hidden, 3 * components * s, 1, 1)
            with torch.no_grad():
                last.weight.normal_(0.0, 1e-3)
                last.bias.zero_()
            self.mixture.append(FixedPointNet([conv(cin, hidden, 1, 1), nn.ReLU(), last], input_kind="activations"))

    def config(self) -> dict[str, Any]:
        return super().config() | {"components": self.components}

    def entropy_nets(self) -> dict[str, FixedPointNet]:
        nets = super().entropy_nets()
        for i in range(len(self.slices)):
            nets[f"mixture.{i}"] = self.mixture[i]
        return nets

    def split_mixture(self, out: torch.Tensor, scales: torch.Tensor, s: int
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mixture-net output (B, 3*K*s, ...) + the slice's scales -> component (means, scales, logits),
        each (B, s, ..., K); means are relative to the quantisation centre. Works on floats and integers."""
        k = self.components
        d, e, logits = out.unflatten(1, (3, k, s)).movedim(2, -1).unbind(1)
        return d, scales.unsqueeze(-1) + e, logits

    def slice_likelihood(self, i: int, v: torch.Tensor, scales: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        means_k, scales_k, logits = self.split_mixture(self.mixture[i](inputs), scales, self.slices[i])
        return self.mixture_model.likelihood(v, means_k, scales_k, logits)

    @property
    def mixture_model(self) -> GaussianMixture:
        return GaussianMixture(self.components)
