"""Video dataset loaders (UVG raw files, Vimeo-90k septuplets, generic folders) on files made from the
shipped real clip, and their errors when a dataset is absent."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import ASSETS
from ncodec import api
from ncodec.codecs.videoio import read_video, write_video
from ncodec.datasets.video import read_septuplet, read_source, uvg_sequences, video_sources, vimeo_septuplets
from ncodec.errors import UnsupportedInputError

CLIP = ASSETS / "cockatoo_96x64_8f.mkv"


def _to_yuv420(frames: np.ndarray, bits: int) -> bytes:
    """BT.709 limited-range planar 4:2:0, UVG's layout (10 bit: little-endian 16-bit words)."""
    rgb = frames.astype(np.float64) / 255
    y = 0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2]
    u, v = (rgb[..., 2] - y) / 1.8556, (rgb[..., 0] - y) / 1.5748
    scale = (1 << bits) - 1
    out = []
    for i in range(len(frames)):
        yy = (16 + 219 * y[i]) / 255
        uu, vv = ((128 + 224 * c[i]) / 255 for c in (u, v))
        uu, vv = (c.reshape(c.shape[0] // 2, 2, c.shape[1] // 2, 2).mean(axis=(1, 3)) for c in (uu, vv))
        for plane in (yy, uu, vv):
            q = np.round(plane * scale)
            out.append(q.astype("<u2" if bits > 8 else np.uint8).tobytes())
    return b"".join(out)


@pytest.mark.parametrize("bits", [8, 10])
def test_uvg_sequences_are_found_and_read(tmp_path, bits):
    frames = read_video(CLIP)
    (tmp_path / "uvg").mkdir()
    name = f"Cockatoo_96x64_25fps_420_{bits}bit_YUV.yuv"
    (tmp_path / "uvg" / name).write_bytes(_to_yuv420(frames, bits))
    (tmp_path / "uvg" / "notes.txt").write_text("ignored")
    (seq,) = uvg_sequences(tmp_path)
    assert (seq.name, seq.width, seq.height, seq.fps, seq.bits, seq.frame_count) == ("Cockatoo", 96, 64, 25, bits, 8)
    back = seq.read(frames=3, start=2)
    assert back.shape == (3, 64, 96, 3)
    mse = ((back.astype(float) - frames[2:5]) ** 2).mean()
    assert 10 * np.log10(255 ** 2 / mse) > 30  # only chroma subsampling and rounding separate them
    # the encoder reads UVG names without --size, and scales them when given one
    assert api.read_video_input(tmp_path / "uvg" / name, frames=2).shape == (2, 64, 96, 3)
    assert read_source(tmp_path / "uvg" / name, frames=2, size=(48, 32)).shape == (2, 32, 48, 3)


def test_vimeo_septuplets_follow_the_split_lists(tmp_path):
    frames = read_video(CLIP, frames=7)
    root = tmp_path / "vimeo_septuplet"
    for seq in ("00001/0001", "00001/0002"):
        folder = root / "sequences" / seq
        folder.mkdir(parents=True)
        for i, f in enumerate(frames, 1):
            Image.fromarray(f).save(folder / f"im{i}.png")
    (root / "sep_trainlist.txt").write_text("00001/0001\n")
    (root / "sep_testlist.txt").write_text("00001/0002\n\n")
    (test,) = vimeo_septuplets("test", tmp_path)
    assert test.parts[-2:] == ("00001", "0002")
    assert np.array_equal(read_septuplet(test), frames)
    (root / "sep_trainlist.txt").write_text("00001/0001\n00002/0001\n")
    with pytest.raises(UnsupportedInputError, match="1 of 2 septuplets"):
        vimeo_septuplets("train", tmp_path)
    (test / "im4.png").unlink()
    with pytest.raises(UnsupportedInputError, match="im4.png"):
        read_septuplet(test)


def test_generic_folders_list_clips_and_frame_folders(tmp_path):
    frames = read_video(CLIP, frames=4)
    write_video(tmp_path / "a.mkv", frames)
    write_video(tmp_path / "b", frames)
    (tmp_path / "readme.txt").write_text("not a video")
    (tmp_path / "empty").mkdir()
    sources = video_sources(tmp_path)
    assert [p.name for p in sources] == ["a.mkv", "b"]
    for p in sources:
        assert np.array_equal(read_source(p), frames)


def test_absent_datasets_say_where_they_were_looked_for(tmp_path):
    with pytest.raises(UnsupportedInputError, match="UVG not found at"):
        uvg_sequences(tmp_path)
    (tmp_path / "uvg").mkdir()
    with pytest.raises(UnsupportedInputError, match="no UVG-named"):
        uvg_sequences(tmp_path)
    with pytest.raises(UnsupportedInputError, match="sep_testlist.txt is missing"):
        vimeo_septuplets("test", tmp_path)
    with pytest.raises(UnsupportedInputError, match="splits"):
        vimeo_septuplets("valid", tmp_path)
    with pytest.raises(UnsupportedInputError, match="no video files"):
        video_sources(tmp_path / "uvg")
