"""Distortion metrics on uint8 images: PSNR over RGB, PSNR of luma (BT.601), MS-SSIM over RGB."""

from __future__ import annotations

import math

import numpy as np
import torch


def psnr_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR over all samples (peak 255)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def luma_bt601(image: np.ndarray) -> np.ndarray:
    """Studio-range BT.601 luma Y' (16-235) of an RGB uint8 image, as float64; greyscale passes through."""
    if image.ndim == 2:
        return image.astype(np.float64)
    rgb = image.astype(np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of BT.601 luma (peak 255)."""
    mse = float(np.mean((luma_bt601(a) - luma_bt601(b)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def ms_ssim_rgb(a: np.ndarray, b: np.ndarray) -> float | None:
    """MS-SSIM over RGB (pytorch-msssim, data range 255); None when the image is too small for 5 scales."""
    from pytorch_msssim import ms_ssim

    if min(a.shape[0], a.shape[1]) <= 160:
        return None
    def t(x: np.ndarray) -> torch.Tensor:
        x3 = np.repeat(x[:, :, None], 3, axis=2) if x.ndim == 2 else x
        return torch.from_numpy(np.array(x3, dtype=np.float32)).permute(2, 0, 1)[None]
    return float(ms_ssim(t(a), t(b), data_range=255.0))


def to_db(ms_ssim: float) -> float:
    """MS-SSIM in dB: -10 log10(1 - MS-SSIM)."""
    return float("inf") if ms_ssim >= 1 else -10.0 * math.log10(1.0 - ms_ssim)
