"""Reading and writing 8-bit RGB / greyscale image files, with size limits checked before decoding
(16-bit PNG/TIFF inputs are rounded to 8 bits, opaque alpha channels dropped, each with a note)."""

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


ALPHA_REFUSED = ("no ncodec image codec carries an alpha channel; flatten the image onto a background "
                 "first (e.g. PIL: Image.alpha_composite) or drop the alpha")


def image_from_pil(im: Image.Image, notes: list[str] | None = None) -> np.ndarray:
    """uint8 array (H, W, 3) or (H, W) from an 8-bit RGB or greyscale PIL image. An alpha channel that
    is fully opaque is dropped (with a note appended to ``notes``); a transparent one is refused."""
    check_image_size(*im.size)
    mode = im.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("LA" if mode == "LA" else "RGBA")
        alpha = np.asarray(rgba.getchannel("A"))
        if int(alpha.min()) < 255:
            raise UnsupportedInputError(f"the image has transparent pixels (mode {mode}): {ALPHA_REFUSED}")
        if notes is not None:
            notes.append(f"the alpha channel (mode {mode}) is fully opaque: dropped, the colours are coded")
        return np.asarray(rgba.convert("L" if mode == "LA" else "RGB"), dtype=np.uint8).copy()
    if mode.startswith("I;16") or mode == "I":  # 16-bit greyscale (PGM, JPEG 2000, ... open as I;16 or I)
        grey = np.asarray(im)
        if grey.size and (int(grey.min()) < 0 or int(grey.max()) > 65535):
            raise UnsupportedInputError(f"only 8- and 16-bit images are supported (mode {mode} with 32-bit values)")
        if notes is not None:
            notes.append(SIXTEEN_BIT_NOTE)
        return np.ascontiguousarray(to_8bit(grey))
    if mode == "F":
        raise UnsupportedInputError("floating-point images are not supported: only 8- and 16-bit samples")
    if mode == "1":
        if notes is not None:
            notes.append("bilevel input: coded as 8-bit greyscale (0 and 255)")
        return np.asarray(im.convert("L"), dtype=np.uint8).copy()
    if mode == "L":
        return np.asarray(im, dtype=np.uint8).copy()
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def to_8bit(samples: np.ndarray) -> np.ndarray:
    """16-bit samples (0..65535) to the nearest 8-bit ones (v * 255 / 65535, rounded half up)."""
    v = samples.astype(np.uint32)
    return ((v * 255 + 32767) // 65535).astype(np.uint8)


SIXTEEN_BIT_NOTE = ("16-bit input: coded at 8 bits (each sample rounded to v * 255 / 65535); "
                    "no ncodec image codec codes more than 8 bits per sample")


def sixteen_bit(head: bytes, im: Image.Image) -> bool:
    """True for a 16-bit-per-sample PNG or TIFF, given the file's first 26 bytes (Pillow reads 16-bit
    RGB ones as 8 bits, silently keeping the high byte)."""
    if im.format == "PNG":
        return len(head) >= 26 and head[24] == 16  # IHDR bit depth
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, (8,))
        return max(bits if isinstance(bits, tuple) else (bits,)) == 16
    return False


def read_16bit(source: Path | bytes, notes: list[str] | None) -> np.ndarray:
    """A 16-bit PNG or TIFF (a path or its bytes) rounded to 8 bits, with a note; opaque alpha dropped."""
    import imagecodecs

    p = source if isinstance(source, Path) else "input bytes"
    try:
        arr = np.asarray(imagecodecs.imread(str(source) if isinstance(source, Path) else bytes(source)))
    except Exception as exc:
        raise UnsupportedInputError(f"cannot read the 16-bit image {p} ({type(exc).__name__})") from None
    if arr.dtype != np.uint16:
        raise UnsupportedInputError(f"{p}: expected 16-bit samples, found {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] in (2, 4):  # grey + alpha, RGB + alpha
        if int(arr[:, :, -1].min()) < 65535:
            raise UnsupportedInputError(f"the image has transparent pixels (16-bit): {ALPHA_REFUSED}")
        if notes is not None:
            notes.append("the 16-bit alpha channel is fully opaque: dropped, the colours are coded")
        arr = arr[:, :, :-1]
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise UnsupportedInputError(f"{p}: unsupported 16-bit layout {arr.shape}")
    check_image_size(arr.shape[1], arr.shape[0])
    if notes is not None:
        notes.append(SIXTEEN_BIT_NOTE)
    return np.ascontiguousarray(to_8bit(arr))


def read_image(path: str | os.PathLike[str], notes: list[str] | None = None) -> np.ndarray:
    """Read PNG/JPEG/PPM/WebP/TIFF/... as uint8 (H, W, 3) or (H, W); one-line errors for bad input.

    16-bit PNG and TIFF files are rounded to 8 bits, and an opaque alpha channel is dropped; either
    appends a one-line note to ``notes`` (the CLI prints them), so the change is never silent."""
    p = Path(path)
    if not p.exists():
        raise UnsupportedInputError(f"input file not found: {p}")
    if not p.is_file():
        raise UnsupportedInputError(f"input is not a regular file: {p}")
    if p.stat().st_size == 0:
        raise UnsupportedInputError(f"input file is empty: {p}")
    if p.suffix.lower() == ".y4m":  # a 4:2:0 still (codecs/yuvstill.py)
        from ncodec.codecs.yuvstill import read_y4m_planes, yuv420_to_rgb

        planes = read_y4m_planes(p, notes)
        if notes is not None:
            notes.append("Y'CbCr 4:2:0 input: coded as RGB (BT.709 limited range, chroma repeated 2x2)")
        return yuv420_to_rgb(*planes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                check_image_size(*im.size)
                with open(p, "rb") as f:
                    head = f.read(26)
                if sixteen_bit(head, im):
                    return read_16bit(p, notes)
                im.load()
                return image_from_pil(im, notes)
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
