"""Classical baselines behind the codec interface: round trips, agreement with the libraries, damage."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image

from ncodec.codecs import container
from ncodec.codecs.classical import CLASSICAL, jxl_codestream_size, rgb_to_ycbcr, ycbcr_to_rgb
from ncodec.codecs.imageio import read_image
from ncodec.codecs.registry import load_codec
from ncodec.errors import BitstreamError, MissingDependencyError, UnsupportedInputError, UsageError
from ncodec.evaluation.metrics import psnr_rgb

from conftest import ASSETS

LOSSLESS = {"png", "webp-lossless"}

def asset_images() -> dict[str, np.ndarray]:
    return {p.name: read_image(p) for p in sorted(ASSETS.glob("kodim*"))}

def _round_trip(codec, image, quality):
    enc = codec.compress(image, quality)
    header, sections = container.unpack(container.pack(enc.header, enc.sections))
    return enc, codec.decompress(header, sections)

@pytest.mark.parametrize("name", sorted(CLASSICAL))
def test_round_trip_every_asset(name):
    codec = load_codec(name)
    lo, hi = codec.quality_range
    for image in asset_images().values():
        enc, out = _round_trip(codec, image, codec.default_quality)
        assert out.shape == image.shape and out.dtype == np.uint8
        if name in LOSSLESS:
            assert np.array_equal(out, image)
        else:
            assert psnr_rgb(image, out) > 25
    if name not in LOSSLESS:  # the quality knob moves the rate in the documented direction
        image = asset_images()["kodim19_203x147.jpg"]
        low, high = sorted(codec.eval_qualities)[0], sorted(codec.eval_qualities)[-1]
        size = {q: len(codec.compress(image, q).sections[0]) for q in (low, high)}
        assert (size[low] < size[high]) == codec.higher_quality_is_better
    with pytest.raises(UsageError):  # a quality outside the range is a usage error (exit 2)
        codec.compress(image, hi + 1)

def test_payloads_match_the_libraries():
    image = asset_images()["kodim05_96x80.ppm"]
    enc, out = _round_trip(load_codec("avif"), image, 60)
    assert np.array_equal(out, np.asarray(Image.open(io.BytesIO(enc.sections[0])).convert("RGB")))
    import imagecodecs

    enc, out = _round_trip(load_codec("jpeg-xl"), image, 80)
    assert np.array_equal(out, imagecodecs.jpegxl_decode(enc.sections[0]))
    assert jxl_codestream_size(enc.sections[0]) == (96, 80)

def test_jxl_size_header_parser():
    import imagecodecs

    for w, h in [(1, 1), (8, 8), (16, 9), (767, 511), (1000, 3), (4000, 3000), (1920, 1080), (640, 480), (96, 80)]:
        data = imagecodecs.jpegxl_encode(np.zeros((h, w), np.uint8), distance=2.0, effort=1)
        assert jxl_codestream_size(data) == (w, h)
    with pytest.raises(BitstreamError):
        jxl_codestream_size(b"\x89PNG\r\n\x1a\n" + bytes(8))

def test_hevc_colour_conversion_and_grey():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    assert psnr_rgb(rgb, ycbcr_to_rgb(rgb_to_ycbcr(rgb))) > 45  # 8-bit full-range YCbCr alone
    grey = rng.integers(0, 256, (40, 56), dtype=np.uint8)
    assert np.array_equal(rgb_to_ycbcr(np.repeat(grey[..., None], 3, axis=2))[0], grey)
    codec = load_codec("hevc-intra")
    _, out = _round_trip(codec, grey, 4)
    assert psnr_rgb(grey, out) > 40

@pytest.mark.parametrize("name", sorted(CLASSICAL))
def test_damaged_and_mismatched_payloads(name):
    codec = load_codec(name)
    image = asset_images()["kodim21_64x64.png"]
    enc = codec.compress(image, codec.default_quality)
    payload = enc.sections[0]
    for bad in (payload[: len(payload) // 3], b"", bytes(64), payload[:20] + bytes(len(payload) - 20)):
        try:
            out = codec.decompress(enc.header, [bad])
            assert out.shape == image.shape  # a decoder may conceal damage, never change the shape
        except BitstreamError:
            pass
    from dataclasses import replace

    bigger = replace(enc.header, shape=(3, 32, 32))  # the payload holds a 64x64 image
    with pytest.raises(BitstreamError):
        codec.decompress(bigger, [payload])

def test_missing_library_names_the_package(monkeypatch):
    image = asset_images()["kodim21_64x64.png"]
    monkeypatch.setitem(sys.modules, "imagecodecs", None)
    with pytest.raises(MissingDependencyError, match="pip install imagecodecs"):
        load_codec("jpeg-xl").compress(image, 50)
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(MissingDependencyError, match="pip install av"):
        load_codec("hevc-intra").compress(image, 30)
