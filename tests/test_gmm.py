"""The context model with a Gaussian mixture per symbol (``checkerboard-channel-gmm``), issue 16 item 2."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ncodec.codecs import container
from ncodec.codecs.image import LearnedImageCodec
from ncodec.codecs.imageio import read_image
from ncodec.codecs.latent import EXP_STEPS, exp_table, integer_softmax
from ncodec.errors import NcodecError
from ncodec.models.image import build_model

from conftest import ASSETS, small_model
from fuzzlib import run_campaign

KIND = "checkerboard-channel-gmm"


@pytest.fixture(scope="module")
def codec() -> LearnedImageCodec:
    return LearnedImageCodec.from_model(small_model(KIND, N=8, M=12, hidden=8))


def test_integer_softmax_is_a_valid_integer_distribution():
    exp = exp_table()
    logits = torch.tensor([[0, 0, 0], [256, 0, -256], [5000, -5000, 0], [-3, -3, 10_000]], dtype=torch.int64)
    w = integer_softmax(logits, exp)
    assert (w.sum(-1) == 1 << 16).all() and (w >= 1).all()
    assert abs(int(w[0, 0]) - int(w[0, 1])) <= 2  # equal logits, equal weights (up to the remainder)
    assert w[1, 0] > w[1, 1] > w[1, 2]  # order follows the logits
    ratio = float(w[1, 0]) / float(w[1, 1])
    assert abs(ratio - np.e) < 0.01  # a logit step of 1 (256 units) is a factor e
    assert exp.numel() == EXP_STEPS + 1 and int(exp[0]) == 1 << 20


@pytest.mark.parametrize("backend", ["constriction", "compressai", "rans-interleaved"])
def test_round_trip_gives_the_coded_symbols_on_every_coder(codec, backend):
    img = read_image(ASSETS / "kodim21_64x64.png")
    enc = codec.compress(img, quality=2.0, backend=backend)
    header, sections = container.unpack(container.pack(enc.header, enc.sections))
    latents, _, _ = codec.decompress_latents(header, sections)
    for lat, ref in zip(latents, enc.latents):
        assert np.array_equal(lat["y"], ref["y"]) and np.array_equal(lat["z"], ref["z"])
    assert codec.decompress(header, sections).shape == img.shape


def test_mixture_changes_the_rate_not_the_latents():
    """Same weights apart from the mixture: identical symbols (the quantisation centre is the Gaussian
    mean), different bytes (the CDFs differ)."""
    gmm = small_model(KIND, N=8, M=12, hidden=8)
    ctx = build_model({k: v for k, v in gmm.config().items() if k != "components"} | {"kind": "checkerboard-channel"})
    ctx.load_state_dict({k: v for k, v in gmm.state_dict().items() if not k.startswith("mixture.")})
    img = read_image(ASSETS / "kodim19_203x147.jpg")
    a = LearnedImageCodec.from_model(gmm).compress(img, quality=2.0)
    b = LearnedImageCodec.from_model(ctx.eval()).compress(img, quality=2.0)
    assert all(np.array_equal(x["y"], y["y"]) for x, y in zip(a.latents, b.latents))
    assert a.sections[1:] != b.sections[1:]


def test_zero_mixture_net_is_the_gaussian_model():
    """With its mixture net's output at zero the mixture is K copies of the Gaussian: same likelihoods,
    so a model initialised from a trained Gaussian context model starts where that model is."""
    torch.manual_seed(0)
    gmm = build_model({"kind": KIND, "N": 8, "M": 12, "lambdas": [0.01, 0.02], "hidden": 8})
    with torch.no_grad():
        for net in gmm.mixture:
            net.net[-1].weight.zero_()
    ctx = build_model({"kind": "checkerboard-channel", "N": 8, "M": 12, "lambdas": [0.01, 0.02], "hidden": 8})
    ctx.load_state_dict({k: v for k, v in gmm.state_dict().items() if not k.startswith("mixture.")})
    x = torch.rand(1, 3, 128, 128)
    torch.manual_seed(1)
    a = gmm(x, torch.tensor([1]))["likelihoods"]["y"]
    torch.manual_seed(1)
    b = ctx(x, torch.tensor([1]))["likelihoods"]["y"]
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)


def test_one_and_two_threads_give_identical_bytes(codec):
    img = read_image(ASSETS / "kodim19_203x147.jpg")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = codec.compress(img, quality=1.5).sections
        torch.set_num_threads(2)
        two = codec.compress(img, quality=1.5).sections
    finally:
        torch.set_num_threads(before)
    assert one == two


def test_fuzzed_streams_end_in_an_error_or_an_image(codec):
    seeds = [container.pack(e.header, e.sections) for e in
             (codec.compress(read_image(ASSETS / "kodim21_64x64.png"), quality=q) for q in (1.0, 2.0, 3.0))]

    def decode(data: bytes) -> np.ndarray:
        header, sections = container.unpack(data)
        return codec.decompress(header, sections)

    stats = run_campaign(decode, seeds, cases=600, seed=16)
    assert stats["cases"] == 600 and not stats["failures"], stats["failures"][:5]
    assert stats["errors"] > 50


def test_truncated_group_section_is_a_bitstream_error(codec):
    enc = codec.compress(read_image(ASSETS / "kodim21_64x64.png"), quality=2.0)
    for cut in (enc.sections[1][:3], enc.sections[1][:-1], enc.sections[1] + b"\0"):
        sections = [enc.sections[0], cut, *enc.sections[2:]]
        with pytest.raises(NcodecError):
            codec.decompress(enc.header, sections)
