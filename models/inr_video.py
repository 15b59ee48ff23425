"""Patch-wise implicit neural representation of a group of video frames (NIRVANA family).

One small network per group of frames maps (frame index t, patch row, patch column) to the RGB values of a
P×P patch. Its inputs are Fourier features of the three coordinates plus a learned embedding of the patch
position (a C-channel grid at patch resolution), so a frame is rendered as one batched MLP call over all
its patches. The codec (codecs/video_inr.py) fits one network per group, initialises it from the
previous group's, quantises every parameter tensor and entropy-codes the integers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class PatchINRConfig:
    """Architecture of one group's network; every field is written into the bitstream."""

    patch: int = 8  # patch side P in pixels
    hidden: int = 96  # width of the MLP's hidden layers
    layers: int = 3  # hidden layers
    channels: int = 8  # channels of the learned patch-position embedding (0: none)
    freqs_xy: int = 4  # Fourier octaves for the patch row and column
    freqs_t: int = 3  # Fourier octaves for the frame index within the group

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def input_features(self) -> int:
        return self.channels + 2 * (1 + 2 * self.freqs_xy) + (1 + 2 * self.freqs_t)


def parameter_shapes(config: PatchINRConfig, grid_rows: int, grid_cols: int) -> list[tuple[int, ...]]:
    """Shapes of ``PatchINR``'s parameters in their order, by arithmetic (nothing is allocated), so a
    decoder can check a bitstream's claims before building the network."""
    widths = [config.input_features] + [config.hidden] * config.layers
    shapes: list[tuple[int, ...]] = [(config.channels, grid_rows, grid_cols)]
    for a, b in zip(widths[:-1], widths[1:]):
        shapes += [(b, a), (b,)]
    out = 3 * config.patch * config.patch
    return shapes + [(out, config.hidden), (out,)]


def macs_per_patch(config: PatchINRConfig) -> int:
    """Multiply-adds of one patch through the MLP (the rendering cost)."""
    widths = [config.input_features] + [config.hidden] * config.layers + [3 * config.patch * config.patch]
    return sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def fourier_features(index: torch.Tensor, count: int, octaves: int) -> torch.Tensor:
    """[v, sin(2^k π v), cos(2^k π v)] for k < octaves, with v the cell centre of ``index`` in (-1, 1)."""
    v = (index.to(torch.float32) + 0.5) * (2.0 / count) - 1.0
    angles = v[:, None] * (math.pi * 2.0 ** torch.arange(octaves, dtype=torch.float32))
    return torch.cat([v[:, None], angles.sin(), angles.cos()], dim=1)


class PatchINR(nn.Module):
    """The network of one group: ``forward(t, row, col)`` gives patches (N, 3, P, P) in [0, 1] (unclamped)."""

    def __init__(self, config: PatchINRConfig, grid_rows: int, grid_cols: int, frames: int) -> None:
        super().__init__()
        self.config, self.grid_rows, self.grid_cols, self.frames = config, grid_rows, grid_cols, frames
        self.embedding = nn.Parameter(0.1 * torch.randn(config.channels, grid_rows, grid_cols))
        widths = [config.input_features] + [config.hidden] * config.layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.head = nn.Linear(config.hidden, 3 * config.patch * config.patch)

    def forward(self, t: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
        c = self.config
        feats = [fourier_features(row, self.grid_rows, c.freqs_xy), fourier_features(col, self.grid_cols, c.freqs_xy),
                 fourier_features(t, self.frames, c.freqs_t)]
        if c.channels:
            feats.insert(0, self.embedding[:, row, col].T)
        h = torch.cat(feats, dim=1)
        for layer in self.hidden:
            h = F.gelu(layer(h))
        return (self.head(h) + 0.5).view(-1, 3, c.patch, c.patch)

    def patch_grid(self, t: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Coordinates of every patch of frame ``t`` in raster order."""
        rows, cols = torch.meshgrid(torch.arange(self.grid_rows), torch.arange(self.grid_cols), indexing="ij")
        return torch.full((rows.numel(),), t, dtype=torch.long), rows.reshape(-1), cols.reshape(-1)

    def render(self, t: int, chunk: int = 16384) -> torch.Tensor:
        """Frame ``t`` of the group as float (3, rows·P, cols·P), clamped to [0, 1]; the patches go
        through the network ``chunk`` at a time, so memory stays bounded at any frame size."""
        p = self.config.patch
        coords = self.patch_grid(t)
        patches = torch.cat([self(*(c[i:i + chunk] for c in coords)) for i in range(0, coords[0].numel(), chunk)])
        grid = patches.clamp_(0.0, 1.0).view(self.grid_rows, self.grid_cols, 3, p, p).permute(2, 0, 3, 1, 4)
        return grid.reshape(3, self.grid_rows * p, self.grid_cols * p)


def frames_to_patches(frames: torch.Tensor, patch: int) -> torch.Tensor:
    """(T, 3, H, W) float frames to (T·rows·cols, 3, P, P) patches in the order of ``PatchINR.patch_grid``."""
    t, c, h, w = frames.shape
    rows, cols = h // patch, w // patch
    x = frames.reshape(t, c, rows, patch, cols, patch).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(t * rows * cols, c, patch, patch)
