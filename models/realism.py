"""Realism decoder: a generator conditioned on an MSE codec's decoded latents, with a realism knob.

The bitstream and its parse are exactly those of the MSE codec; only the synthesis changes. The
generator reads the synthesis input of the base model (the dequantised latent times the inverse gain)
and the MSE reconstruction, plus Gaussian noise, and outputs a residual::

    x_R = x_mse + R * G(latent, x_mse, R, noise)        R in [0, 1]

so R = 0 is the MSE decoder's output bit for bit (the codec does not even run G), and R is chosen by
whoever decodes, not the encoder. Training (``training/realism.py``) samples R per image and weights
the adversarial term by R ("multi-realism", Agustsson et al. 2023), so one set of weights covers the
whole range. The module is pure: noise comes in as a tensor (the codec draws it from a seed derived
from the bitstream), and it knows nothing about files or coders.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

KIND = "realism"


class FiLM(nn.Module):
    """Feature-wise affine modulation by an embedding of the realism R (identity at init)."""

    def __init__(self, embed: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(embed, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        scale, shift = self.proj(e).chunk(2, dim=1)
        return x * (1.0 + scale[:, :, None, None]) + shift[:, :, None, None]


class UpBlock(nn.Module):
    """x2 nearest up-sampling, two 3x3 convolutions with a residual path, FiLM by R."""

    def __init__(self, cin: int, cout: int, embed: int) -> None:
        super().__init__()
        self.skip = nn.Conv2d(cin, cout, 1)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.film = FiLM(embed, cout)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        h = self.conv2(F.leaky_relu(self.conv1(F.leaky_relu(x, 0.2)), 0.2))
        return self.film(self.skip(x) + h, e)


class RealismGenerator(nn.Module):
    """Residual generator on top of a stride-``2**len(widths)`` MSE codec (see the module docstring)."""

    kind = KIND

    def __init__(self, latent_channels: int, widths: tuple[int, ...] = (96, 64, 48, 32),
                 noise_channels: int = 8, embed: int = 32) -> None:
        super().__init__()
        self.latent_channels, self.widths = int(latent_channels), tuple(int(w) for w in widths)
        self.noise_channels, self.embed_dim = int(noise_channels), int(embed)
        self.embed = nn.Sequential(nn.Linear(1, embed), nn.SiLU(), nn.Linear(embed, embed))
        self.head = nn.Conv2d(self.latent_channels + self.noise_channels, self.widths[0], 3, padding=1)
        chans = (self.widths[0],) + self.widths
        self.ups = nn.ModuleList(UpBlock(a, b, embed) for a, b in zip(chans[:-1], chans[1:]))
        last = self.widths[-1]
        self.image_in = nn.Conv2d(3, last, 3, padding=1)
        self.fuse = nn.Conv2d(2 * last, last, 3, padding=1)
        self.out = nn.Conv2d(last, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # starts as the MSE decoder
        nn.init.zeros_(self.out.bias)

    @property
    def stride(self) -> int:
        return 2 ** len(self.widths)

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "latent_channels": self.latent_channels, "widths": list(self.widths),
                "noise_channels": self.noise_channels, "embed": self.embed_dim}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "RealismGenerator":
        if config.get("kind") != KIND:
            raise ValueError(f"not a realism generator config: {config.get('kind')!r}")
        return cls(int(config["latent_channels"]), tuple(int(w) for w in config["widths"]),
                   int(config["noise_channels"]), int(config["embed"]))

    def noise_shape(self, latent: torch.Tensor) -> tuple[int, int, int, int]:
        """Shape of the noise tensor the generator reads for a latent (B, C, h, w)."""
        b, _, h, w = latent.shape
        return (b, self.noise_channels, h, w)

    def residual(self, latent: torch.Tensor, x_mse: torch.Tensor, realism: torch.Tensor,
                 noise: torch.Tensor) -> torch.Tensor:
        """G(latent, x_mse, R, noise): (B, 3, H, W) for x_mse (B, 3, H, W), R (B,) and noise
        ``noise_shape(latent)``; H and W are the latent's size times ``stride``."""
        e = self.embed(realism.to(latent.dtype).view(-1, 1))
        h = self.head(torch.cat([latent, noise.to(latent.dtype)], dim=1))
        for up in self.ups:
            h = up(h, e)
        img = F.leaky_relu(self.image_in(x_mse), 0.2)
        return self.out(F.leaky_relu(self.fuse(torch.cat([h, img], dim=1)), 0.2))

    def forward(self, latent: torch.Tensor, x_mse: torch.Tensor, realism: torch.Tensor,
                noise: torch.Tensor) -> torch.Tensor:
        """x_R = x_mse + R * G(...), in the base synthesis' pixel scale ([0, 1], unclamped)."""
        r = realism.to(x_mse.dtype).view(-1, 1, 1, 1)
        return x_mse + r * self.residual(latent, x_mse, realism, noise)
