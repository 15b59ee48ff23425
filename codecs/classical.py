"""Classical image codecs behind the same interface as the learned ones (baselines for evaluation).

The coded file (the JPEG/WebP/AVIF/JPEG 2000/PNG bytes Pillow writes, the JPEG XL codestream, the
HEVC Annex-B stream) is the single section of the ``.ncd`` container, so ``ncodec encode/decode/eval``
treat every codec alike and the rate is the real file size (plus the small container header, which
``eval`` reports separately as ``bytes - payload_bytes``).

Every decoder here parses untrusted bytes: the payload must decode to exactly the image the header
declares, and any library failure becomes a one-line ``BitstreamError``.
"""

from __future__ import annotations

import io
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, features

from ncodec.codecs.container import EncodeResult, Header
from ncodec.codecs.imageio import check_image_size
from ncodec.codecs.refine import check_effort
from ncodec.errors import BitstreamError, MissingDependencyError, ModelMismatchError, UnsupportedInputError, UsageError

NO_WEIGHTS = "0" * 16


class ClassicalImageCodec(ABC):
    """A codec with no weights and an integer quality knob; subclasses code one payload per image."""

    modality = "image"
    sha256 = NO_WEIGHTS
    name: str
    description: str
    quality_range: tuple[int, int]
    default_quality: int
    eval_qualities: tuple[int, ...]  # the grid ``ncodec eval`` uses by default (spans ~0.1-1.5 bpp on Kodak)
    higher_quality_is_better = True
    lossless = False  # quality is an effort knob, not a rate knob

    def check_available(self) -> None:
        """Raise MissingDependencyError naming what to install if the codec's library is absent."""

    @abstractmethod
    def library_version(self) -> str:
        """Version of the library that wrote the payload (Pillow, imagecodecs, PyAV), for the header."""

    @abstractmethod
    def encode_payload(self, image: np.ndarray, quality: int, effort: str = "default") -> bytes:
        """The codec's payload; ``effort`` (fast, default, best) picks the library's speed/effort knob."""

    @abstractmethod
    def decode_payload(self, payload: bytes, channels: int, height: int, width: int) -> np.ndarray: ...

    @property
    def levels(self) -> int:
        return self.quality_range[1]

    def quality_grid(self) -> list[float]:
        """Every quality, from the lowest rate to the highest (rate control searches it)."""
        if self.lossless:
            raise UsageError(f"{self.name} is lossless: its quality sets the effort, not the size, "
                             "so it cannot aim at a target size")
        lo, hi = self.quality_range
        grid = [float(q) for q in range(lo, hi + 1)]
        return grid if self.higher_quality_is_better else grid[::-1]

    def check_quality(self, quality: float | None) -> int:
        """The quality the encoder will use; a one-line error if it is outside the codec's range."""
        return self._quality(quality)

    def _quality(self, quality: float | None) -> int:
        lo, hi = self.quality_range
        q = self.default_quality if quality is None else quality
        if not math.isfinite(q) or q != int(q) or not lo <= q <= hi:
            raise UsageError(f"{self.name} quality must be an integer in [{lo}, {hi}], got {q:g}")
        return int(q)

    def compress(self, image: np.ndarray, quality: float | None = None, backend: str = "constriction",
                 device: str = "cpu", tile: int = 0, effort: str = "default") -> EncodeResult:
        """Code ``image`` (uint8, HxW or HxWx3); ``backend``, ``device`` and ``tile`` do not apply;
        ``effort`` maps to the library's own knob (``EFFORT``; codecs without one ignore it)."""
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
            raise UnsupportedInputError("expected a uint8 image of shape (H, W) or (H, W, 3)")
        self.check_available()
        q = self._quality(quality)
        payload = self.encode_payload(np.ascontiguousarray(image), q, check_effort(effort))
        channels = 1 if image.ndim == 2 else 3
        header = Header(codec=self.name, modality="image", weights_sha256=NO_WEIGHTS, backend=0,
                        backend_version=self.library_version(), quality=float(q),
                        shape=(channels, image.shape[0], image.shape[1]), metadata={})
        return EncodeResult(header, [payload], [])

    def decompress(self, header: Header, sections: list[bytes], device: str = "cpu") -> np.ndarray:
        if header.codec != self.name or header.modality != "image":
            raise ModelMismatchError(f"bitstream is for {header.codec!r} ({header.modality}), not {self.name!r}")
        if len(sections) != 1 or len(header.shape) != 3 or header.shape[0] not in (1, 3):
            raise BitstreamError(f"malformed {self.name} bitstream")
        channels, h, w = header.shape
        check_image_size(w, h)
        self.check_available()
        try:
            out = self.decode_payload(sections[0], channels, h, w)
        except (BitstreamError, MissingDependencyError):
            raise
        except Exception as exc:  # the libraries raise many types on damaged data
            raise BitstreamError(f"corrupt {self.name} payload ({type(exc).__name__})") from None
        expected = (h, w) if channels == 1 else (h, w, 3)
        if out.shape != expected or out.dtype != np.uint8:
            raise BitstreamError(f"{self.name} payload does not match the declared image")
        return np.ascontiguousarray(out)


