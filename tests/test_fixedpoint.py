"""Fixed-point entropy-parameter path: exact integer arithmetic, invariance to threads and layout."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ncodec.entropy.fixedpoint import (A_FRAC, FixedPointNet, exact_conv2d, exact_conv_transpose2d)
from ncodec.models.layers import conv, deconv


def _net(seed: int = 0) -> FixedPointNet:
    torch.manual_seed(seed)
    return FixedPointNet([deconv(8, 12), nn.ReLU(), deconv(12, 18), nn.ReLU(), conv(18, 24, 3, 1)])


def test_exact_convs_match_torch_on_integers():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-2000, 2000, (1, 8, 5, 7), generator=g).double()
    w = torch.randint(-3000, 3000, (12, 8, 5, 5), generator=g).double()
    assert torch.equal(exact_conv2d(x, w, 2), F.conv2d(x, w, padding=2))
    wt = torch.randint(-3000, 3000, (8, 12, 5, 5), generator=g).double()
    ref = F.conv_transpose2d(x, wt, stride=2, padding=2, output_padding=1)
    assert torch.equal(exact_conv_transpose2d(x, wt, 2, 2, 1), ref)


def test_fixed_path_tracks_float_and_qat():
    net = _net()
    params = net.export()
    z = torch.randint(-6, 7, (1, 8, 4, 5))
    fixed = net.run_fixed(params, z).double() / (1 << A_FRAC)
    with torch.no_grad():
        ref = net(z.float()).double()
        net.qat = True
        fake = net(z.float()).double()
    assert fixed.shape == ref.shape == (1, 24, 16, 20)
    assert (fixed - ref).abs().max() < 0.05
    assert (fixed - fake).abs().max() < 0.02


def test_fixed_path_is_invariant_to_threads_layout_and_dtype():
    net = _net(1)
    params = net.export()
    z = torch.randint(-40, 41, (1, 8, 6, 6))
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = net.run_fixed(params, z)
        torch.set_num_threads(2)
        two = net.run_fixed(params, z)
    finally:
        torch.set_num_threads(old)
    cl = net.run_fixed(params, z.contiguous(memory_format=torch.channels_last))
    net_double = _net(1).double()  # float parts in float64 must not matter: only integers are used
    dbl = net_double.run_fixed(params, z)
    assert torch.equal(one, two) and torch.equal(one, cl) and torch.equal(one, dbl)
    assert one.dtype == torch.int64


def test_extreme_inputs_stay_bounded():
    net = _net(2)
    params = net.export()
    z = torch.full((1, 8, 2, 2), 10**9, dtype=torch.int64)
    out = net.run_fixed(params, z)
    assert out.abs().max() < 2**21


def test_polyphase_transposed_conv_matches_zero_insertion():
    from ncodec.entropy.fixedpoint import _zero_insert_conv_transpose2d

    g = torch.Generator().manual_seed(1)
    for k, p in ((5, 2), (3, 1)):
        x = torch.randint(-500, 500, (2, 6, 4, 3), generator=g).double()
        w = torch.randint(-900, 900, (6, 5, k, k), generator=g).double()
        assert torch.equal(exact_conv_transpose2d(x, w, 2, p, 1), _zero_insert_conv_transpose2d(x, w, 2, p, 1))
        assert torch.equal(exact_conv_transpose2d(x, w, 2, p, 1), F.conv_transpose2d(x, w, stride=2, padding=p, output_padding=1))
