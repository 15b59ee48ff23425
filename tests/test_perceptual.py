"""Offline perceptual measures (evaluation/perceptual.py): the bundled networks load without any
download, and every measure orders a clean, a slightly and a strongly degraded image correctly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ncodec.codecs.imageio import read_image
from ncodec.evaluation.perceptual import PerceptualMeasures, fid, kid, patches

from conftest import ASSETS



@pytest.fixture(scope="module")
def measures() -> PerceptualMeasures:
    return PerceptualMeasures()


def _noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    return np.clip(img.astype(float) + rng.randn(*img.shape) * sigma, 0, 255).astype(np.uint8)


def test_patch_grid_and_shifted_grid() -> None:
    img = np.zeros((512, 768, 3), dtype=np.uint8)
    assert patches(img).shape == (6 + 2, 3, 256, 256)  # 3x2 grid + 2x1 grid shifted by 128
    with pytest.raises(ValueError):
        patches(img[:100])


def test_full_reference_measures_order_degradations(measures: PerceptualMeasures) -> None:
    img = read_image(ASSETS / "kodim19_203x147.jpg")
    same = measures.full_reference(img, img)
    mild, strong = (measures.full_reference(img, _noisy(img, s)) for s in (4.0, 25.0))
    assert same["st_lpips"] == pytest.approx(0.0, abs=1e-6)
    for key in ("st_lpips", "gmsd"):  # lower is better
        assert same[key] <= mild[key] < strong[key], key
    for key in ("haarpsi", "dss", "vif_p"):  # higher is better
        assert same[key] >= mild[key] > strong[key], key


def test_fid_and_kid_separate_sets(measures: PerceptualMeasures) -> None:
    images = [read_image(ASSETS / name) for name in ("kodim19_203x147.jpg", "kodim07_130x90.webp",
                                                      "kodim05_96x80.ppm", "kodim21_64x64.png")]
    real = measures.inception_features(images, size=64)
    assert real.shape[1] == 2048 and real.dtype == torch.float64 and len(real) >= 8
    blurred = [np.asarray(_blur(img)) for img in images]
    fake = measures.inception_features(blurred, size=64)
    assert fid(real, real) == pytest.approx(0.0, abs=0.05)  # sqrtm of a rank-deficient covariance
    assert fid(real, fake) > 1.0
    assert abs(kid(real, real)) < kid(real, fake)


def _blur(img: np.ndarray) -> np.ndarray:
    from PIL import Image, ImageFilter

    return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(3)))
