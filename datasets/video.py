"""Video datasets read from local folders: UVG (raw 1080p YUV as UVG ships it), Vimeo-90k septuplets, and
generic folders of clips or frame folders. Nothing is downloaded; a missing dataset is a one-line error
that says where it was looked for.

Layouts (under the data root, ``$NCODEC_DATA`` or ``../shared/data``):

- ``uvg/``: UVG's files, e.g. ``Beauty_1920x1080_120fps_420_8bit_YUV.yuv`` (8 bit) or
  ``Bosphorus_1920x1080_120fps_420_10bit_YUV.yuv`` (10 bit little-endian); size, rate and bit depth are
  read from the name.
- ``vimeo_septuplet/``: ``sequences/00001/0001/im1.png … im7.png`` with ``sep_trainlist.txt`` and
  ``sep_testlist.txt`` naming the ``00001/0001`` folders of each split.
- any folder: video files (mp4, mkv, avi, mpg, y4m, …) and sub-folders of image frames.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ncodec.codecs.videoio import VIDEO_SUFFIXES, read_video, read_yuv420, resize_cover
from ncodec.datasets.images import data_root
from ncodec.errors import UnsupportedInputError

UVG_NAME = re.compile(r"^(?P<name>[A-Za-z0-9]+)_(?P<w>\d+)x(?P<h>\d+)_(?P<fps>\d+)fps_420_(?P<bits>8|10)bit_YUV\.yuv$")
FRAME_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".bmp"}


@dataclass(frozen=True)
class UVGSequence:
    """One raw UVG file and the format its name states."""

    path: Path
    name: str
    width: int
    height: int
    fps: int
    bits: int

    @property
    def frame_count(self) -> int:
        sample = 2 if self.bits > 8 else 1
        return self.path.stat().st_size // (self.width * self.height * 3 // 2 * sample)

    def read(self, frames: int | None = None, start: int = 0) -> np.ndarray:
        """uint8 RGB frames (T, H, W, 3), BT.709 limited range as UVG is graded."""
        return read_yuv420(self.path, self.width, self.height, frames=frames, start=start, bits=self.bits)


def _root(root: str | os.PathLike | None, sub: str) -> Path:
    return (Path(root) if root is not None else data_root()) / sub


def uvg_sequences(root: str | os.PathLike | None = None) -> list[UVGSequence]:
    """The UVG sequences found under ``root/uvg`` (default data root), sorted by name."""
    folder = _root(root, "uvg")
    if not folder.is_dir():
        raise UnsupportedInputError(f"UVG not found at {folder}: put UVG's raw *_420_8bit_YUV.yuv files there "
                                    "(nothing is downloaded)")
    found = []
    for p in sorted(folder.iterdir()):
        m = UVG_NAME.match(p.name)
        if m and p.is_file():
            found.append(UVGSequence(p, m["name"], int(m["w"]), int(m["h"]), int(m["fps"]), int(m["bits"])))
    if not found:
        raise UnsupportedInputError(f"no UVG-named .yuv files in {folder} (e.g. Beauty_1920x1080_120fps_420_8bit_YUV.yuv)")
    return found


def vimeo_septuplets(split: str = "test", root: str | os.PathLike | None = None) -> list[Path]:
    """Folders of the Vimeo-90k septuplets of ``split`` (train or test), as the split list names them."""
    if split not in ("train", "test"):
        raise UnsupportedInputError(f"Vimeo-90k splits are train and test, not {split!r}")
    folder = _root(root, "vimeo_septuplet")
    listing = folder / f"sep_{split}list.txt"
    if not listing.is_file():
        raise UnsupportedInputError(f"Vimeo-90k septuplets not found: {listing} is missing (unpack "
                                    "vimeo_septuplet.zip under the data root; nothing is downloaded)")
    names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    folders = [folder / "sequences" / n for n in names]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise UnsupportedInputError(f"{len(missing)} of {len(folders)} septuplets listed in {listing.name} are "
                                    f"missing, e.g. {missing[0]}")
    return folders


def read_septuplet(folder: str | os.PathLike) -> np.ndarray:
    """The seven frames im1..im7 of a septuplet as uint8 RGB (7, H, W, 3)."""
    from ncodec.codecs.imageio import read_image

    folder = Path(folder)
    files = [folder / f"im{i}.png" for i in range(1, 8)]
    absent = [f.name for f in files if not f.is_file()]
    if absent:
        raise UnsupportedInputError(f"septuplet {folder} lacks {', '.join(absent)}")
    frames = [read_image(f) for f in files]
    if any(f.ndim != 3 for f in frames) or len({f.shape for f in frames}) != 1:
        raise UnsupportedInputError(f"septuplet {folder} frames are not RGB images of one size")
    return np.stack(frames)


def video_sources(folder: str | os.PathLike) -> list[Path]:
    """Video files and frame folders (sub-folders holding images) directly inside ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UnsupportedInputError(f"video folder not found: {folder}")
    out = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
            out.append(p)
        elif p.is_dir() and any(f.suffix.lower() in FRAME_SUFFIXES for f in p.iterdir()):
            out.append(p)
    if not out:
        raise UnsupportedInputError(f"no video files or frame folders in {folder}")
    return out


def read_source(path: str | os.PathLike, frames: int | None = None, start: int = 0,
                size: tuple[int, int] | None = None) -> np.ndarray:
    """Frames of a clip, a frame folder or a UVG-named raw file, optionally scaled and cropped to ``size``."""
    p = Path(path)
    m = UVG_NAME.match(p.name)
    if m and p.is_file():
        seq = UVGSequence(p, m["name"], int(m["w"]), int(m["h"]), int(m["fps"]), int(m["bits"]))
        clip = seq.read(frames, start)
        if size is not None:
            clip = np.stack([resize_cover(f, *size) for f in clip])
        return clip
    return read_video(p, frames=frames, start=start, size=size)
