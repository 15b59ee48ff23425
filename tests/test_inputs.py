"""Inputs users have (issue 18 item 5): 16-bit PNG/TIFF, greyscale, RGBA, 4:2:0 stills (.y4m, .yuv)
with PSNR-Y/U/V in ``ncodec eval``; every refusal is one line with its exit code."""

from __future__ import annotations

import json

import imagecodecs
import numpy as np
import pytest
from PIL import Image

from ncodec import api
from ncodec.cli import main
from ncodec.codecs.imageio import read_image, to_8bit
from ncodec.codecs.yuvstill import psnr_yuv, read_y4m_planes, rgb_to_yuv420, yuv420_to_rgb
from ncodec.errors import UnsupportedInputError, UsageError

from conftest import ASSETS


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return read_image(ASSETS / "kodim05_96x80.ppm")


def sixteen(photo: np.ndarray) -> np.ndarray:
    """A 16-bit version of a real photo with low bits that rounding must respect."""
    rng = np.random.default_rng(0)
    return (photo.astype(np.uint16) * 257 + rng.integers(-128, 128, photo.shape)).clip(0, 65535).astype(np.uint16)


def test_to_8bit_rounds_to_nearest() -> None:
    v = np.array([0, 128, 129, 257, 385, 386, 65535], dtype=np.uint16)
    np.testing.assert_array_equal(to_8bit(v), np.round(v / 257.0).astype(np.uint8))


@pytest.mark.parametrize("kind", ["rgb.png", "grey.png", "rgb.tif", "grey.tif"])
def test_16bit_files_are_coded_at_8_bits_with_a_note(tmp_path, photo, kind, capsys) -> None:
    deep = sixteen(photo)
    if kind.startswith("grey"):
        deep = deep[:, :, 1]
    path = tmp_path / f"in-{kind}"
    if kind.endswith(".png"):
        Image.fromarray(deep).save(path) if deep.ndim == 2 else path.write_bytes(imagecodecs.png_encode(deep))
    else:
        path.write_bytes(imagecodecs.tiff_encode(deep))
    notes: list[str] = []
    image = read_image(path, notes)
    np.testing.assert_array_equal(image, to_8bit(deep))  # not Pillow's silent high byte
    assert len(notes) == 1 and "16-bit input: coded at 8 bits" in notes[0]
    out = tmp_path / "o.ncd"
    assert main(["encode", str(path), str(out), "--codec", "png"]) == 0
    assert "note: 16-bit input" in capsys.readouterr().err
    assert main(["decode", str(out), str(tmp_path / "o.png")]) == 0
    np.testing.assert_array_equal(read_image(tmp_path / "o.png"), to_8bit(deep))


def test_16bit_bytes_and_pgm_are_rounded_not_truncated(tmp_path, photo) -> None:
    deep = sixteen(photo)
    data = imagecodecs.png_encode(deep)
    api.encode(data, tmp_path / "b.ncd", codec="png")
    np.testing.assert_array_equal(api.decode(tmp_path / "b.ncd"), to_8bit(deep))
    assert "16-bit input" in api.encode.last_stats["notes"][0]
    grey = deep[:, :, 0]
    pgm = tmp_path / "g.pgm"
    pgm.write_bytes(f"P5 {grey.shape[1]} {grey.shape[0]} 65535\n".encode() + grey.astype(">u2").tobytes())
    notes: list[str] = []
    np.testing.assert_array_equal(read_image(pgm, notes), to_8bit(grey))
    assert notes and "16-bit" in notes[0]


def test_greyscale_and_opaque_alpha_are_coded_transparent_alpha_refused(tmp_path, photo, capsys) -> None:
    grey = tmp_path / "g.png"
    Image.fromarray(photo[:, :, 0]).save(grey)
    data = api.encode(grey, codec="png")
    assert api.decode(data).shape == photo.shape[:2]
    rgba = np.concatenate([photo, np.full(photo.shape[:2] + (1,), 255, np.uint8)], axis=2)
    opaque = tmp_path / "a.png"
    Image.fromarray(rgba).save(opaque)
    api.encode(opaque, tmp_path / "a.ncd", codec="png")
    assert "alpha channel" in api.encode.last_stats["notes"][0]
    np.testing.assert_array_equal(api.decode(tmp_path / "a.ncd"), photo)
    rgba[3, 4, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "t.png")
    assert main(["encode", str(tmp_path / "t.png"), str(tmp_path / "t.ncd")]) == UnsupportedInputError.exit_code
    err = capsys.readouterr().err.strip()
    assert "transparent pixels" in err and len(err.splitlines()) == 1 and not (tmp_path / "t.ncd").exists()


