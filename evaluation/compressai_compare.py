"""Rate cost of importing a CompressAI model: its own bitstreams against ncodec's, on the same images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ncodec.codecs import container
from ncodec.codecs.image import LearnedImageCodec
from ncodec.codecs.imageio import read_image
from ncodec.datasets.images import list_images
from ncodec.evaluation.metrics import psnr_rgb

COMPRESSAI_CLASSES = {"factorized": "FactorizedPrior", "hyperprior": "ScaleHyperprior",
                      "mean-scale-hyperprior": "MeanScaleHyperprior", "elic2022-official": "Elic2022Official",
                      "elic2022-chandelier": "Elic2022Chandelier",
                      "cheng2020-anchor-checkerboard": "Cheng2020AnchorCheckerboard"}


def compressai_model(codec: LearnedImageCodec) -> torch.nn.Module:
    """The CompressAI model an imported ncodec codec came from (same sizes), untrained."""
    import compressai.models as cm

    ours = codec.model
    arch = getattr(ours, "arch", codec.name)
    cls = getattr(cm, COMPRESSAI_CLASSES[arch])
    if arch.startswith("elic2022"):
        return cls(ours.N, ours.M, groups=list(ours.slices))
    if arch == "cheng2020-anchor-checkerboard":
        return cls(ours.N)
    return cls(ours.N, ours.M)


@torch.no_grad()
def compare_rates(state: dict[str, torch.Tensor], codec: LearnedImageCodec, folder: str | Path,
                  limit: int = 4) -> dict[str, Any]:
    """bpp and PSNR of CompressAI's ``compress()`` (float entropy path, after ``update()``) and of
    ncodec's ``.ncd`` files (fixed-point path, container included) on up to ``limit`` images."""
    model = compressai_model(codec)
    model.load_state_dict(state, strict=False)
    model.update(force=True)
    model.eval()
    rows = []
    for path in list_images(folder)[:limit]:
        img = read_image(path)
        rgb = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img
        h, w = rgb.shape[:2]
        pad_h, pad_w = (-h) % 64, (-w) % 64
        x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 255.0
        x = torch.nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        out = model.compress(x)
        ca_bytes = sum(len(s[0]) for s in out["strings"])
        ca_rec = model.decompress(out["strings"], out["shape"])["x_hat"][:, :, :h, :w]
        ca_rec = ca_rec.clamp(0, 1).mul(255).round().byte()[0].permute(1, 2, 0).numpy()
        enc = codec.compress(img, quality=1.0)
        data = container.pack(enc.header, enc.sections)
        rec = codec.decompress(*container.unpack(data))
        rows.append({"image": path.name, "compressai_bpp": 8 * ca_bytes / (h * w), "ncodec_bpp": 8 * len(data) / (h * w),
                     "compressai_psnr": psnr_rgb(rgb, ca_rec), "ncodec_psnr": psnr_rgb(img, rec)})
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "image"} if rows else {}
    return {"images": rows, "mean": mean,
            "rate_cost_pct": 100.0 * (mean["ncodec_bpp"] / mean["compressai_bpp"] - 1.0) if rows else None}
