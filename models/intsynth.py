"""Integer synthesis: the default codec's g_s on 8-bit integers, identical on every machine.

The float synthesis (4 transposed convolutions with inverse GDN between them) changes a few pixels by
one level between thread counts, because float sums round in the order the kernel adds them. This
module turns a trained g_s into a program whose every sum is an exact integer:

* each 5x5 stride-2 transposed convolution becomes the equivalent 3x3 sub-pixel convolution (4 output
  phases, phase-major channel order p*C + c) with int8 weights; each output channel has its own
  power-of-two scale 2**-e, so dequantising an int32 sum is exact in float32;
* activations are int8 (held as uint8 with zero point 128); a per-channel float32 multiplier maps a
  value to its integer, ``a = clamp(rne(v * r), -128, 127)``, and 1/r is folded into the next weights;
* inverse GDN, n = beta + gamma * v**2 and out = v * sqrt(n): v**2 is re-quantised to uint8 by its own
  per-channel multiplier and the gamma sum is an int8 1x1 convolution (grouped by phase);
* every sum is bounded below 2**24 at export (``check_bounds``), so a float32 convolution of the
  integer-valued tensors, in any order and with or without FMA, gives the same exact result as the
  int8 kernels; the remaining float operations are single IEEE operations (multiply, sqrt,
  round-half-even), correctly rounded everywhere.

Two executors run the same program: ``run_reference`` (float64 convolutions of integer-valued tensors,
any device, the definition) and ``run_fast`` in ``codecs/intsynth.py`` (oneDNN int8 kernels plus
fused C++ element-wise passes). The module is pure: it builds and runs integer programs from tensors.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ncodec.models.layers import GDN

ACT_ZERO = 128  # uint8 zero point of the signed int8 activations
ACT_MAX = 127
SQ_MAX = 255  # squared activations: uint8, zero point 0
W_MAX = 127  # int8 weights, symmetric
W_MAX_PORTABLE = 64  # weights whose u8 x s8 pair sums fit int16: exact on int8 kernels without VNNI (AVX2)
EXACT_LIMIT = 1 << 24  # every |sum| stays below this, so float32 holds it exactly
QUALITY_STEP = 100  # input multipliers are tabulated for qualities on the 0.01 grid
PROGRAM_VERSION = 1


def subpixel_weight(w: torch.Tensor, stride: int = 2, padding: int = 2) -> torch.Tensor:
    """ConvTranspose2d weight (Cin, Cout, 5, 5), stride 2, padding 2, output padding 1 -> the
    equivalent 3x3 convolution weight (4*Cout, Cin, 3, 3) in phase-major order (p = 2*rh + rw).

    Output row 2i + r reads input row i + d through kernel row k = r + padding - 2d."""
    cin, cout, k, _ = w.shape
    if k != 5 or stride != 2 or padding != 2:
        raise ValueError("sub-pixel form is defined for 5x5 stride-2 padding-2 transposed convolutions")
    out = torch.zeros(4, cout, cin, 3, 3, dtype=w.dtype)
    for rh in range(2):
        for rw in range(2):
            for dh in (-1, 0, 1):
                kh = rh + padding - 2 * dh
                if not 0 <= kh < k:
                    continue
                for dw in (-1, 0, 1):
                    kw = rw + padding - 2 * dw
                    if 0 <= kw < k:
                        out[2 * rh + rw, :, :, dh + 1, dw + 1] = w[:, :, kh, kw].t()
    return out.reshape(4 * cout, cin, 3, 3)


def phase_shuffle(x: torch.Tensor) -> torch.Tensor:
    """(B, 4*C, H, W) in phase-major channel order -> (B, C, 2H, 2W)."""
    b, c4, h, w = x.shape
    c = c4 // 4
    return x.view(b, 2, 2, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(b, c, 2 * h, 2 * w)


def _pow2_exponents(max_abs: torch.Tensor, limit: int) -> torch.Tensor:
    """Largest e per row with max_abs * 2**e <= limit."""
    safe = torch.where(max_abs > 0, max_abs, torch.ones_like(max_abs))
    return torch.floor(torch.log2(limit / safe)).long().clamp(-30, 30)


def _quantize_rows(w: torch.Tensor, bias: torch.Tensor, fan_abs_max: float,
                   w_max: int = W_MAX) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-output-row power-of-two quantisation of a weight (O, ...) and its bias; shrinks a row's
    exponent until its worst-case |sum| (fan_abs_max * sum|q| + |bias|) is below 2**24."""
    rows = w.reshape(w.shape[0], -1).double()
    e = _pow2_exponents(rows.abs().amax(dim=1), w_max)
    while True:
        scale = torch.pow(2.0, e.double())
        q = torch.round(rows * scale[:, None]).clamp(-w_max, w_max)
        b = torch.round(bias.double() * scale)
        worst = q.abs().sum(dim=1) * fan_abs_max + b.abs()
        over = worst >= EXACT_LIMIT
        if not bool(over.any()):
            break
        e = e - over.long()
    return q.to(torch.int8).reshape(w.shape), e.to(torch.int32), b.to(torch.int64)