def write_y4m(path, planes, frames: int = 1, colour: str = "C420jpeg") -> None:
    y, u, v = planes
    head = f"YUV4MPEG2 W{y.shape[1]} H{y.shape[0]} F25:1 Ip A1:1 {colour}\n".encode()
    body = b"".join(b"FRAME\n" + y.tobytes() + u.tobytes() + v.tobytes() for _ in range(frames))
    path.write_bytes(head + body)


def test_yuv_conversions_round_trip_closely(photo) -> None:
    planes = rgb_to_yuv420(photo)
    assert [p.shape for p in planes] == [(80, 96), (40, 48), (40, 48)]
    again = rgb_to_yuv420(yuv420_to_rgb(*planes))
    for a, b in zip(planes, again):  # exact but for rounding and RGB clipping of out-of-gamut samples
        diff = np.abs(a.astype(int) - b.astype(int))
        assert diff.mean() < 0.6 and np.percentile(diff, 99) <= 2
    assert psnr_yuv(planes, yuv420_to_rgb(*planes))["y"] > 45


def test_y4m_and_yuv_stills_encode_as_images(tmp_path, photo) -> None:
    planes = rgb_to_yuv420(photo)
    still = tmp_path / "s.y4m"
    write_y4m(still, planes)
    np.testing.assert_array_equal(np.concatenate([p.ravel() for p in read_y4m_planes(still)]),
                                  np.concatenate([p.ravel() for p in planes]))
    data = api.encode(still, tmp_path / "s.ncd", codec="jpeg", quality=90)  # an image codec, not a video
    assert any("4:2:0" in n for n in api.encode.last_stats["notes"])
    assert api.decode(data).shape == photo.shape
    api.encode(still, tmp_path / "d.ncd")  # a one-frame y4m goes to the default image codec
    assert api.info(tmp_path / "d.ncd")["modality"] == "image"
    raw = tmp_path / "s.yuv"
    raw.write_bytes(b"".join(p.tobytes() for p in planes) * 2)
    api.encode(raw, tmp_path / "r.ncd", codec="jpeg", quality=90, size=(96, 80))
    assert any("2 frames" in n for n in api.encode.last_stats["notes"])
    with pytest.raises(UsageError, match="needs its size"):
        api.encode(raw, tmp_path / "x.ncd", codec="jpeg")
    with pytest.raises(UnsupportedInputError, match="whole number"):
        api.encode(raw, tmp_path / "x.ncd", codec="jpeg", size=(90, 80))
    write_y4m(tmp_path / "c444.y4m", planes, colour="C444")
    with pytest.raises(UnsupportedInputError, match="not 8-bit 4:2:0"):
        api.encode(tmp_path / "c444.y4m", tmp_path / "x.ncd", codec="jpeg")


def test_eval_on_y4m_stills_reports_psnr_yuv(tmp_path, photo, capsys) -> None:
    folder = tmp_path / "stills"
    folder.mkdir()
    write_y4m(folder / "a.y4m", rgb_to_yuv420(photo))
    write_y4m(folder / "b.y4m", rgb_to_yuv420(photo[::-1].copy()))
    out = tmp_path / "e.json"
    assert main(["eval", str(folder), "--codec", "jpeg", "--qualities", "50,90", "-o", str(out), "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    assert sorted(r["image"] for r in doc["per_image"]) == ["a.y4m", "a.y4m", "b.y4m", "b.y4m"]
    y, u, v = (doc["results"][f"psnr-yuv-{k}"] for k in "yuv")
    assert y[1] > y[0] and all(20 < x < 60 for x in y + u + v)
    # a folder of multi-frame y4m clips is still a video evaluation
    clips = tmp_path / "clips"
    clips.mkdir()
    write_y4m(clips / "c.y4m", rgb_to_yuv420(photo), frames=3)
    from ncodec.evaluation.routing import eval_route

    assert eval_route(clips, "jpeg") == "video" and eval_route(folder, "jpeg") == "image"
