"""Reading a reference RD curve (e.g. Pillow JPEG) at a given quality."""

from __future__ import annotations

import numpy as np


def rate_at_psnr(curve_bpp: list[float], curve_psnr: list[float], psnr: float) -> float | None:
    """Rate of a (monotone) RD curve at a given PSNR, by linear interpolation of log-rate; None outside it."""
    order = np.argsort(curve_psnr)
    p = np.asarray(curve_psnr)[order]
    r = np.log(np.asarray(curve_bpp)[order])
    if psnr < p[0] or psnr > p[-1]:
        return None
    return float(np.exp(np.interp(psnr, p, r)))
