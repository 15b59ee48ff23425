"""Learned binary occupancy model of ``octree-dense``: (n, 261) 0/1 context -> logit of "child exists".

A pure nn.Module, trained in float, then with fake quantisation that reproduces the integer path of
``codecs/octree_dense.py`` (integer weights, floor-shifted 0..255 activations, a logit binned into K
stored tables), then exported to integers. The shifts are powers of two chosen once from the float
weights and activations (``calibrate``) and kept through QAT.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ncodec.codecs.octree_dense import ACT_MAX, FEATURES

W1_LIMIT = (1 << 15) - 1  # layer 1 sees 0/1 inputs: 261 * 2**15 < 2**24
W_LIMIT = 255  # layers 2 and 3 see 0..255: 128 * 255 * 255 < 2**23
B_LIMIT = (1 << 22) - 1
BIN_FRAC = 3  # logit bins of width 1/8
BINS = 192  # logits in [-12, 12)


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def _floor_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.floor(x) - x).detach()


def _frac_bits(largest: float, limit: int, most: int = 20) -> int:
    """The finest power-of-two unit 2**-f with largest / 2**-f <= limit."""
    return min(most, int(math.floor(math.log2(limit / max(largest, 1e-12)))))


class DenseOccupancyModel(nn.Module):
    def __init__(self, hidden: int = 128, hidden2: int = 64) -> None:
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(FEATURES, hidden), nn.Linear(hidden, hidden2), nn.Linear(hidden2, 1)
        self.hidden, self.hidden2 = hidden, hidden2
        # fractional bits once calibrated: weights f1..f3, activations a1, a2 (None: float path)
        self.register_buffer("fracs", torch.zeros(5, dtype=torch.long))
        self.quantised = False

    def config(self) -> dict:
        return {"hidden": self.hidden, "hidden2": self.hidden2}

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        """Choose the power-of-two units from the float weights and the activations of a sample batch,
        then switch to the fake-quantised path."""
        a1 = torch.relu(self.l1(x))
        a2 = torch.relu(self.l2(a1))
        f1 = _frac_bits(max(self.l1.weight.abs().max().item(), self.l1.bias.abs().max().item() / 64), W1_LIMIT)
        f2 = _frac_bits(self.l2.weight.abs().max().item(), W_LIMIT)
        f3 = _frac_bits(self.l3.weight.abs().max().item(), W_LIMIT)
        act1 = _frac_bits(torch.quantile(a1.flatten()[:1 << 20], 0.9999).item(), ACT_MAX, f1)
        act2 = _frac_bits(torch.quantile(a2.flatten()[:1 << 20], 0.9999).item(), ACT_MAX, act1 + f2)
        self.fracs.copy_(torch.tensor([f1, f2, f3, act1, act2]))
        self.quantised = True

    def _qweights(self):
        f1, f2, f3, a1, a2 = (int(v) for v in self.fracs)
        s = [2.0 ** f1, 2.0 ** f2, 2.0 ** f3]
        w1 = _round_ste(self.l1.weight * s[0]).clamp(-W1_LIMIT, W1_LIMIT) / s[0]
        b1 = _round_ste(self.l1.bias * s[0]).clamp(-B_LIMIT, B_LIMIT) / s[0]
        w2 = _round_ste(self.l2.weight * s[1]).clamp(-W_LIMIT, W_LIMIT) / s[1]
        u2 = 2.0 ** (a1 + f2)
        b2 = _round_ste(self.l2.bias * u2).clamp(-B_LIMIT, B_LIMIT) / u2
        w3 = _round_ste(self.l3.weight * s[2]).clamp(-W_LIMIT, W_LIMIT) / s[2]
        u3 = 2.0 ** (a2 + f3)
        b3 = _round_ste(self.l3.bias * u3).clamp(-B_LIMIT, B_LIMIT) / u3
        return w1, b1, w2, b2, w3, b3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 261) 0/1 floats -> (n,) logits (natural log-odds; the bin centre once quantised)."""
        if not self.quantised:
            return self.l3(torch.relu(self.l2(torch.relu(self.l1(x)))))[:, 0]
        _, _, _, a1, a2 = (int(v) for v in self.fracs)
        w1, b1, w2, b2, w3, b3 = self._qweights()
        h = (_floor_ste(nn.functional.linear(x, w1, b1) * 2.0 ** a1).clamp(0, ACT_MAX)) / 2.0 ** a1
        h = (_floor_ste(nn.functional.linear(h, w2, b2) * 2.0 ** a2).clamp(0, ACT_MAX)) / 2.0 ** a2
        z = nn.functional.linear(h, w3, b3)[:, 0]
        m = _floor_ste(z * 2.0 ** BIN_FRAC).clamp(-(BINS // 2), BINS // 2 - 1)
        return (m + 0.5) / 2.0 ** BIN_FRAC

    def bits(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean code length in bits per coded child (the training loss)."""
        return nn.functional.binary_cross_entropy_with_logits(self.forward(x), y) / math.log(2.0)

    @torch.no_grad()
    def export(self) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
        """Integer parameters and shifts of the codec's integer path (after QAT)."""
        if not self.quantised:
            raise RuntimeError("calibrate (and fine-tune) before export")
        f1, f2, f3, a1, a2 = (int(v) for v in self.fracs)
        ints = {"w1": torch.round(self.l1.weight * 2.0 ** f1).clamp(-W1_LIMIT, W1_LIMIT),
                "b1": torch.round(self.l1.bias * 2.0 ** f1).clamp(-B_LIMIT, B_LIMIT),
                "w2": torch.round(self.l2.weight * 2.0 ** f2).clamp(-W_LIMIT, W_LIMIT),
                "b2": torch.round(self.l2.bias * 2.0 ** (a1 + f2)).clamp(-B_LIMIT, B_LIMIT),
                "w3": torch.round(self.l3.weight * 2.0 ** f3).clamp(-W_LIMIT, W_LIMIT),
                "b3": torch.round(self.l3.bias * 2.0 ** (a2 + f3)).clamp(-B_LIMIT, B_LIMIT)}
        ints = {k: v.to(torch.int32) for k, v in ints.items()}
        # integer path: h1 = floor(acc1 / 2**(f1 - a1)), h2 = floor(acc2 / 2**(a1 + f2 - a2)),
        # bin = floor(z / 2**(a2 + f3 - BIN_FRAC)) + BINS / 2
        shifts = {"shift1": f1 - a1, "shift2": a1 + f2 - a2, "shift3": a2 + f3 - BIN_FRAC}
        if min(shifts.values()) < 0:
            raise RuntimeError(f"a requantisation shift is negative: {shifts}")
        return ints, shifts
