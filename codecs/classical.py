"""Classical image codecs behind the same interface as the learned ones (baselines for evaluation).

The coded file (e.g. the JPEG bytes Pillow writes) is the single section of the ``.ncd`` container,
so ``ncodec encode/decode/eval`` treat every codec alike and the rate is the real file size (plus the
small container header, reported separately by ``eval``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ncodec.codecs.container import Header
from ncodec.codecs.image import EncodeResult
from ncodec.codecs.imageio import check_image_size
from ncodec.errors import BitstreamError, ModelMismatchError, UnsupportedInputError

NO_WEIGHTS = "0" * 16


@dataclass(frozen=True)
class PillowFormat:
    name: str
    pil_format: str
    quality_range: tuple[int, int]
    default_quality: int
    extra: tuple[tuple[str, object], ...] = ()


class PillowImageCodec:
    """A Pillow-backed codec (JPEG 4:2:0 with libjpeg-turbo, WebP) with integer qualities."""

    modality = "image"
    sha256 = NO_WEIGHTS

    def __init__(self, fmt: PillowFormat) -> None:
        self.fmt = fmt
        self.name = fmt.name
        self.levels = fmt.quality_range[1]

    def _quality(self, quality: float | None) -> int:
        lo, hi = self.fmt.quality_range
        q = self.fmt.default_quality if quality is None else quality
        if q != int(q) or not lo <= q <= hi:
            raise UnsupportedInputError(f"{self.name} quality must be an integer in [{lo}, {hi}], got {quality}")
        return int(q)

    def compress(self, image: np.ndarray, quality: float | None = None, backend: str = "constriction",
                 device: str = "cpu", tile: int = 0) -> EncodeResult:
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise UnsupportedInputError("expected a uint8 image of shape (H, W) or (H, W, 3)")
        q = self._quality(quality)
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format=self.fmt.pil_format, quality=q, **dict(self.fmt.extra))
        channels = 1 if image.ndim == 2 else 3
        header = Header(codec=self.name, modality="image", weights_sha256=NO_WEIGHTS, backend=0,
                        backend_version=Image.__version__, quality=float(q),
                        shape=(channels, image.shape[0], image.shape[1]), metadata={})
        return EncodeResult(header, [buf.getvalue()], [])

    def decompress(self, header: Header, sections: list[bytes], device: str = "cpu") -> np.ndarray:
        if header.codec != self.name or header.modality != "image":
            raise ModelMismatchError(f"bitstream is for {header.codec!r} ({header.modality}), not {self.name!r}")
        if len(sections) != 1 or len(header.shape) != 3 or header.shape[0] not in (1, 3):
            raise BitstreamError(f"malformed {self.name} bitstream")
        channels, h, w = header.shape
        try:
            with Image.open(io.BytesIO(sections[0])) as im:
                if im.format != self.fmt.pil_format or im.size != (w, h):
                    raise BitstreamError(f"{self.name} payload does not match the declared image")
                check_image_size(*im.size)
                out = np.asarray(im.convert("L" if channels == 1 else "RGB"))
        except BitstreamError:
            raise
        except Exception as exc:  # Pillow raises many types on damaged files
            raise BitstreamError(f"corrupt {self.name} payload ({type(exc).__name__})") from None
        return np.ascontiguousarray(out)


FORMATS = {
    "jpeg": PillowFormat("jpeg", "JPEG", (1, 95), 75),
    "webp": PillowFormat("webp", "WEBP", (0, 100), 75, (("method", 6),)),
}
