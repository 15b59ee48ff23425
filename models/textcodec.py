"""OCR-oriented text-page codec (``ocr-text``): a luma-only factorized-prior autoencoder trained on
generated text pages.

What a text recogniser needs from a page is the shape of its glyphs, not their colour or the paper's
grain, so the codec codes one channel: the analysis starts from the mean of R, G and B, and the
synthesis writes that one channel back to all three (a grey page). Mean rather than BT.601 luma keeps
training honest with the ordinary RGB mean-squared error: the error of a grey reconstruction ``g``
against an RGB target ``x`` is the error of ``g`` against ``mean(x)`` plus a constant, so the loss
trains exactly the luma fit. The transforms are the factorized-prior ones (four 5x5 stride-2 layers
with GDN each way) at a small width; the latent is coded by the ``factorized`` latent codec with the
variable-rate gains of every ncodec image model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ncodec.models.image import FactorizedPrior
from ncodec.models.layers import GDN, conv, deconv

# Rate levels (MSE lambdas on 0..1 pixels x 255**2) two notches below the photo codecs': a text page at the
# photo codecs' lowest level still costs 0.2 bpp, and OCR stays accurate well below that.
TEXT_LAMBDAS = (0.0004, 0.0009, 0.0018, 0.0035, 0.0067)


class ChannelMean(nn.Module):
    """(B, 3, H, W) RGB -> (B, 1, H, W) the mean of the three channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1, keepdim=True)


class GreyToRGB(nn.Module):
    """(B, 1, H, W) -> (B, 3, H, W) the channel written to R, G and B."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, 3, -1, -1)


class TextPageCodec(FactorizedPrior):
    """Luma-only factorized-prior codec for text pages (N transform channels, M latent channels)."""

    kind = "ocr-text"
    latent_codec = "factorized"

    def __init__(self, N: int = 32, M: int = 32, lambdas: tuple[float, ...] = TEXT_LAMBDAS) -> None:
        super().__init__(N, M, lambdas)
        self.g_a = nn.Sequential(ChannelMean(), conv(1, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N),
                                 conv(N, M))
        self.g_s = nn.Sequential(deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
                                 deconv(N, N), GDN(N, inverse=True), deconv(N, 1), GreyToRGB())

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TextPageCodec":
        model = cls(N=int(config["N"]), M=int(config["M"]), lambdas=tuple(float(v) for v in config["lambdas"]))
        if config.get("density_filters"):
            model.set_density_filters(tuple(config["density_filters"]))
        return model
