"""Building blocks: GDN / inverse GDN (Ballé 2016) and strided convolutions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GDN(nn.Module):
    """Generalised divisive normalisation: y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2).

    beta and gamma are kept non-negative by a squared reparameterisation with a small floor.
    """

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6,
                 gamma_init: float = 0.1) -> None:
        super().__init__()
        self.inverse = inverse
        self._pedestal = 2.0 ** -36
        self._beta_bound = (beta_min + self._pedestal) ** 0.5
        self._gamma_bound = self._pedestal ** 0.5
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + self._pedestal))
        self.gamma = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + self._pedestal))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = torch.clamp(self.beta, min=self._beta_bound) ** 2 - self._pedestal
        gamma = torch.clamp(self.gamma, min=self._gamma_bound) ** 2 - self._pedestal
        c = x.shape[1]
        norm = F.conv2d(x * x, gamma.view(c, c, 1, 1), beta)
        norm = torch.sqrt(norm)
        return x * norm if self.inverse else x / norm


def conv(cin: int, cout: int, kernel: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


def deconv(cin: int, cout: int, kernel: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, kernel, stride=stride, padding=kernel // 2,
                              output_padding=stride - 1)


# ----------------------------------------------------------------------------- blocks of CompressAI's
# Cheng 2020 and ELIC transforms. Attribute names follow CompressAI's so that its state dicts load
# one to one (``ncodec import-compressai``); the code is ncodec's own.

def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride)


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


def subpel_conv3x3(cin: int, cout: int, factor: int) -> nn.Sequential:
    """Up-sampling by a 3x3 convolution to factor**2 x channels, then a pixel shuffle."""
    return nn.Sequential(conv3x3(cin, cout * factor ** 2), nn.PixelShuffle(factor))


class ResidualBottleneckBlock(nn.Module):
    """x + 1x1 -> ReLU -> 3x3 -> ReLU -> 1x1 at half the channels (ELIC's transforms)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        mid = min(cin, cout) // 2
        self.conv1, self.conv2, self.conv3 = conv1x1(cin, mid), conv3x3(mid, mid), conv1x1(mid, cout)
        self.skip: nn.Module = conv1x1(cin, cout) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.conv3(F.relu(self.conv2(F.relu(self.conv1(x)))))


class _AttentionUnit(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.conv = nn.Sequential(conv1x1(channels, half), nn.ReLU(), conv3x3(half, half), nn.ReLU(),
                                  conv1x1(half, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv(x))


class AttentionBlock(nn.Module):
    """Cheng et al. 2020's simplified attention: x + trunk(x) * sigmoid(mask branch(x))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_a = nn.Sequential(*(_AttentionUnit(channels) for _ in range(3)))
        self.conv_b = nn.Sequential(*(_AttentionUnit(channels) for _ in range(3)), conv1x1(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_a(x) * torch.sigmoid(self.conv_b(x))


class ResidualBlock(nn.Module):
    """x + LeakyReLU(3x3(LeakyReLU(3x3(x)))) (Cheng 2020)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv3x3(cin, cout), conv3x3(cout, cout)
        self.skip = conv1x1(cin, cout) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x))))
        return out + (self.skip(x) if self.skip is not None else x)


class ResidualBlockWithStride(nn.Module):
    """Down-sampling residual block with GDN (Cheng 2020)."""

    def __init__(self, cin: int, cout: int, stride: int = 2) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv3x3(cin, cout, stride), conv3x3(cout, cout)
        self.gdn = GDN(cout)
        self.skip = conv1x1(cin, cout, stride) if stride != 1 or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.gdn(self.conv2(F.leaky_relu(self.conv1(x))))
        return out + (self.skip(x) if self.skip is not None else x)


class ResidualBlockUpsample(nn.Module):
    """Up-sampling residual block with inverse GDN (Cheng 2020)."""

    def __init__(self, cin: int, cout: int, factor: int = 2) -> None:
        super().__init__()
        self.subpel_conv = subpel_conv3x3(cin, cout, factor)
        self.conv = conv3x3(cout, cout)
        self.igdn = GDN(cout, inverse=True)
        self.upsample = subpel_conv3x3(cin, cout, factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.igdn(self.conv(F.leaky_relu(self.subpel_conv(x)))) + self.upsample(x)