class PillowCodec(ClassicalImageCodec):
    """A format Pillow writes and reads; ``options`` maps the quality to Pillow's save arguments."""

    def __init__(self, name: str, description: str, pil_format: str, quality_range: tuple[int, int],
                 default_quality: int, eval_qualities: tuple[int, ...], options: Callable[[int], dict[str, Any]],
                 feature: str | None = None, lossless: bool = False) -> None:
        self.name, self.description, self.pil_format = name, description, pil_format
        self.quality_range, self.default_quality, self.eval_qualities = quality_range, default_quality, eval_qualities
        self.options, self.feature, self.lossless = options, feature, lossless

    def check_available(self) -> None:
        if self.feature is not None and not features.check(self.feature):
            raise MissingDependencyError(
                f"{self.name} needs Pillow built with {self.feature} support (pip install -U pillow)")

    def library_version(self) -> str:
        return Image.__version__  # the library is implied by the codec name; every file stores this

    def encode_payload(self, image: np.ndarray, quality: int, effort: str = "default") -> bytes:
        buf = io.BytesIO()
        options = {**self.options(quality), **PILLOW_EFFORT.get(self.name, {}).get(effort, {})}
        Image.fromarray(image).save(buf, format=self.pil_format, **options)
        return buf.getvalue()

    def decode_payload(self, payload: bytes, channels: int, height: int, width: int) -> np.ndarray:
        with Image.open(io.BytesIO(payload), formats=[self.pil_format]) as im:
            if im.size != (width, height):
                raise BitstreamError(f"{self.name} payload does not match the declared image")
            return np.asarray(im.convert("L" if channels == 1 else "RGB"))


def _jxl_distance(quality: int) -> float:
    """cjxl's ``-q`` to Butteraugli distance mapping, so qualities mean what cjxl users expect."""
    if quality >= 30:
        return 0.1 + (100 - quality) * 0.09
    return 6.4 + 2.5 ** ((30 - quality) / 5.0) / 6.25


class JpegXLCodec(ClassicalImageCodec):
    """JPEG XL through imagecodecs (libjxl), effort 7 (cjxl's default), quality as cjxl's ``-q``."""

    name = "jpeg-xl"
    description = "JPEG XL (libjxl via imagecodecs, effort 7), quality 1-99 as cjxl -q"
    quality_range = (1, 99)
    default_quality = 75
    eval_qualities = (5, 15, 25, 35, 45, 55, 65, 75, 85, 92)
    effort = 7

    def _lib(self):
        try:
            import imagecodecs
        except ImportError:
            raise MissingDependencyError("jpeg-xl needs the imagecodecs package (pip install imagecodecs)") from None
        if not imagecodecs.JPEGXL.available:
            raise MissingDependencyError("jpeg-xl needs imagecodecs built with libjxl (pip install -U imagecodecs)")
        return imagecodecs

    def check_available(self) -> None:
        self._lib()

    def library_version(self) -> str:
        return self._lib().__version__

    def encode_payload(self, image: np.ndarray, quality: int, effort: str = "default") -> bytes:
        level = {"fast": 3, "default": self.effort, "best": 9}[effort]
        return bytes(self._lib().jpegxl_encode(image, distance=_jxl_distance(quality), effort=level,
                                               numthreads=1))

    def decode_payload(self, payload: bytes, channels: int, height: int, width: int) -> np.ndarray:
        if jxl_codestream_size(payload) != (width, height):  # checked before libjxl allocates anything
            raise BitstreamError("jpeg-xl payload does not match the declared image")
        return self._lib().jpegxl_decode(payload, numthreads=1)


