"""Reading and writing 8-bit RGB / greyscale image files, with size limits checked before decoding."""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ncodec.errors import UnsupportedInputError

# Image files ncodec reads (folders for eval and training are filtered by these).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".webp", ".bmp", ".tif", ".tiff")

MAX_SIDE = 1 << 15
MAX_PIXELS = 1 << 27  # 134 M pixels


def check_image_size(width: int, height: int) -> None:
    if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise UnsupportedInputError(f"image of {width}x{height} pixels is outside the supported size "
                                    f"(each side <= {MAX_SIDE}, at most {MAX_PIXELS} pixels)")


def image_from_pil(im: Image.Image) -> np.ndarray:
    """uint8 array (H, W, 3) or (H, W) from an 8-bit RGB or greyscale PIL image."""
    check_image_size(*im.size)
    mode = im.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        raise UnsupportedInputError(f"images with an alpha channel are not supported (mode {mode})")
    if mode in ("I;16", "I;16B", "I;16L", "I", "F", "1"):
        raise UnsupportedInputError(f"only 8-bit RGB and greyscale images are supported (mode {mode})")
    if mode == "L":
        return np.asarray(im, dtype=np.uint8).copy()
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read PNG/JPEG/PPM/WebP/... as uint8 (H, W, 3) or (H, W); one-line errors for bad input."""
    p = Path(path)
    if not p.exists():
        raise UnsupportedInputError(f"input file not found: {p}")
    if not p.is_file():
        raise UnsupportedInputError(f"input is not a regular file: {p}")
    if p.stat().st_size == 0:
        raise UnsupportedInputError(f"input file is empty: {p}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                check_image_size(*im.size)
                im.load()
                return image_from_pil(im)
    except UnsupportedInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnsupportedInputError(f"image header of {p} claims too many pixels") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedInputError(f"cannot read {p} as an image ({str(exc).splitlines()[0][:120]})") from None


def _umask_mode(base: int = 0o666) -> int:
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def publish_tmp(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Give a finished temporary file (or folder) the usual permissions (0666, folders 0777, less the
    umask, as ``open``/``mkdir`` would; ``mkstemp``/``mkdtemp`` make them private) and rename it into
    place, so every output of every modality looks alike."""
    os.chmod(tmp, _umask_mode(0o777 if os.path.isdir(tmp) else 0o666))
    os.replace(tmp, path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write to a temp file in the target folder, then rename: never a partial output file."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent if str(p.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        publish_tmp(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# What ``write_image`` writes for each extension (WebP lossless; JPEG at quality 95, the one lossy one).
IMAGE_WRITE_FORMATS = {".png": "PNG", ".ppm": "PPM", ".pgm": "PPM", ".bmp": "BMP", ".tif": "TIFF",
                       ".tiff": "TIFF", ".webp": "WEBP", ".jpg": "JPEG", ".jpeg": "JPEG"}


def write_image(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write uint8 (H, W, 3) or (H, W) atomically in the format of the file extension."""
    p = Path(path)
    fmt = IMAGE_WRITE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise UnsupportedInputError(f"cannot write an image as {p.name!r}; use one of "
                                    f"{', '.join(sorted(IMAGE_WRITE_FORMATS))}")
    im = Image.fromarray(array)
    buf = io.BytesIO()
    kwargs = {"lossless": True} if fmt == "WEBP" else ({"quality": 95} if fmt == "JPEG" else {})
    im.save(buf, format=fmt, **kwargs)
    atomic_write_bytes(p, buf.getvalue())
