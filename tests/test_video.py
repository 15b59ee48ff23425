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


def test_video_eval_over_a_folder_of_clips_feeds_plot_and_bdrate(tmp_path):
    import json
    import shutil

    from ncodec.evaluation.video_eval import run_video_eval
    from ncodec.evaluation.plot import plot_rd

    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(CLIP, folder / "a.mkv")
    write_video(folder / "b.mkv", read_video(CLIP)[::-1].copy())
    x265 = run_video_eval(folder, "x265", [24, 34, 44], tmp_path / "x265.json", frames=6)
    jpeg = run_video_eval(folder, "jpeg", [30, 60, 90], tmp_path / "jpeg.json", frames=6)
    assert x265["clips"] == ["a.mkv", "b.mkv"] and len(x265["per_clip"]) == 2
    for doc in (x265, jpeg):
        r = doc["results"]
        assert all(len(r[k]) == 3 for k in ("bpp", "psnr-rgb", "psnr-y", "encode_fps", "decode_fps"))
        clip_rows = doc["per_clip"][0]["rows"]
        assert all(len(row["psnr-rgb-per-frame"]) == 6 for row in clip_rows)
        assert np.isclose(r["bpp"][0], np.mean([c["results"]["bpp"][0] for c in doc["per_clip"]]))
    assert x265["results"]["bpp"][0] > x265["results"]["bpp"][2]  # lower CRF, more bits
    assert jpeg["results"]["psnr-rgb"][2] > jpeg["results"]["psnr-rgb"][0]
    assert json.loads((tmp_path / "x265.json").read_text())["name"] == "x265-yuv420p"
    plot_rd([str(tmp_path / "x265.json"), str(tmp_path / "jpeg.json")], tmp_path / "rd.png", ["psnr-rgb"],
            anchor=str(tmp_path / "x265.json"))
    assert (tmp_path / "rd.png").stat().st_size > 0


def test_video_eval_rejects_what_it_cannot_code(tmp_path):
    from ncodec.evaluation.video_eval import run_video_eval

    with pytest.raises(UnsupportedInputError, match="cannot code video"):
        run_video_eval(CLIP, "draco", None, tmp_path / "o.json")
    with pytest.raises(UnsupportedInputError, match="not found"):
        run_video_eval(tmp_path / "none.mp4", "x264", None, tmp_path / "o.json")
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("progress", [True, False])
def test_video_eval_shows_progress_on_stderr_unless_told_not_to(tmp_path, capsys, progress):
    from ncodec.evaluation.video_eval import run_video_eval

    doc = run_video_eval(CLIP, "jpeg", [30, 60], tmp_path / "jpeg.json", frames=2, progress=progress)
    assert len(doc["results"]["bpp"]) == 2
    captured = capsys.readouterr()
    if progress:
        assert "eval jpeg" in captured.err and "2/2" in captured.err  # one step per (clip, quality)
    else:
        assert captured.err == ""
    assert "eval jpeg" not in captured.out
