"""Fixed-point entropy-parameter networks (DESIGN.md, determinism rule 1).

The network that turns decoded hyper-latents into means and scales is trained in floating point, then
fine-tuned with fake quantisation (``qat=True``) and exported to integers. At coding time it runs on
integers only: weights are int (units 2**-W_FRAC), activations int (units 2**-A_FRAC), every sum is an
exact integer held in float64 below 2**53 (computed by unfold + matmul, never by FFT/Winograd), and
requantisation is a floor division by a power of two. The result is bit-identical on any CPU or GPU,
any thread count and any BLAS.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

W_FRAC = 14  # weights in units of 2**-14
A_FRAC = 8  # activations (and the output means/scales) in units of 2**-8
W_LIMIT = (1 << 18) - 1  # |weight int| <= 2**18
A_LIMIT = (1 << 20) - 1  # |activation int| <= 2**20
IN_LIMIT = (1 << 12) - 1  # |input symbol| <= 2**12 before it enters the net
# Worst-case |sum| = A_LIMIT * W_LIMIT * (C_in * k * k <= 8192) + bias < 2**52: exact in float64.
MAX_FAN_IN = 8192
SLOPE_FRAC = 12  # a LeakyReLU's negative slope in units of 2**-12 (0.01 -> 41/4096)
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU)
CONVS = (nn.Conv2d, nn.ConvTranspose2d)
# layers without parameters that move values exactly (sub-pixel convolutions of CompressAI's models)
REARRANGE = (nn.PixelShuffle,)


def _slope_int(layer: nn.LeakyReLU) -> int:
    return int(round(layer.negative_slope * (1 << SLOPE_FRAC)))


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def exact_conv2d(x: torch.Tensor, w: torch.Tensor, padding: int) -> torch.Tensor:
    """Convolution of integer-valued float64 tensors with exact integer sums (unfold + matmul)."""
    b, c, h, wid = x.shape
    o, _, k, _ = w.shape
    if k == 1 and padding == 0:  # pointwise: no im2col copy, the same exact sums
        return torch.matmul(w.reshape(o, c), x.reshape(b, c, h * wid)).view(b, o, h, wid)
    cols = F.unfold(x, k, padding=padding)  # (B, C*k*k, L)
    out = torch.matmul(w.reshape(o, -1), cols)  # (B, O, L)
    return out.view(b, o, h + 2 * padding - k + 1, wid + 2 * padding - k + 1)


def exact_conv_transpose2d(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int,
                           output_padding: int) -> torch.Tensor:
    """Transposed convolution with exact integer sums, computed polyphase: each of the stride**2 output
    phases is a small dense convolution of the input (no multiplications by inserted zeros)."""
    b, c, h, wid = x.shape
    cin, o, k, _ = w.shape
    s, p = stride, padding
    if (h - 1) * s - 2 * p + k + output_padding != s * h:
        return _zero_insert_conv_transpose2d(x, w, stride, padding, output_padding)
    # output row Y = s*m + phase reads input row i = m + d through kernel row ky = phase + p - s*d
    d_min = -((k - 1 - p) // s)  # smallest d with a valid ky for some phase
    d_max = (s - 1 + p) // s
    span = d_max - d_min + 1
    # kernel index of (phase, tap): phase + p - s*d, or k (a zero row/column) where it falls outside
    kidx = torch.arange(s).view(s, 1) + p - s * torch.arange(d_min, d_max + 1).view(1, span)
    kidx = torch.where((kidx >= 0) & (kidx < k), kidx, torch.full_like(kidx, k))
    wpad = F.pad(w, (0, 1, 0, 1))  # (Cin, O, k+1, k+1)
    taps = wpad[:, :, kidx.view(s, 1, span, 1), kidx.view(1, s, 1, span)]  # (Cin, O, s, s, span, span)
    taps = taps.permute(2, 3, 1, 0, 4, 5)  # (s, s, O, Cin, span, span)
    xp = F.pad(x, (-d_min, d_max, -d_min, d_max))
    cols = F.unfold(xp, span)  # (B, C*span*span, H*W)
    out = torch.matmul(taps.reshape(s * s * o, -1), cols)  # (B, s*s*O, H*W)
    out = out.view(b, s, s, o, h, wid).permute(0, 3, 4, 1, 5, 2)  # (B, O, H, py, W, px)
    return out.reshape(b, o, h * s, wid * s)


def _zero_insert_conv_transpose2d(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int,
                                  output_padding: int) -> torch.Tensor:
    """Reference form: zero insertion + exact convolution with the flipped kernel."""
    b, c, h, wid = x.shape
    k = w.shape[-1]
    z = x.new_zeros(b, c, (h - 1) * stride + 1, (wid - 1) * stride + 1)
    z[:, :, ::stride, ::stride] = x
    lo = k - 1 - padding
    hi = lo + output_padding
    z = F.pad(z, (lo, hi, lo, hi))
    return exact_conv2d(z, w.flip(-1, -2).transpose(0, 1), padding=0)


class FixedPointNet(nn.Module):
    """A float ``nn.Sequential`` of Conv2d / ConvTranspose2d / ReLU / LeakyReLU / PixelShuffle with a fake-quant training mode
    and an exact integer inference path built from exported integer parameters."""

    def __init__(self, layers: list[nn.Module], input_kind: str = "symbols") -> None:
        """``input_kind``: "symbols" (integers, e.g. hyper-latents) or "activations" (values on the
        2**-A_FRAC grid, e.g. decoded latents y = symbol + mean, or another net's output)."""
        super().__init__()
        if input_kind not in ("symbols", "activations"):
            raise ValueError(f"unknown input kind {input_kind!r}")
        self.input_kind = input_kind
        for layer in layers:
            if not isinstance(layer, CONVS + ACTIVATIONS + REARRANGE):
                raise TypeError(f"unsupported layer in a fixed-point net: {type(layer).__name__}")
            if isinstance(layer, CONVS):
                fan_in = layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]
                if fan_in > MAX_FAN_IN:
                    raise ValueError("fan-in too large for exact float64 sums")
        self.net = nn.Sequential(*layers)
        self.qat = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Float forward (training); with ``qat`` the weights and activations are fake-quantised."""
        if not self.qat:
            return self.net(x)
        wscale, ascale = float(1 << W_FRAC), float(1 << A_FRAC)
        if self.input_kind == "symbols":
            h = x.clamp(-IN_LIMIT, IN_LIMIT)
        else:
            h = (_round_ste(x * ascale) / ascale).clamp(-A_LIMIT / ascale, A_LIMIT / ascale)
        for layer in self.net:
            if isinstance(layer, nn.ReLU):
                h = F.relu(h)
                continue
            if isinstance(layer, nn.LeakyReLU):
                slope = _slope_int(layer) / float(1 << SLOPE_FRAC)
                h = torch.where(h < 0, torch.floor(h * slope * ascale) / ascale + (h * slope - (h * slope).detach()), h)
                continue
            if isinstance(layer, REARRANGE):
                h = layer(h)
                continue
            w = _round_ste(layer.weight * wscale).clamp(-W_LIMIT, W_LIMIT) / wscale
            b = _round_ste(layer.bias * wscale * ascale) / (wscale * ascale)
            if isinstance(layer, nn.Conv2d):
                h = F.conv2d(h, w, b, layer.stride, layer.padding)
            else:
                h = F.conv_transpose2d(h, w, b, layer.stride, layer.padding, layer.output_padding)
            h = (_round_ste(h * ascale) / ascale).clamp(-A_LIMIT / ascale, A_LIMIT / ascale)
        return h

    @torch.no_grad()
    def export(self) -> dict[str, torch.Tensor]:
        """Integer parameters of every conv layer (int64 tensors), keyed by layer position."""
        out: dict[str, torch.Tensor] = {}
        wscale, bscale = float(1 << W_FRAC), float(1 << (W_FRAC + A_FRAC))
        for i, layer in enumerate(self.net):
            if not isinstance(layer, CONVS):
                continue
            out[f"{i}.weight"] = torch.round(layer.weight.double() * wscale).clamp(-W_LIMIT, W_LIMIT).long()
            out[f"{i}.bias"] = torch.round(layer.bias.double() * bscale).long()
        return out

    def run_fixed(self, params: dict[str, torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
        """Exact integer inference: int64 inputs (B, C, H, W) -> int64 outputs in units 2**-A_FRAC.

        Inputs are symbols, or for ``input_kind="activations"`` integers in units 2**-A_FRAC.
        """
        if self.input_kind == "symbols":
            h = inputs.to(torch.float64).clamp(-IN_LIMIT, IN_LIMIT) * float(1 << A_FRAC)
        else:
            h = inputs.to(torch.float64).clamp(-A_LIMIT, A_LIMIT)
        half = float(1 << (W_FRAC - 1))
        div = float(1 << W_FRAC)
        for i, layer in enumerate(self.net):
            if isinstance(layer, nn.ReLU):
                h = h.clamp_min(0.0)
                continue
            if isinstance(layer, nn.LeakyReLU):  # exact: |h| * slope < 2**33
                h = torch.where(h < 0, torch.floor(h * float(_slope_int(layer)) / float(1 << SLOPE_FRAC)), h)
                continue
            if isinstance(layer, REARRANGE):  # a permutation of values: exact
                h = layer(h)
                continue
            w = params[f"{i}.weight"].to(torch.float64)
            bias = params[f"{i}.bias"].to(torch.float64).view(1, -1, 1, 1)
            if isinstance(layer, nn.Conv2d):
                acc = exact_conv2d(h, w, padding=layer.padding[0])
            else:
                acc = exact_conv_transpose2d(h, w, layer.stride[0], layer.padding[0], layer.output_padding[0])
            h = acc.add_(bias).add_(half).div_(div).floor_().clamp_(-A_LIMIT, A_LIMIT)  # exact: div is 2**W_FRAC
        return h.to(torch.int64)

    def check_params(self, params: dict[str, torch.Tensor]) -> None:
        """Validate exported integer parameters against this net's shapes and limits."""
        for i, layer in enumerate(self.net):
            if not isinstance(layer, CONVS):
                continue
            w, b = params.get(f"{i}.weight"), params.get(f"{i}.bias")
            if w is None or b is None or tuple(w.shape) != tuple(layer.weight.shape) or tuple(b.shape) != tuple(layer.bias.shape):
                raise ValueError(f"fixed-point parameters of layer {i} are missing or mis-shaped")
            if int(w.abs().max()) > W_LIMIT or int(b.abs().max()) >= (1 << 40):
                raise ValueError(f"fixed-point parameters of layer {i} exceed their limits")
