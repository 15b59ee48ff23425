"""Small CNN for 28x28 greyscale classification (Fashion-MNIST), the perception task's own model."""

from __future__ import annotations

import torch
from torch import nn


FMNIST_MEAN, FMNIST_STD = 0.286, 0.353  # Fashion-MNIST pixel statistics on [0, 1]


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1] -> the standardised input of ``SmallCNN.features``."""
    return (x - FMNIST_MEAN) / FMNIST_STD


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class SmallCNN(nn.Module):
    """Conv-BN-ReLU x 5 with two 2x poolings and global average pooling; about 140k parameters."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(*_block(1, 32), *_block(32, 32), nn.MaxPool2d(2), *_block(32, 64),
                                      *_block(64, 64), nn.MaxPool2d(2), *_block(64, 128), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(128, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) in [0, 1] -> (B, classes) logits."""
        return self.head(self.features(normalise(x)))
