"""Video I/O (PyAV) and the x264/x265 baselines on a small real clip."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import ASSETS
from ncodec.codecs.videoio import read_video, read_yuv420, write_video
from ncodec.errors import UnsupportedInputError
from ncodec.evaluation.video_baselines import code_frames, evaluate

CLIP = ASSETS / "cockatoo_96x64_8f.mkv"


def test_read_clip_ranges_and_sizes():
    full = read_video(CLIP)
    assert full.shape == (8, 64, 96, 3) and full.dtype == np.uint8
    part = read_video(CLIP, frames=3, start=2)
    assert np.array_equal(part, full[2:5])
    small = read_video(CLIP, frames=2, size=(48, 48))
    assert small.shape == (2, 48, 48, 3)


@pytest.mark.parametrize("target", ["clip.mkv", "clip.mp4", "frames"])
def test_lossless_writers_round_trip(tmp_path, target):
    frames = read_video(CLIP)
    write_video(tmp_path / target, frames)
    assert np.array_equal(read_video(tmp_path / target), frames)


def test_y4m_is_within_two_levels(tmp_path):
    frames = read_video(CLIP, frames=4)
    write_video(tmp_path / "c.y4m", frames)
    back = read_video(tmp_path / "c.y4m")
    assert back.shape == frames.shape and np.abs(back.astype(int) - frames).max() <= 2


def test_raw_yuv420_reader(tmp_path):
    w, h = 16, 8
    y = np.full((h, w), 16 + 219 // 2, dtype=np.uint8)  # mid grey, limited range
    uv = np.full((h // 2, w // 2), 128, dtype=np.uint8)
    (tmp_path / "g.yuv").write_bytes((y.tobytes() + uv.tobytes() + uv.tobytes()) * 3)
    rgb = read_yuv420(tmp_path / "g.yuv", w, h)
    assert rgb.shape == (3, h, w, 3) and np.abs(rgb.astype(int) - 127).max() <= 1
    with pytest.raises(UnsupportedInputError):
        read_yuv420(tmp_path / "g.yuv", 15, 8)


def test_bad_video_inputs(tmp_path):
    (tmp_path / "e.mp4").write_bytes(b"")
    (tmp_path / "t.mp4").write_text("not a video")
    for path in (tmp_path / "missing.mp4", tmp_path / "e.mp4", tmp_path / "t.mp4"):
        with pytest.raises(UnsupportedInputError):
            read_video(path)


@pytest.mark.parametrize("codec", ["x264", "x265"])
def test_baselines_rate_and_quality_move_with_crf(codec):
    frames = read_video(CLIP)
    doc = evaluate(frames, codec, [40, 30, 20])
    bpp, psnr = doc["results"]["bpp"], doc["results"]["psnr-rgb"]
    assert bpp == sorted(bpp) and psnr == sorted(psnr) and psnr[-1] > 33
    size, decoded, _ = code_frames(frames, codec, 30, "yuv444p")
    assert decoded.shape == frames.shape and size > 0
