"""Pillow JPEG as a classical reference curve (4:2:0, Pillow's default settings)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def jpeg_round_trip(image: np.ndarray, quality: int) -> tuple[int, np.ndarray]:
    """(bytes, decoded uint8 image) of Pillow's JPEG at ``quality`` with default 4:2:0 subsampling."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as im:
        decoded = np.asarray(im.convert("RGB" if image.ndim == 3 else "L"))
    return len(data), decoded


def rate_at_psnr(curve_bpp: list[float], curve_psnr: list[float], psnr: float) -> float | None:
    """Rate of a (monotone) RD curve at a given PSNR, by linear interpolation of log-rate; None outside it."""
    order = np.argsort(curve_psnr)
    p = np.asarray(curve_psnr)[order]
    r = np.log(np.asarray(curve_bpp)[order])
    if psnr < p[0] or psnr > p[-1]:
        return None
    return float(np.exp(np.interp(psnr, p, r)))