def _inverse_gdn_params(layer: GDN) -> tuple[torch.Tensor, torch.Tensor]:
    beta = torch.clamp(layer.beta, min=layer._beta_bound) ** 2 - layer._pedestal
    gamma = torch.clamp(layer.gamma, min=layer._gamma_bound) ** 2 - layer._pedestal
    return beta.detach().double(), gamma.detach().double()


def _parse_synthesis(g_s: nn.Sequential) -> tuple[list[nn.ConvTranspose2d], list[GDN]]:
    layers = list(g_s)
    convs, gdns = layers[0::2], layers[1::2]
    ok = len(layers) % 2 == 1 and all(isinstance(c, nn.ConvTranspose2d) for c in convs) \
        and all(isinstance(g, GDN) and g.inverse for g in gdns)
    if not ok or any(c.kernel_size != (5, 5) or c.stride != (2, 2) or c.padding != (2, 2)
                     or c.output_padding != (1, 1) for c in convs):
        raise ValueError("integer synthesis needs g_s = [deconv 5x5/2, inverse GDN] * n + deconv 5x5/2")
    return convs, gdns


@torch.no_grad()
def float_trace(g_s: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Per-channel max |value| at every quantisation point of the float synthesis on input ``x``:
    [input, (conv output, conv output squared, inverse-GDN output) per GDN, last conv output]."""
    convs, gdns = _parse_synthesis(g_s)
    stats = [x.abs().amax(dim=(0, 2, 3))]
    v = x
    for i, conv in enumerate(convs):
        v = conv(v)
        if i < len(gdns):
            stats.append(v.abs().amax(dim=(0, 2, 3)))
            stats.append((v * v).amax(dim=(0, 2, 3)))
            v = gdns[i](v)
            stats.append(v.abs().amax(dim=(0, 2, 3)))
    return stats


def merge_traces(traces: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    return [torch.stack(points).amax(dim=0) for points in zip(*traces)]


@torch.no_grad()
def build_program(g_s: nn.Sequential, inverse_gain: Any, levels: int, calibration: list[torch.Tensor],
                  headroom: float = 1.0, w_max: int = W_MAX) -> dict[str, Any]:
    """Quantise ``g_s`` into an integer program (weights in [-w_max, w_max]).

    ``calibration``: per-channel max |value| at each quantisation point (``merge_traces`` of
    ``float_trace`` over real decoded latents times the inverse gain, from training images only).
    ``inverse_gain(q)`` -> the (M,) float64 inverse gain at quality q; the program tabulates the input
    multiplier ig * r0 / 256 (the latent arrives as the integer 256*symbol + mean) for every quality on
    the 0.01 grid, so no exp() runs at decode time."""
    convs, gdns = _parse_synthesis(g_s)
    cal = [c.double().clamp_min(1e-6) * headroom for c in calibration]
    r_in = ACT_MAX / cal[0]  # value -> int multiplier of the synthesis input
    grid = [1.0 + i / QUALITY_STEP for i in range((levels - 1) * QUALITY_STEP + 1)]
    input_mult = torch.stack([inverse_gain(q) * r_in / 256.0 for q in grid]).float()
    program: dict[str, Any] = {"version": PROGRAM_VERSION, "layers": len(convs), "levels": levels,
                               "input_mult": input_mult, "w_max": w_max}
    r = r_in
    for i, conv in enumerate(convs):
        w = subpixel_weight(conv.weight.detach().double()) / r.view(1, -1, 1, 1)
        bias = conv.bias.detach().double().repeat(4)  # phase-major: bias of channel c at p*C + c
        q, e, b = _quantize_rows(w, bias, float(ACT_ZERO), w_max)
        program[f"conv{i}.weight"], program[f"conv{i}.exp"], program[f"conv{i}.bias"] = q, e, b
        if i == len(gdns):
            break
        sq_max, out_max = cal[2 + 3 * i], cal[3 + 3 * i]  # cal[1 + 3i], |conv output|, is not quantised
        beta, gamma = _inverse_gdn_params(gdns[i])
        sq_mult = SQ_MAX / sq_max  # v**2 -> uint8
        gq, ge, gb = _quantize_rows(gamma / sq_mult.view(1, -1), beta, float(SQ_MAX), w_max)
        r = ACT_MAX / out_max
        program[f"gdn{i}.sq_mult"] = sq_mult.float()
        program[f"gdn{i}.weight"], program[f"gdn{i}.exp"], program[f"gdn{i}.bias"] = gq, ge, gb
        program[f"gdn{i}.out_mult"] = r.float()
    check_bounds(program)
    return program


def check_bounds(program: dict[str, Any]) -> None:
    """Raise ValueError unless every integer sum of the program is provably below 2**24."""
    for i in range(int(program["layers"])):
        for name, fan in ((f"conv{i}", ACT_ZERO), (f"gdn{i}", SQ_MAX)):
            if f"{name}.weight" not in program:
                continue
            q = program[f"{name}.weight"].long()
            b = program[f"{name}.bias"].long()
            worst = q.reshape(q.shape[0], -1).abs().sum(dim=1) * fan + b.abs()
            if bool((worst >= EXACT_LIMIT).any()):
                raise ValueError(f"{name}: an integer sum can reach 2**24")


def quality_index(quality: float, levels: int) -> int:
    """Row of the input-multiplier table for a header quality (a multiple of 0.01 in [1, levels])."""
    idx = round((quality - 1.0) * QUALITY_STEP)
    if not 0 <= idx <= (levels - 1) * QUALITY_STEP or abs(idx - (quality - 1.0) * QUALITY_STEP) > 1e-6:
        raise ValueError(f"integer synthesis has no input multipliers for quality {quality}")
    return idx


def input_multipliers(program: dict[str, Any], quality: Any) -> torch.Tensor:
    """The input multiplier for a header quality (1, M, 1, 1), or per latent cell (1, M, h, w) for a
    quality map's cell qualities (h, w), all on the 0.01 grid."""
    levels = int(program["levels"])
    table = program["input_mult"]
    if isinstance(quality, (int, float)):
        return table[quality_index(float(quality), levels)].view(1, -1, 1, 1)
    cells = torch.as_tensor(quality, dtype=torch.float64)
    rows = torch.round((cells - 1.0) * QUALITY_STEP)
    if bool((rows < 0).any()) or bool((rows > (levels - 1) * QUALITY_STEP).any()) or \
            bool(((rows - (cells - 1.0) * QUALITY_STEP).abs() > 1e-6).any()):
        raise ValueError("integer synthesis has no input multipliers for these cell qualities")
    return table[rows.long()].permute(2, 0, 1)[None]


def input_activations(latent_int: torch.Tensor, program: dict[str, Any], quality: Any) -> torch.Tensor:
    """Integer latent (1, M, h, w) = 256*symbol + mean -> int8 activations as float32 in [-128, 127];
    ``quality``: the header quality, or the (h, w) cell qualities of a quality map."""
    return torch.round(latent_int.float() * input_multipliers(program, quality)).clamp(-ACT_ZERO, ACT_MAX)


def sqrt_ieee(x: torch.Tensor) -> torch.Tensor:
    """Correctly rounded float32 square root (IEEE 754). torch.sqrt on float32 CPU tensors is not always:
    for 0.89124680 it returns 0.94405872 where the nearest float32 to the root is 0.94405866; numpy's
    (the hardware instruction) is."""
    import numpy as np

    return torch.from_numpy(np.sqrt(x.detach().cpu().numpy().astype(np.float32, copy=False))).to(x.device)


def _dequant(acc: torch.Tensor, exp: torch.Tensor) -> torch.Tensor:
    return acc * torch.pow(2.0, -exp.double()).view(1, -1, 1, 1)


@torch.no_grad()
def run_reference(program: dict[str, Any], latent_int: torch.Tensor, quality: Any) -> torch.Tensor:
    """The definition of the integer synthesis: uint8 pixels (1, 3, 2**L*h, 2**L*w) from the integer
    latent. Sums are float64 convolutions of integer-valued tensors (exact below 2**53; the program
    guarantees 2**24), element-wise steps are float32 IEEE operations in the documented order."""
    a = input_activations(latent_int, program, quality).double()
    layers = int(program["layers"])
    for i in range(layers):
        w = program[f"conv{i}.weight"].double()
        acc = F.conv2d(a, w, padding=1) + program[f"conv{i}.bias"].double().view(1, -1, 1, 1)
        v = _dequant(acc, program[f"conv{i}.exp"]).float()  # exact: |acc| < 2**24, power-of-two scale
        if i == layers - 1:
            return torch.round(phase_shuffle(v) * 255.0).clamp(0, 255).to(torch.uint8)
        c = v.shape[1] // 4
        sq = torch.round((v * v) * program[f"gdn{i}.sq_mult"].repeat(4).view(1, -1, 1, 1)).clamp(0, SQ_MAX)
        gw = program[f"gdn{i}.weight"].double().view(c, c, 1, 1).repeat(4, 1, 1, 1)
        nacc = F.conv2d(sq.double(), gw, groups=4) + program[f"gdn{i}.bias"].double().repeat(4).view(1, -1, 1, 1)
        n = _dequant(nacc, program[f"gdn{i}.exp"].repeat(4)).float()
        out = (v * sqrt_ieee(n)) * program[f"gdn{i}.out_mult"].repeat(4).view(1, -1, 1, 1)
        a = phase_shuffle(torch.round(out).clamp(-ACT_ZERO, ACT_MAX)).double()
    raise AssertionError("unreachable")


def program_nbytes(program: dict[str, Any]) -> int:
    return sum(v.numel() * v.element_size() for v in program.values() if isinstance(v, torch.Tensor))


def exponent_summary(program: dict[str, Any]) -> dict[str, float]:
    """Mean weight exponent per layer (how many fractional bits the weights kept): for reports."""
    return {k: float(v.double().mean()) for k, v in program.items() if k.endswith(".exp")}



def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def _fake_rows(w: torch.Tensor, bias: torch.Tensor, w_max: int = W_MAX) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and bias on their power-of-two integer grid (straight-through), as ``_quantize_rows``
    rounds them (without the rare bound shrink, which only drops a bit where a row would overflow)."""
    rows = w.reshape(w.shape[0], -1)
    e = _pow2_exponents(rows.detach().abs().amax(dim=1).double(), w_max).to(w.dtype)
    scale = torch.pow(2.0, e)
    q = _round_ste(rows * scale[:, None]).clamp(-w_max, w_max) / scale[:, None]
    return q.reshape(w.shape), _round_ste(bias * scale) / scale


class FakeQuantSynthesis(nn.Module):
    """Quantisation-aware training copy of g_s: the integer program's rounding points with
    straight-through gradients, in float. Activation multipliers are fixed by the calibration; weight
    exponents follow the weights. ``build_program(self.g_s, ..., self.calibration)`` exports it."""

    def __init__(self, g_s: nn.Sequential, calibration: list[torch.Tensor], w_max: int = W_MAX) -> None:
        super().__init__()
        self.g_s = g_s
        self.w_max = w_max
        _parse_synthesis(g_s)
        for i, c in enumerate(calibration):
            self.register_buffer(f"cal{i}", c.float().clamp_min(1e-6).clone())

    @property
    def calibration(self) -> list[torch.Tensor]:
        return [getattr(self, f"cal{i}") for i in range(1 + 3 * (len(self.g_s) // 2))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        convs, gdns = _parse_synthesis(self.g_s)
        cal = self.calibration
        r = ACT_MAX / cal[0]
        a = _round_ste(x * r.view(1, -1, 1, 1)).clamp(-ACT_ZERO, ACT_MAX)
        for i, conv in enumerate(convs):
            w, b = _fake_rows(subpixel_weight_t(conv.weight) / r.view(1, -1, 1, 1), conv.bias.repeat(4), self.w_max)
            v = phase_shuffle(F.conv2d(a, w, b, padding=1))
            if i == len(gdns):
                return v
            beta = torch.clamp(gdns[i].beta, min=gdns[i]._beta_bound) ** 2 - gdns[i]._pedestal
            gamma = torch.clamp(gdns[i].gamma, min=gdns[i]._gamma_bound) ** 2 - gdns[i]._pedestal
            sq_mult = SQ_MAX / cal[2 + 3 * i]
            sq = _round_ste(v * v * sq_mult.view(1, -1, 1, 1)).clamp(0, SQ_MAX)
            gw, gb = _fake_rows(gamma / sq_mult.view(1, -1), beta, self.w_max)
            n = F.conv2d(sq, gw.view(gw.shape[0], -1, 1, 1), gb)
            r = ACT_MAX / cal[3 + 3 * i]
            a = _round_ste(v * torch.sqrt(n.clamp_min(1e-12)) * r.view(1, -1, 1, 1)).clamp(-ACT_ZERO, ACT_MAX)
        raise AssertionError("unreachable")


def subpixel_weight_t(w: torch.Tensor) -> torch.Tensor:
    """``subpixel_weight`` as a differentiable gather (same layout), for training."""
    cin, cout = w.shape[:2]
    idx = _subpixel_index(w.shape[2])
    flat = torch.cat([w.reshape(cin, cout, -1), w.new_zeros(cin, cout, 1)], dim=2)  # last slot: zero tap
    taps = flat[:, :, idx]  # (Cin, Cout, 4, 3, 3)
    return taps.permute(2, 1, 0, 3, 4).reshape(4 * cout, cin, 3, 3)


def _subpixel_index(k: int, padding: int = 2) -> torch.Tensor:
    idx = torch.full((4, 3, 3), k * k, dtype=torch.long)
    for rh in range(2):
        for rw in range(2):
            for dh in (-1, 0, 1):
                for dw in (-1, 0, 1):
                    kh, kw = rh + padding - 2 * dh, rw + padding - 2 * dw
                    if 0 <= kh < k and 0 <= kw < k:
                        idx[2 * rh + rw, dh + 1, dw + 1] = kh * k + kw
    return idx


# ----------------------------------------------------------------------------- the encoder's int8 analysis
# The encoder need not be exact (any latent it picks is coded exactly), so g_a gets the same int8
# primitives for speed only: 5x5 stride-2 convolutions on uint8 activations (zero point 128; the first
# layer reads the pixels themselves, zero point 0), GDN through the squared-activation 1x1 convolution.

def _parse_analysis(g_a: nn.Sequential) -> tuple[list[nn.Conv2d], list[GDN]]:
    layers = list(g_a)
    convs, gdns = layers[0::2], layers[1::2]
    ok = len(layers) % 2 == 1 and all(isinstance(c, nn.Conv2d) and c.kernel_size == (5, 5) and c.stride == (2, 2)
                                      and c.padding == (2, 2) for c in convs) \
        and all(isinstance(g, GDN) and not g.inverse for g in gdns)
    if not ok:
        raise ValueError("int8 analysis needs g_a = [conv 5x5/2, GDN] * n + conv 5x5/2")
    return convs, gdns


@torch.no_grad()
def analysis_trace(g_a: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Per-channel max at every quantisation point of g_a on pixels ``x`` in [0, 1]:
    [(conv output squared, GDN output |max|) per GDN]."""
    convs, gdns = _parse_analysis(g_a)
    stats, v = [], x
    for i, conv in enumerate(convs[:-1]):
        v = conv(v)
        stats.append((v * v).amax(dim=(0, 2, 3)))
        v = gdns[i](v)
        stats.append(v.abs().amax(dim=(0, 2, 3)))
    return stats


@torch.no_grad()
def build_analysis_program(g_a: nn.Sequential, calibration: list[torch.Tensor],
                           w_max: int = W_MAX) -> dict[str, Any]:
    """Quantise g_a for the int8 encoder (per-output power-of-two weight scales in [-w_max, w_max],
    calibrated activations)."""
    convs, gdns = _parse_analysis(g_a)
    cal = [c.double().clamp_min(1e-6) for c in calibration]
    program: dict[str, Any] = {"version": PROGRAM_VERSION, "layers": len(convs), "w_max": w_max}
    r = torch.full((convs[0].in_channels,), 255.0, dtype=torch.float64)  # the pixels are the integers
    for i, conv in enumerate(convs):
        w = conv.weight.detach().double() / r.view(1, -1, 1, 1)
        q, e, b = _quantize_rows(w, conv.bias.detach().double(), 255.0, w_max)
        program[f"conv{i}.weight"], program[f"conv{i}.exp"], program[f"conv{i}.bias"] = q, e, b
        if i == len(gdns):
            break
        beta = torch.clamp(gdns[i].beta, min=gdns[i]._beta_bound) ** 2 - gdns[i]._pedestal
        gamma = torch.clamp(gdns[i].gamma, min=gdns[i]._gamma_bound) ** 2 - gdns[i]._pedestal
        sq_mult = SQ_MAX / cal[2 * i]
        gq, ge, gb = _quantize_rows(gamma.double() / sq_mult.view(1, -1), beta.double(), float(SQ_MAX), w_max)
        r = ACT_MAX / cal[2 * i + 1]
        program[f"gdn{i}.sq_mult"] = sq_mult.float()
        program[f"gdn{i}.weight"], program[f"gdn{i}.exp"], program[f"gdn{i}.bias"] = gq, ge, gb
        program[f"gdn{i}.out_mult"] = r.float()
    return program


@torch.no_grad()
def run_analysis_reference(program: dict[str, Any], pixels: torch.Tensor) -> torch.Tensor:
    """The int8 analysis's definition: uint8 pixels (B, 3, H, W) -> float32 latent before the gain.
    Sums are float64 convolutions of integer-valued tensors (below 2**24 by construction), element-wise
    steps float32 IEEE operations in the fast executor's order, so an executor that does not saturate
    computes exactly this."""
    a = pixels.double()
    layers = int(program["layers"])
    for i in range(layers):
        acc = F.conv2d(a, program[f"conv{i}.weight"].double(), stride=2, padding=2) \
            + program[f"conv{i}.bias"].double().view(1, -1, 1, 1)
        v = _dequant(acc, program[f"conv{i}.exp"]).float()
        if i == layers - 1:
            return v
        c = v.shape[1]
        sq = torch.round((v * v) * program[f"gdn{i}.sq_mult"].view(1, -1, 1, 1)).clamp(0, SQ_MAX)
        nacc = F.conv2d(sq.double(), program[f"gdn{i}.weight"].double().view(c, c, 1, 1)) \
            + program[f"gdn{i}.bias"].double().view(1, -1, 1, 1)
        n = _dequant(nacc, program[f"gdn{i}.exp"]).float()
        out = (v / sqrt_ieee(n)) * program[f"gdn{i}.out_mult"].view(1, -1, 1, 1)
        a = torch.round(out).clamp(-ACT_ZERO, ACT_MAX).double()
    raise AssertionError("unreachable")


def analysis_calibration(program: dict[str, Any]) -> list[torch.Tensor]:
    """The calibration maxima an analysis program was built from (inverse of its multipliers)."""
    cal = []
    for i in range(int(program["layers"]) - 1):
        cal.append(SQ_MAX / program[f"gdn{i}.sq_mult"].double())
        cal.append(ACT_MAX / program[f"gdn{i}.out_mult"].double())
    return cal


class FakeQuantAnalysis(nn.Module):
    """Quantisation-aware training copy of g_a: the int8 analysis's rounding points (integer pixels,
    int8 weights on per-row power-of-two grids, re-quantised squares, int8 activations) with
    straight-through gradients, in float. ``build_analysis_program(self.g_a, self.calibration)``
    exports it; its output is the float latent before the gain, as ``FastIntegerAnalysis`` returns."""

    def __init__(self, g_a: nn.Sequential, calibration: list[torch.Tensor], w_max: int = W_MAX_PORTABLE) -> None:
        super().__init__()
        self.g_a = g_a
        self.w_max = w_max
        _parse_analysis(g_a)
        for i, c in enumerate(calibration):
            self.register_buffer(f"cal{i}", c.float().clamp_min(1e-6).clone())

    @property
    def calibration(self) -> list[torch.Tensor]:
        return [getattr(self, f"cal{i}") for i in range(2 * (len(self.g_a) // 2))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1] (on the 1/255 grid) -> latent (B, M, H/16, W/16)."""
        convs, gdns = _parse_analysis(self.g_a)
        cal = self.calibration
        a = torch.round(x * 255.0)
        r = torch.full((convs[0].in_channels,), 255.0, dtype=x.dtype, device=x.device)
        for i, conv in enumerate(convs):
            w, b = _fake_rows(conv.weight / r.view(1, -1, 1, 1), conv.bias, self.w_max)
            v = F.conv2d(a, w, b, stride=2, padding=2)
            if i == len(gdns):
                return v
            beta = torch.clamp(gdns[i].beta, min=gdns[i]._beta_bound) ** 2 - gdns[i]._pedestal
            gamma = torch.clamp(gdns[i].gamma, min=gdns[i]._gamma_bound) ** 2 - gdns[i]._pedestal
            sq_mult = SQ_MAX / cal[2 * i]
            sq = _round_ste(v * v * sq_mult.view(1, -1, 1, 1)).clamp(0, SQ_MAX)
            gw, gb = _fake_rows(gamma / sq_mult.view(1, -1), beta, self.w_max)
            n = F.conv2d(sq, gw.view(gw.shape[0], -1, 1, 1), gb)
            r = ACT_MAX / cal[2 * i + 1]
            a = _round_ste(v / torch.sqrt(n.clamp_min(1e-12)) * r.view(1, -1, 1, 1)).clamp(-ACT_ZERO, ACT_MAX)
        raise AssertionError("unreachable")
