"""Learned occupancy model of octree nodes (``octree-pc``): features -> 256 log2-probabilities.

A pure nn.Module: a FixedPointNet of 1x1 convolutions over nodes laid out as (1, features, nodes, 1),
trained in float (then with fake quantisation) and run at coding time on integers only
(DESIGN.md's determinism rule). Outputs are logits in the log2 domain: p(s) is proportional to 2**logit(s).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ncodec.codecs.octree_features import FEATURES
from ncodec.entropy.fixedpoint import FixedPointNet

SYMBOLS = 256


class OctreeOccupancyModel(nn.Module):
    def __init__(self, features: int = FEATURES, hidden: int = 128, depth: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(features, hidden, 1), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(hidden, hidden, 1), nn.ReLU()]
        layers.append(nn.Conv2d(hidden, SYMBOLS, 1))
        self.features, self.hidden, self.depth = features, hidden, depth
        self.net = FixedPointNet(layers, input_kind="symbols")

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(n, features) integer-valued floats -> (n, 256) log2-domain logits (float path, training)."""
        return self.net(feats.t()[None, :, :, None])[0, :, :, 0].t()

    def bits(self, feats: torch.Tensor, symbols: torch.Tensor) -> torch.Tensor:
        """Mean code length in bits of ``symbols`` under the float model (the training loss)."""
        logits = self.forward(feats) * math.log(2.0)
        return nn.functional.cross_entropy(logits, symbols) / math.log(2.0)

    def config(self) -> dict:
        return {"features": self.features, "hidden": self.hidden, "depth": self.depth}
