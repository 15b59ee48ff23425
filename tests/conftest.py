"""Shared fixtures: small real assets, small seeded models of every registered architecture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ncodec.codecs.image import LearnedImageCodec
from ncodec.codecs.imageio import read_image
from ncodec.datasets.images import data_root
from ncodec.models.image import build_model

ASSETS = Path(__file__).resolve().parent / "assets"
SAMPLE = Path(__file__).resolve().parent.parent / "ncodec" / "data" / "sample.png"
KINDS = ("factorized", "hyperprior", "mean-scale-hyperprior", "checkerboard-channel")


def small_model(kind: str, seed: int = 0, N: int = 16, M: int = 24, **config):
    torch.manual_seed(seed)
    model = build_model({"kind": kind, "N": N, "M": M, "lambdas": [0.002, 0.01, 0.05], **config})
    # spread the gains so the levels really differ, as after training
    with torch.no_grad():
        model.log_gain.copy_(torch.linspace(1.5, 3.5, 3)[:, None].expand_as(model.log_gain))
        model.log_inv_gain.copy_(-model.log_gain)
        if hasattr(model, "h_a"):  # random hyper-analysis outputs are tiny: make z non-trivial
            model.h_a[-1].weight.mul_(40.0)
        for net in getattr(model, "mixture", []):  # components that really differ from one Gaussian
            net.net[-1].weight.normal_(0.0, 0.05)
    return model.eval()


def round_trip_through_container(codec: LearnedImageCodec, images: dict[str, np.ndarray], backend: str,
                                 qualities=(1.0, 3.0)) -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    """Encode each image at each quality, pack and unpack the container, check the decoded latents are
    the encoder's exactly, decode; returns (name, input, output, section bytes) in quality order."""
    from ncodec.codecs import container

    results = []
    for quality in qualities:
        for name, img in images.items():
            enc = codec.compress(img, quality=quality, backend=backend)
            header, sections = container.unpack(container.pack(enc.header, enc.sections))
            latents, _, _ = codec.decompress_latents(header, sections)
            assert all(np.array_equal(a["y"], b["y"]) for a, b in zip(enc.latents, latents)), name
            out = codec.decompress(header, sections)
            assert out.dtype == np.uint8, name
            results.append((name, img, out, sum(len(s) for s in enc.sections)))
    return results


@pytest.fixture(scope="session")
def small_codecs() -> dict[str, LearnedImageCodec]:
    return {kind: LearnedImageCodec.from_model(small_model(kind)) for kind in KINDS}


@pytest.fixture(scope="session")
def asset_images() -> dict[str, np.ndarray]:
    return {p.name: read_image(p) for p in sorted(ASSETS.glob("kodim*"))}


def shared_kodak() -> Path | None:
    path = data_root() / "kodak"
    return path if path.is_dir() else None
