"""WaLLoC-style image codec (Jacobellis & Yoon, "Learned Compression for Compressed Learning"): a fixed,
invertible wavelet packet transform sandwiches a shallow learned autoencoder.

The wavelet packet transform (CDF 9/7 by lifting, whole-sample symmetric boundaries, J levels applied
to every band) turns a 3 x H x W image into 3*4^J bands at H/2^J x W/2^J without losing anything;
the learned encoder is then only a 1x1 convolution, a GDN and one 3x3 convolution down to M latent
channels, so encoding costs about a thousand multiply-adds per pixel. The latent is coded by the
factorized entropy bottleneck (``entropy/factorized.py``; the ``factorized`` latent codec), with the
variable-rate gain vectors of every ncodec image model. The decoder is heavier (asymmetric, as in the
paper): a 3x3 convolution, inverse GDN, two residual blocks and a 1x1 convolution back to the bands,
then the inverse wavelet packet transform.

Because the latent keeps a small spatial grid of M channels, a model can learn from it directly
(compressed-domain learning) without running the decoder.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ncodec.models.image import DEFAULT_LAMBDAS, FactorizedPrior
from ncodec.models.layers import GDN, ResidualBlock

# CDF 9/7 lifting steps (Daubechies & Sweldens 1998; the JPEG 2000 irreversible filter).
_ALPHA, _BETA, _GAMMA, _DELTA = -1.586134342059924, -0.052980118572961, 0.882911075530934, 0.443506852043971
_K = 1.230174104914001
_LOW_SCALE, _HIGH_SCALE = math.sqrt(2.0) / _K, _K / math.sqrt(2.0)  # near-orthonormal bands


def _next(t: torch.Tensor) -> torch.Tensor:
    """t[n + 1] along the last axis, mirrored at the end (whole-sample symmetric extension)."""
    return torch.cat([t[..., 1:], t[..., -1:]], dim=-1)


def _prev(t: torch.Tensor) -> torch.Tensor:
    """t[n - 1] along the last axis, mirrored at the start."""
    return torch.cat([t[..., :1], t[..., :-1]], dim=-1)


def _analysis_1d(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One CDF 9/7 level along the last axis (even length): (low, high) halves."""
    s, d = x[..., 0::2], x[..., 1::2]
    d = d + _ALPHA * (s + _next(s))
    s = s + _BETA * (_prev(d) + d)
    d = d + _GAMMA * (s + _next(s))
    s = s + _DELTA * (_prev(d) + d)
    return s * _LOW_SCALE, d * _HIGH_SCALE


def _synthesis_1d(s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """The exact inverse of ``_analysis_1d``: the lifting steps undone in reverse order."""
    s, d = s / _LOW_SCALE, d / _HIGH_SCALE
    s = s - _DELTA * (_prev(d) + d)
    d = d - _GAMMA * (s + _next(s))
    s = s - _BETA * (_prev(d) + d)
    d = d - _ALPHA * (s + _next(s))
    return torch.stack([s, d], dim=-1).flatten(-2)


def wavelet_packet_analysis(x: torch.Tensor, levels: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C * 4**levels, H / 2**levels, W / 2**levels): every band split again at each
    level. Channel order: for each input channel, its bands (LL, LH, HL, HH at every level)."""
    for _ in range(levels):
        b, c, h, w = x.shape
        if h % 2 or w % 2:
            raise ValueError(f"wavelet packet analysis needs even sizes, got {h}x{w}")
        lo, hi = _analysis_1d(x)  # along W
        bands = []
        for half in (lo, hi):
            low, high = _analysis_1d(half.transpose(-1, -2))  # along H
            bands += [low.transpose(-1, -2), high.transpose(-1, -2)]
        x = torch.stack(bands, dim=2).reshape(b, c * 4, h // 2, w // 2)
    return x


def wavelet_packet_synthesis(x: torch.Tensor, levels: int) -> torch.Tensor:
    """The inverse of ``wavelet_packet_analysis``."""
    for _ in range(levels):
        b, c4, h, w = x.shape
        ll, lh, hl, hh = x.reshape(b, c4 // 4, 4, h, w).unbind(2)
        lo = _synthesis_1d(ll.transpose(-1, -2), lh.transpose(-1, -2)).transpose(-1, -2)
        hi = _synthesis_1d(hl.transpose(-1, -2), hh.transpose(-1, -2)).transpose(-1, -2)
        x = _synthesis_1d(lo, hi)
    return x


class WaveletPacket(nn.Module):
    """The fixed transform as a module (no parameters): analysis, or synthesis with ``inverse=True``.
    Pixels in [0, 1] are centred on 0 before the analysis and after the synthesis."""

    def __init__(self, levels: int, inverse: bool = False) -> None:
        super().__init__()
        self.levels, self.inverse = levels, inverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inverse:
            return wavelet_packet_synthesis(x, self.levels) + 0.5
        return wavelet_packet_analysis(x - 0.5, self.levels)


class WaveletAutoencoder(FactorizedPrior):
    """WaLLoC-style codec: wavelet packet transform (J levels) + shallow autoencoder (N hidden, M latent
    channels) + factorized entropy bottleneck, variable rate through the gain vectors."""

    kind = "walloc"
    latent_codec = "factorized"
    supports_quality_map = True

    def __init__(self, N: int = 128, M: int = 32, lambdas: tuple[float, ...] = DEFAULT_LAMBDAS,
                 wavelet_levels: int = 3) -> None:
        super().__init__(N, M, lambdas)
        if not 1 <= wavelet_levels <= 4:
            raise ValueError(f"wavelet levels must be 1-4, got {wavelet_levels}")
        self.wavelet_levels = wavelet_levels
        self.downsample = 2 ** wavelet_levels
        bands = 3 * 4 ** wavelet_levels
        self.g_a = nn.Sequential(WaveletPacket(wavelet_levels), nn.Conv2d(bands, N, 1), GDN(N),
                                 nn.Conv2d(N, M, 3, padding=1))
        self.g_s = nn.Sequential(nn.Conv2d(M, N, 3, padding=1), GDN(N, inverse=True), ResidualBlock(N, N),
                                 ResidualBlock(N, N), nn.Conv2d(N, bands, 1), WaveletPacket(wavelet_levels, inverse=True))

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["wavelet_levels"] = self.wavelet_levels
        return cfg

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "WaveletAutoencoder":
        model = cls(N=int(config["N"]), M=int(config["M"]), lambdas=tuple(float(v) for v in config["lambdas"]),
                    wavelet_levels=int(config.get("wavelet_levels", 3)))
        if config.get("density_filters"):
            model.set_density_filters(tuple(config["density_filters"]))
        return model

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int, int]:
        return (1, self.M, height // self.downsample, width // self.downsample)

    def macs_per_pixel(self) -> dict[str, float]:
        """Multiply-adds per image pixel of the learned encoder and decoder, and of the wavelet packet
        transform each way (``wavelet``)."""
        area = float(self.downsample ** 2)

        def convs(seq: nn.Module) -> float:
            total = 0.0
            for m in seq.modules():
                if isinstance(m, nn.Conv2d):
                    total += m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1] / m.groups
                elif isinstance(m, GDN):
                    total += m.beta.numel() ** 2
            return total / area

        # a packet level keeps 3 samples per pixel and filters each along rows and columns: 4 lifting steps
        # that each multiply half the samples, plus the band scaling, i.e. 3 multiplies per sample and axis
        wavelet = 3 * self.wavelet_levels * 2 * 3
        return {"encoder": convs(self.g_a), "decoder": convs(self.g_s), "wavelet": wavelet}