_JXL_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


def jxl_codestream_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a bare JPEG XL codestream's SizeHeader (ISO/IEC 18181-1, A.2)."""
    if len(data) < 12 or data[:2] != b"\xff\x0a":
        raise BitstreamError("jpeg-xl payload is not a bare JPEG XL codestream")
    bits = int.from_bytes(data[2:12], "little")  # the SizeHeader needs at most 75 bits, read LSB first
    pos = 0

    def read(n: int) -> int:
        nonlocal pos
        value = (bits >> pos) & ((1 << n) - 1)
        pos += n
        return value

    def dimension(small: bool) -> int:
        return (read(5) + 1) * 8 if small else read((9, 13, 18, 30)[read(2)]) + 1

    small = bool(read(1))
    height = dimension(small)
    ratio = read(3)
    if ratio == 0:
        width = dimension(small)
    else:
        num, den = _JXL_RATIOS[ratio]
        width = height * num // den
    return width, height


# JFIF / BT.601 full-range YCbCr: the same matrix both ways, so the 8-bit conversion alone is ~53 dB.
_RGB_TO_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> 3xHxW uint8 full-range BT.601 YCbCr planes."""
    ycc = rgb.astype(np.float64) @ _RGB_TO_YCC.T
    ycc[..., 1:] += 128.0
    return np.ascontiguousarray(np.clip(np.rint(ycc), 0, 255).astype(np.uint8).transpose(2, 0, 1))


def ycbcr_to_rgb(planes: np.ndarray) -> np.ndarray:
    """3xHxW uint8 full-range BT.601 YCbCr planes -> HxWx3 uint8 RGB."""
    ycc = planes.transpose(1, 2, 0).astype(np.float64)
    ycc[..., 1:] -= 128.0
    return np.clip(np.rint(ycc @ _YCC_TO_RGB.T), 0, 255).astype(np.uint8)


class HevcIntraCodec(ClassicalImageCodec):
    """HEVC intra (x265 through PyAV): one I-frame, 4:4:4 full-range BT.601 YCbCr, ``tune=psnr``.

    The quality is x265's constant QP (0-51, lower is better), the knob HM/BPG anchors also sweep.
    Grey images are coded as RGB with equal channels and returned as the luma plane, which equals the
    grey input exactly before coding.
    """

    name = "hevc-intra"
    description = "HEVC intra (x265 via PyAV, 4:4:4, tune psnr, preset medium), quality = QP 0-51 (lower is better)"
    quality_range = (0, 51)
    default_quality = 32
    eval_qualities = (22, 25, 28, 31, 34, 37, 40, 43, 46)
    higher_quality_is_better = False
    preset = "medium"

    def _av(self):
        try:
            import av
        except ImportError:
            raise MissingDependencyError("hevc-intra needs PyAV (pip install av)") from None
        if "libx265" not in av.codecs_available:
            raise MissingDependencyError("hevc-intra needs PyAV with libx265 (pip install -U av; the PyPI wheels have it)")
        return av

    def check_available(self) -> None:
        self._av()

    def library_version(self) -> str:
        return self._av().__version__

    def encode_payload(self, image: np.ndarray, quality: int, effort: str = "default") -> bytes:
        av = self._av()
        preset = {"fast": "ultrafast", "default": self.preset, "best": "veryslow"}[effort]
        rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
        h, w = image.shape[:2]
        ctx = av.CodecContext.create("libx265", "w")
        ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv444p"
        ctx.options = {"preset": preset, "tune": "psnr",
                       "x265-params": f"qp={quality}:keyint=1:info=0:frame-threads=1:pools=1:log-level=error:"
                                      "range=full:colorprim=bt470bg:transfer=smpte170m:colormatrix=smpte170m"}
        frame = av.VideoFrame.from_ndarray(rgb_to_ycbcr(rgb), format="yuv444p")
        packets = list(ctx.encode(frame)) + list(ctx.encode(None))
        return b"".join(bytes(p) for p in packets)

    def decode_payload(self, payload: bytes, channels: int, height: int, width: int) -> np.ndarray:
        av = self._av()
        ctx = av.CodecContext.create("hevc", "r")
        ctx.thread_count = 1
        # Refuse SPS sizes beyond the declared image (rounded up to 64-pixel CTUs) before allocating.
        ctx.options = {"max_pixels": str(-(-width // 64) * 64 * -(-height // 64) * 64)}
        frames = list(ctx.decode(av.Packet(payload))) + list(ctx.decode(None))
        if len(frames) != 1 or (frames[0].width, frames[0].height) != (width, height) \
                or frames[0].format.name != "yuv444p":
            raise BitstreamError("hevc-intra payload does not hold one 4:4:4 frame of the declared size")
        planes = frames[0].to_ndarray()
        return planes[0] if channels == 1 else ycbcr_to_rgb(planes)


# --effort per Pillow codec (merged over the quality's options; "default" is each codec's own setting).
# jpeg: Huffman-table optimisation (same pixels); webp: method (6 is already libwebp's slowest);
# avif: libavif speed. jpeg2000 and the lossless references have no effort knob here.
PILLOW_EFFORT: dict[str, dict[str, dict[str, Any]]] = {
    "jpeg": {"best": {"optimize": True}},
    "webp": {"fast": {"method": 2}},
    "avif": {"fast": {"speed": 10}, "best": {"speed": 2}},
}

CLASSICAL: dict[str, Callable[[], ClassicalImageCodec]] = {
    "jpeg": lambda: PillowCodec(
        "jpeg", "JPEG baseline (Pillow / libjpeg-turbo, 4:2:0), integer quality 1-95", "JPEG", (1, 95), 75,
        tuple(range(5, 100, 5)), lambda q: {"quality": q}, "jpg"),
    "webp": lambda: PillowCodec(
        "webp", "WebP lossy (Pillow / libwebp, method 6), integer quality 0-100", "WEBP", (0, 100), 75,
        (5, 10, 20, 30, 40, 50, 60, 70, 80, 90), lambda q: {"quality": q, "method": 6}, "webp"),
    "avif": lambda: PillowCodec(
        "avif", "AVIF (Pillow / libavif, 4:4:4, speed 6), integer quality 0-100", "AVIF", (0, 100), 75,
        (10, 20, 30, 40, 50, 60, 70, 80, 90), lambda q: {"quality": q, "speed": 6, "subsampling": "4:4:4"}, "avif"),
    "jpeg2000": lambda: PillowCodec(
        "jpeg2000", "JPEG 2000 (Pillow / OpenJPEG, 9/7 wavelet, colour transform), quality = target PSNR in dB (20-60)",
        "JPEG2000", (20, 60), 35, (24, 26, 28, 30, 32, 34, 36, 38, 40),
        # mct=1: the irreversible colour transform (Pillow's default 0 codes R, G, B independently)
        lambda q: {"quality_mode": "dB", "quality_layers": [q], "irreversible": True, "mct": 1}, "jpg_2000"),
    "jpeg-xl": JpegXLCodec,
    "hevc-intra": HevcIntraCodec,
    "png": lambda: PillowCodec(
        "png", "PNG, lossless reference (Pillow / zlib), quality = zlib level 0-9", "PNG", (0, 9), 9, (9,),
        lambda q: {"compress_level": q}, lossless=True),
    "webp-lossless": lambda: PillowCodec(
        "webp-lossless", "WebP lossless reference (Pillow / libwebp, method 6), quality = effort 0-100",
        "WEBP", (0, 100), 100, (100,), lambda q: {"lossless": True, "quality": q, "method": 6}, "webp",
        lossless=True),
}


def load_classical(name: str) -> ClassicalImageCodec:
    return CLASSICAL[name]()
