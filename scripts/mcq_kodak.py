"""Acceptance (issue 16 item 3): the ``mcq`` weight file on Kodak with real bitstreams.

For every rate point of one weight file: mean bpp (real .ncd size), PSNR-RGB and MS-SSIM, whether the
decoded code indices equal the encoder's on every image, encode/decode time, 1 vs 2 threads (identical
bytes on every image at every rate point), and against the mean-scale default's committed Kodak curve
(results/kodak/mean-scale-hyperprior.json): BD-rate at equal PSNR-RGB and at equal MS-SSIM (dB) where
the quality ranges overlap, and BD-PSNR over the common rate range. Writes JSON (default results/kodak-mcq.json).

    .venv/bin/python scripts/mcq_kodak.py --weights runs/mcq/model.ncw [--images 24] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ncodec.codecs import container
from ncodec.codecs.image import LearnedImageCodec
from ncodec.codecs.imageio import read_image
from ncodec.datasets.images import data_root, list_images
from ncodec.evaluation.bdrate import Curve, bd_quality, bd_rate
from ncodec.evaluation.metrics import psnr_rgb

ROOT = Path(__file__).resolve().parent.parent


def ms_ssim_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM on 0..255 RGB images (pytorch_msssim)."""
    from pytorch_msssim import ms_ssim

    ta = torch.from_numpy(np.array(a, copy=True)).permute(2, 0, 1)[None].float()
    tb = torch.from_numpy(np.array(b, copy=True)).permute(2, 0, 1)[None].float()
    return float(ms_ssim(ta, tb, data_range=255.0))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--weights", required=True)
    p.add_argument("--kodak", default=str(data_root() / "kodak"))
    p.add_argument("--images", type=int, default=24, help="first N Kodak images")
    p.add_argument("--thread-images", type=int, default=24,
                   help="images (first N) whose bytes are compared between 1 and 2 torch threads")
    p.add_argument("--anchor", default=str(ROOT / "results" / "kodak" / "mean-scale-hyperprior.json"))
    p.add_argument("--out", default=str(ROOT / "results" / "kodak-mcq.json"))
    a = p.parse_args()
    codec = LearnedImageCodec.from_file(a.weights)
    files = list_images(a.kodak)[: a.images]
    images = [read_image(f) for f in files]
    t0 = time.perf_counter()
    points = []
    for q in range(1, codec.levels + 1):
        bpp, ps, ss, enc_s, dec_s, exact = [], [], [], [], [], True
        for img in images:
            t1 = time.perf_counter()
            enc = codec.compress(img, quality=q)
            data = container.pack(enc.header, enc.sections)
            t2 = time.perf_counter()
            header, sections = container.unpack(data)
            rec = codec.decompress(header, sections)
            t3 = time.perf_counter()
            lat, _, _ = codec.decompress_latents(header, sections)
            exact &= all(np.array_equal(x[k], y[k]) for x, y in zip(enc.latents, lat) for k in x)
            bpp.append(8 * len(data) / (img.shape[0] * img.shape[1]))
            ps.append(psnr_rgb(img, rec))
            ss.append(ms_ssim_rgb(img, rec))
            enc_s.append(t2 - t1)
            dec_s.append(t3 - t2)
        points.append({"quality": q, "units": enc.header.metadata.get("mcq_units"), "bpp": float(np.mean(bpp)),
                       "psnr_rgb": float(np.mean(ps)), "ms_ssim_rgb": float(np.mean(ss)),
                       "indices_exact_all": bool(exact), "mean_encode_s": float(np.mean(enc_s)),
                       "mean_decode_s": float(np.mean(dec_s))})
        print(json.dumps(points[-1]), flush=True)
    threads = torch.get_num_threads()
    same = True
    for img in images[: a.thread_images]:  # 1 vs 2 threads: identical bytes at every rate point
        for q in range(1, codec.levels + 1):
            torch.set_num_threads(1)
            one = codec.compress(img, quality=q).sections
            torch.set_num_threads(2)
            same &= one == codec.compress(img, quality=q).sections
    torch.set_num_threads(threads)
    result = {"codec": codec.name, "weights_sha256": codec.sha256, "config": codec.model.config(),
              "meta": codec.meta, "images": len(images),
              "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
              "points": points, "threads_1_vs_2_identical_bytes": bool(same),
              "threads_compared_images": min(a.thread_images, len(images)), "wall_s": time.perf_counter() - t0}
    anchor_path = Path(a.anchor)
    if anchor_path.is_file() and len(images) == 24:
        anchor = json.loads(anchor_path.read_text())["results"]
        rates = tuple(pt["bpp"] for pt in points)
        ms_db = tuple(-10.0 * np.log10(1.0 - pt["ms_ssim_rgb"]) for pt in points)
        for key, test_q, ref_q in (("psnr", tuple(pt["psnr_rgb"] for pt in points), anchor["psnr-rgb"]),
                                   ("ms_ssim_db", ms_db, anchor["ms-ssim-rgb-db"])):
            test = Curve(rates, test_q, "mcq")
            ref = Curve(tuple(anchor["bpp"]), tuple(ref_q), "mean-scale-hyperprior")
            try:
                result[f"bd_rate_{key}_vs_mean_scale_pct"] = bd_rate(ref, test)
            except ValueError as exc:  # the quality ranges do not overlap
                result[f"bd_rate_{key}_vs_mean_scale_pct"] = None
                result[f"bd_rate_{key}_note"] = str(exc)
            try:
                result[f"bd_{key}_vs_mean_scale_db"] = bd_quality(ref, test)
            except ValueError as exc:  # the rate ranges do not overlap
                result[f"bd_{key}_vs_mean_scale_db"] = None
                result[f"bd_{key}_note"] = str(exc)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
