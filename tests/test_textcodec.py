"""OCR-oriented text-page codec (issue 21, item 3): its training pages share no font or text with the
evaluation pages, it codes luma only and decodes grey pages through the real coders with exact latents,
and ``ncodec train --codec ocr-text --no-flips`` trains it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ncodec.codecs.image import LearnedImageCodec, save_weights
from ncodec.datasets import textpages
from ncodec.datasets.images import PatchSampler

from conftest import round_trip_through_container, small_model


def test_training_pages_share_no_font_or_text_with_the_evaluation_pages():
    fonts = textpages.training_fonts()
    if not fonts:
        pytest.skip("training fonts not installed (Debian fonts-freefont-ttf fonts-crosextra-carlito "
                    "fonts-crosextra-caladea fonts-urw-base35; scripts/setup.sh installs them as root)")
    families = {f.name.split("-")[0].split(".")[0].lower() for f in fonts}
    assert not any(name.startswith(("dejavu", "liberation")) for name in families)
    assert len(families) >= 8
    words = textpages.training_words()
    training_text = " ".join(words)
    corpus = textpages.CORPUS.read_text(encoding="utf-8").split("\n")
    sentences = [" ".join(line.split()[:6]) for line in corpus if len(line.split()) >= 6]
    assert sentences and not any(s in training_text for s in sentences)
    first, text = textpages.render_training_page(7, width=384, height=320, fonts=fonts, words=words)
    again, _ = textpages.render_training_page(7, width=384, height=320, fonts=fonts, words=words)
    assert first.shape == (320, 384, 3) and np.array_equal(first, again) and text.strip()
    assert not np.array_equal(first, textpages.render_training_page(8, width=384, height=320, fonts=fonts,
                                                                    words=words)[0])



def test_text_patches_are_balanced_reproducible_and_carry_the_words(tmp_path):
    """The compressed-domain text/no-text set: half the patches carry text, the same seed gives the same
    patches, and a text patch differs from the photo crop it was drawn on only by the words."""
    fonts = textpages.available_fonts()
    if not fonts:
        pytest.skip("evaluation fonts not installed (Debian fonts-dejavu-core fonts-liberation2)")
    rows, cols = np.mgrid[0:200, 0:240]
    photo = np.stack([rows, cols, (rows + cols) // 2], axis=-1).astype(np.uint8)
    words = ["alpha", "beta", "gamma", "delta"]
    patches, labels = textpages.text_patches([photo], 24, 5, fonts, words, size=48)
    again, labels_again = textpages.text_patches([photo], 24, 5, fonts, words, size=48)
    assert patches.shape == (24, 48, 48, 3) and patches.dtype == np.uint8
    assert np.array_equal(patches, again) and np.array_equal(labels, labels_again) and int(labels.sum()) == 12
    # the photo is a smooth ramp: only drawn strokes make large jumps between neighbouring pixels
    jumps = np.abs(np.diff(patches.astype(np.int16), axis=2)).max(axis=(1, 2, 3))
    assert bool((jumps[labels == 1] > 40).all()) and bool((jumps[labels == 0] <= 8).all())

def test_patch_sampler_without_flips_keeps_orientation(tmp_path):
    rows, cols = np.mgrid[0:120, 0:100]
    img = np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "grid.png")
    batch = PatchSampler([tmp_path / "grid.png"], 32, seed=3, flips=False).sample(16) * 255
    assert bool((batch[:, 0, 1:, :] - batch[:, 0, :-1, :] == 1).all())  # rows grow downwards
    assert bool((batch[:, 1, :, 1:] - batch[:, 1, :, :-1] == 1).all())  # columns grow rightwards
    flipped = PatchSampler([tmp_path / "grid.png"], 32, seed=3).sample(16) * 255
    assert bool((flipped[:, 0, 1:, :] - flipped[:, 0, :-1, :] == -1).any())


def test_grey_output_trains_the_luma_fit():
    model = small_model("ocr-text", N=16, M=8)
    x = torch.rand(2, 3, 64, 64)
    x_hat = model(x, torch.tensor([0, 2]))["x_hat"]
    assert x_hat.shape == x.shape and torch.equal(x_hat[:, 0], x_hat[:, 1]) and torch.equal(x_hat[:, 1], x_hat[:, 2])
    # RGB error of a grey page = error against the channel mean + a constant the model cannot change
    grey = x_hat[:, :1]
    rgb = torch.mean((x_hat - x) ** 2)
    luma = torch.mean((grey - x.mean(dim=1, keepdim=True)) ** 2) + torch.mean(x.var(dim=1, unbiased=False))
    assert torch.allclose(rgb, luma, atol=1e-6)


@pytest.mark.parametrize("backend", ["constriction", "compressai"])
def test_ocr_text_round_trips_real_images_to_grey_with_exact_latents(backend, asset_images, tmp_path):
    model = small_model("ocr-text", N=16, M=8)
    assert model.downsample == 16 and model.latent_codec == "factorized"
    with torch.no_grad():  # a fresh analysis of one channel gives tiny latents: make them non-trivial
        model.g_a[-1].weight.mul_(20.0)
    save_weights(model, tmp_path / "w.ncw")
    codec = LearnedImageCodec.from_file(tmp_path / "w.ncw")
    assert codec.name == "ocr-text"
    results = round_trip_through_container(codec, asset_images, backend)
    for name, img, out, _ in results:
        assert out.shape[:2] == img.shape[:2], name
        if out.ndim == 3:
            assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2]), name
    sizes = [size for *_, size in results]
    half = len(sizes) // 2
    assert sum(sizes[half:]) > sum(sizes[:half])  # the higher rate level spends more bytes


def test_train_cli_trains_ocr_text_without_flips(tmp_path):
    from ncodec.cli import main

    data = tmp_path / "pages"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        page = np.full((96, 96, 3), 240, np.uint8)
        page[rng.integers(0, 96, 300), rng.integers(0, 96, 300)] = 20
        Image.fromarray(page).save(data / f"p{i}.png")
    args = ["train", "--codec", "ocr-text", "--N", "16", "--M", "8", "--no-flips", "--data", str(data),
            "--val-count", "1", "--out", str(tmp_path / "run"), "--steps", "3", "--batch-size", "2",
            "--patch-size", "64", "--val-every", "0", "--no-progress", "--threads", "1"]
    assert main(args) == 0
    codec = LearnedImageCodec.from_file(tmp_path / "run" / "model.ncw")
    assert codec.name == "ocr-text" and codec.model.g_a[1].in_channels == 1
