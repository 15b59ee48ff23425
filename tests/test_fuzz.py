"""Fuzzing the decoder: >= 2,000 mutated bitstreams end in an NcodecError or a correctly shaped image."""

from __future__ import annotations

import pytest

from ncodec import api
from ncodec.codecs.registry import DEFAULT_CODEC, load_codec

from conftest import ASSETS
from fuzzlib import run_campaign


@pytest.mark.parametrize("backend,seed", [("constriction", 1), ("compressai", 2)])
def test_fuzz_default_codec(backend, seed):
    load_codec(DEFAULT_CODEC)
    seeds = [api.encode(ASSETS / "kodim21_64x64.png", quality=q, backend=backend) for q in (1.0, 2.7, 4.0)]
    seeds.append(api.encode(ASSETS / "kodim15_grey_160x120.png", quality=2.0, backend=backend))
    stats = run_campaign(lambda data: api.decode(data), seeds, cases=500, seed=seed)  # 2 x 20,000: scripts/fuzz.py
    assert stats["cases"] == 500
    assert not stats["failures"], stats["failures"][:5]
    assert stats["images"] > 25 and stats["errors"] > 25  # both outcomes are exercised


def test_fuzz_classical_payloads():
    points = (("jpeg", 30), ("webp", 60), ("avif", 50), ("jpeg2000", 30), ("jpeg-xl", 50), ("hevc-intra", 37),
              ("png", 6), ("webp-lossless", 10))
    seeds = [api.encode(ASSETS / "kodim21_64x64.png", codec=c, quality=q) for c, q in points]
    seeds += [api.encode(ASSETS / "kodim15_grey_160x120.png", codec=c, quality=q) for c, q in points[::2]]
    stats = run_campaign(lambda data: api.decode(data), seeds, cases=1200, seed=3)
    assert not stats["failures"], stats["failures"][:5]
