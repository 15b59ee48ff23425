"""Distortion metrics on uint8 images."""

from __future__ import annotations

import math

import numpy as np


def psnr_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR over all RGB samples (peak 255)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)
