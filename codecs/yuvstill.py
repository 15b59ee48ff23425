"""Y'CbCr 4:2:0 still images: single-frame ``.y4m`` files and raw planar ``.yuv`` frames.

The image codecs code RGB, so a 4:2:0 still is converted to RGB with BT.709 limited-range matrices
(as ``videoio.read_yuv420`` reads UVG), chroma upsampled by sample repetition. ``ncodec eval`` then
converts the decoded RGB back to 4:2:0 (same matrix, 2x2 chroma means) and measures PSNR on the Y, U
and V planes against the file's own planes, the numbers video-codec users compare. Only 8-bit 4:2:0
is read (y4m colour spaces ``420``, ``420jpeg``, ``420paldv``, ``420mpeg2``); others get a one-line error.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ncodec.errors import UnsupportedInputError

Y4M_MAGIC = b"YUV4MPEG2 "
Y4M_420 = {"420", "420jpeg", "420paldv", "420mpeg2"}
MAX_HEADER = 1024


def _y4m_header(p: Path) -> tuple[int, int, int, int]:
    """(width, height, offset of the first frame's data, frame count) of an 8-bit 4:2:0 y4m file."""
    with open(p, "rb") as f:
        head = f.read(MAX_HEADER)
    if not head.startswith(Y4M_MAGIC) or b"\n" not in head:
        raise UnsupportedInputError(f"{p.name} is not a y4m file (no YUV4MPEG2 header)")
    line = head[: head.index(b"\n")].decode("ascii", "replace").split()
    fields = {tok[0]: tok[1:] for tok in line[1:] if tok}
    try:
        width, height = int(fields["W"]), int(fields["H"])
    except (KeyError, ValueError):
        raise UnsupportedInputError(f"{p.name}: the y4m header has no valid W and H") from None
    colour = fields.get("C", "420jpeg")
    if colour not in Y4M_420:
        raise UnsupportedInputError(f"{p.name}: y4m colour space C{colour} is not 8-bit 4:2:0 "
                                    f"(read: {', '.join('C' + c for c in sorted(Y4M_420))})")
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise UnsupportedInputError(f"{p.name}: 4:2:0 needs even, positive width and height, got {width}x{height}")
    from ncodec.codecs.imageio import check_image_size

    check_image_size(width, height)
    start = head.index(b"\n") + 1
    frame_bytes = width * height * 3 // 2
    size = p.stat().st_size - start
    # every frame is "FRAME[ params]\n" + data; the common case has no frame parameters (6 bytes)
    count = size // (frame_bytes + 6)
    return width, height, start, count


def y4m_frame_count(path: str | os.PathLike) -> int:
    """Frames of an 8-bit 4:2:0 y4m file (assuming frame headers without parameters)."""
    return _y4m_header(Path(path))[3]


def is_y4m_still(path: str | os.PathLike) -> bool:
    """True for a readable 8-bit 4:2:0 y4m file holding exactly one frame."""
    p = Path(path)
    if p.suffix.lower() != ".y4m" or not p.is_file():
        return False
    try:
        return _y4m_header(p)[3] == 1
    except UnsupportedInputError:
        return False


def read_y4m_planes(path: str | os.PathLike, notes: list[str] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Y, U, V planes (uint8) of the first frame of an 8-bit 4:2:0 y4m file."""
    p = Path(path)
    if not p.is_file():
        raise UnsupportedInputError(f"input file not found: {p}")
    width, height, start, count = _y4m_header(p)
    with open(p, "rb") as f:
        f.seek(start)
        marker = f.readline(MAX_HEADER)
        if not marker.startswith(b"FRAME"):
            raise UnsupportedInputError(f"{p.name}: no FRAME after the y4m header")
        data = f.read(width * height * 3 // 2)
    if len(data) < width * height * 3 // 2:
        raise UnsupportedInputError(f"{p.name} is shorter than one {width}x{height} 4:2:0 frame")
    if count > 1 and notes is not None:
        notes.append(f"{p.name} holds {count} frames: the first is coded as a still image")
    return _split(np.frombuffer(data, dtype=np.uint8), width, height)


def read_yuv_planes(path: str | os.PathLike, width: int, height: int, notes: list[str] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Y, U, V planes of the first frame of a raw 8-bit planar 4:2:0 ``.yuv`` file."""
    p = Path(path)
    if not p.is_file():
        raise UnsupportedInputError(f"input file not found: {p}")
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise UnsupportedInputError(f"4:2:0 needs even, positive width and height, got {width}x{height}")
    from ncodec.codecs.imageio import check_image_size

    check_image_size(width, height)
    frame = width * height * 3 // 2
    size = p.stat().st_size
    if size < frame:
        raise UnsupportedInputError(f"{p.name} is smaller than one {width}x{height} 4:2:0 frame")
    if size % frame:
        raise UnsupportedInputError(f"{p.name}: {size} bytes is not a whole number of {width}x{height} "
                                    "8-bit 4:2:0 frames (wrong --size?)")
    if size > frame and notes is not None:
        notes.append(f"{p.name} holds {size // frame} frames: the first is coded as a still image")
    return _split(np.fromfile(p, dtype=np.uint8, count=frame), width, height)


def _split(raw: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = width * height
    y = raw[:n].reshape(height, width)
    u = raw[n: n + n // 4].reshape(height // 2, width // 2)
    v = raw[n + n // 4: n + n // 2].reshape(height // 2, width // 2)
    return y.copy(), u.copy(), v.copy()


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) of 8-bit BT.709 limited-range 4:2:0 planes (chroma repeated 2x2)."""
    yf = (y.astype(np.float64) - 16.0) / 219.0
    uf, vf = ((np.repeat(np.repeat(c.astype(np.float64), 2, axis=0), 2, axis=1) - 128.0) / 224.0 for c in (u, v))
    rgb = np.stack([yf + 1.5748 * vf, yf - 0.1873 * uf - 0.4681 * vf, yf + 1.8556 * uf], axis=-1)
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-bit BT.709 limited-range 4:2:0 planes of an RGB uint8 image with even sides (2x2 chroma means)."""
    x = rgb.astype(np.float64) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    yf = 0.2126 * r + 0.7152 * g + 0.0722 * b
    uf, vf = (b - yf) / 1.8556, (r - yf) / 1.5748
    h, w = yf.shape

    def sub(c: np.ndarray) -> np.ndarray:
        return c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    def q(v: np.ndarray) -> np.ndarray:
        return np.clip(np.round(v), 0, 255).astype(np.uint8)

    return q(16.0 + 219.0 * yf), q(128.0 + 224.0 * sub(uf)), q(128.0 + 224.0 * sub(vf))


def psnr_yuv(planes: tuple[np.ndarray, np.ndarray, np.ndarray], decoded_rgb: np.ndarray) -> dict[str, float | None]:
    """PSNR (peak 255) of each 4:2:0 plane of ``decoded_rgb`` against the source ``planes``; None when equal."""
    out: dict[str, float | None] = {}
    for name, ref, dec in zip(("y", "u", "v"), planes, rgb_to_yuv420(decoded_rgb)):
        mse = float(np.mean((ref.astype(np.float64) - dec.astype(np.float64)) ** 2))
        out[name] = None if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)
    return out
