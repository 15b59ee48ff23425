"""Spatial quality maps (region-of-interest coding) for the gain-based variable-rate image codecs.

A quality map gives every pixel a quality in [1, levels]. The encoder reduces it to the latent grid of
each tile by the *maximum* over each latent cell's pixels (a pixel never gets less than it asked for,
so a region's edge cells take the region's quality), rounds to 0.01, and scales the latent by the
gains of each cell's quality (interpolated between the trained levels, as a uniform quality is). The
decoder needs only those per-cell qualities to apply the inverse gains; they travel in one extra
container section, the last, flagged by the header metadata key ``"qmap": 1``:

    b"QM", u8 version (1), u8 reserved (0), u32le cell count, zlib(u16le quality * 100 per cell)

cells in tile order, row-major within a tile. A decoder that predates the section sees one section too
many and refuses the stream; a stream without the key decodes as before.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import numpy as np

from ncodec.errors import BitstreamError, UnsupportedInputError, UsageError

QMAP_KEY = "qmap"
MAGIC = b"QM"
VERSION = 1
MAX_CELLS = 1 << 24


def latent_cells(qmap: np.ndarray, factor: int, height: int, width: int) -> np.ndarray:
    """Per-cell qualities (height, width) of a pixel quality map (H, W) for a latent grid of stride
    ``factor``: the maximum over each cell's pixels (the map is edge-padded to the grid), rounded to 0.01."""
    ph, pw = height * factor - qmap.shape[0], width * factor - qmap.shape[1]
    padded = np.pad(qmap, ((0, max(ph, 0)), (0, max(pw, 0))), mode="edge")[: height * factor, : width * factor]
    cells = padded.reshape(height, factor, width, factor).max(axis=(1, 3))
    return np.round(cells * 100.0) / 100.0


def pack_section(cells: list[np.ndarray]) -> bytes:
    """The quality-map section of per-tile cell qualities."""
    flat = np.concatenate([c.reshape(-1) for c in cells])
    values = np.round(flat * 100.0).astype("<u2")
    return MAGIC + struct.pack("<BBI", VERSION, 0, values.size) + zlib.compress(values.tobytes(), 9)


def unpack_section(data: bytes, shapes: list[tuple[int, int]], levels: int) -> list[np.ndarray]:
    """Per-tile cell qualities (float64) from the section; BitstreamError on anything malformed."""
    if len(data) < 8 or data[:2] != MAGIC:
        raise BitstreamError("quality-map section missing or malformed")
    version, reserved, count = struct.unpack_from("<BBI", data, 2)
    if version != VERSION or reserved != 0:
        raise BitstreamError(f"unsupported quality-map section version {version}")
    expected = sum(h * w for h, w in shapes)
    if count != expected or count > MAX_CELLS:
        raise BitstreamError(f"quality map holds {count} cells, the tiles need {expected}")
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data[8:], 2 * count + 1)
    except zlib.error:
        raise BitstreamError("quality-map section is corrupt") from None
    if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail:
        raise BitstreamError("quality-map section is truncated or has trailing bytes")
    if len(raw) != 2 * count:
        raise BitstreamError("quality-map section has the wrong length")
    values = np.frombuffer(raw, dtype="<u2").astype(np.int64)
    if values.size and (int(values.min()) < 100 or int(values.max()) > 100 * levels):
        raise BitstreamError(f"quality-map value outside [1, {levels}]")
    out, pos = [], 0
    for h, w in shapes:
        out.append(values[pos: pos + h * w].reshape(h, w) / 100.0)
        pos += h * w
    return out


def read_quality_map(path: str | Path, height: int, width: int, levels: int) -> np.ndarray:
    """A greyscale image of the input's size -> qualities: grey 0 is quality 1, 255 is ``levels``."""
    from ncodec.codecs.imageio import read_image

    grey = read_image(path)
    if grey.ndim == 3:
        if not (np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 0], grey[..., 2])):
            raise UnsupportedInputError(f"quality map {Path(path).name} must be greyscale")
        grey = grey[..., 0]
    if grey.shape != (height, width):
        raise UsageError(f"quality map is {grey.shape[1]}x{grey.shape[0]}, the image is {width}x{height}")
    return 1.0 + grey.astype(np.float64) * (levels - 1) / 255.0


ROI = re.compile(r"^(\d+),(\d+),(\d+),(\d+):(\d+(?:\.\d+)?)$")


def roi_map(rois: list[str], height: int, width: int, background: float, levels: int) -> np.ndarray:
    """A quality map from ``x,y,w,h:Q`` rectangles over a ``background`` quality (later ones win)."""
    qmap = np.full((height, width), float(background))
    for text in rois:
        m = ROI.match(text.strip())
        if not m:
            raise UsageError(f"--roi must be x,y,w,h:Q (pixels, quality), got {text!r}")
        x, y, w, h = (int(v) for v in m.groups()[:4])
        q = float(m.group(5))
        if w <= 0 or h <= 0 or x >= width or y >= height:
            raise UsageError(f"--roi {text} lies outside the {width}x{height} image")
        if not 1.0 <= q <= levels:
            raise UsageError(f"--roi quality must lie in [1, {levels}], got {q:g}")
        qmap[y: y + h, x: x + w] = q
    return qmap
