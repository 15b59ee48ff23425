"""WaLLoC-style codec (issue 21): the wavelet packet transform is exactly invertible, the codec round-trips
real images through the real coders, and ``ncodec train --codec walloc`` trains it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ncodec.codecs.image import LearnedImageCodec, save_weights
from ncodec.models.walloc import WaveletAutoencoder, wavelet_packet_analysis, wavelet_packet_synthesis

from conftest import round_trip_through_container, small_model


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_wavelet_packet_is_invertible_and_nearly_orthonormal(levels):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 48, 80, dtype=torch.float64)
    bands = wavelet_packet_analysis(x, levels)
    assert bands.shape == (2, 3 * 4 ** levels, 48 >> levels, 80 >> levels)
    assert torch.allclose(wavelet_packet_synthesis(bands, levels), x, atol=1e-12, rtol=0)
    energy = float((bands ** 2).sum() / (x ** 2).sum())
    assert 0.97 < energy < 1.06  # near-orthonormal scaling of the CDF 9/7 bands
    # a constant image puts all its energy into the first (LL...L) band of each colour
    flat = wavelet_packet_analysis(torch.ones(1, 3, 32, 32, dtype=torch.float64), levels)
    per_colour = flat.reshape(1, 3, 4 ** levels, -1)
    assert float(per_colour[:, :, 1:].abs().max()) < 1e-9
    with pytest.raises(ValueError):
        wavelet_packet_analysis(torch.zeros(1, 3, 31, 32), 1)


@pytest.mark.parametrize("backend", ["constriction", "compressai"])
def test_walloc_round_trips_real_images_with_exact_latents(backend, asset_images, tmp_path):
    model = small_model("walloc", N=32, M=8)
    assert model.downsample == 8 and model.latent_codec == "factorized"
    save_weights(model, tmp_path / "w.ncw")
    codec = LearnedImageCodec.from_file(tmp_path / "w.ncw")
    assert codec.name == "walloc"
    results = round_trip_through_container(codec, asset_images, backend)
    assert all(out.shape == img.shape for _, img, out, _ in results)
    sizes = [size for *_, size in results]
    half = len(sizes) // 2
    assert sum(sizes[half:]) > sum(sizes[:half])  # the higher rate level spends more bytes


def test_encoder_is_shallow():
    costs = WaveletAutoencoder(N=128, M=32).macs_per_pixel()
    assert costs["encoder"] < 1500 and costs["decoder"] > 5 * costs["encoder"]
    assert costs["wavelet"] == 3 * 3 * 2 * 3


def test_train_cli_trains_walloc_and_checks_its_option(tmp_path):
    from ncodec.cli import main

    data = tmp_path / "photos"
    data.mkdir()
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(data / f"p{i}.png")
    args = ["train", "--codec", "walloc", "--N", "16", "--M", "8", "--wavelet-levels", "2", "--data", str(data),
            "--val-count", "1", "--out", str(tmp_path / "run"), "--steps", "3", "--batch-size", "2",
            "--patch-size", "64", "--val-every", "0", "--no-progress", "--threads", "1"]
    assert main(args) == 0
    codec = LearnedImageCodec.from_file(tmp_path / "run" / "model.ncw")
    assert codec.model.wavelet_levels == 2 and codec.downsample == 4
    bad = ["train", "--codec", "factorized", "--wavelet-levels", "2", "--data", str(data), "--out", str(tmp_path / "x")]
    assert main(bad) != 0
