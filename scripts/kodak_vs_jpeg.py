"""Acceptance: the shipped default codec vs Pillow JPEG on the 24 Kodak images, with real bitstreams.

For each documented quality point: average bpp (real .ncd size) and PSNR-RGB over Kodak, whether the
decoder's latents equal the encoder's for every image, the float model's ideal rate vs the
fixed-point/integer-table path (the cost of determinism), and the rate ratio against JPEG's curve
(Pillow, qualities 5-95 step 5, 4:2:0) at equal PSNR. Writes results/kodak-default-vs-jpeg.json.

    .venv/bin/python scripts/kodak_vs_jpeg.py [--weights W.ncw] [--qualities 1,2,3,4]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ncodec.codecs import container
from ncodec.codecs.image import LearnedImageCodec
from ncodec.codecs.imageio import read_image
from ncodec.codecs.latent import channel_index
from ncodec.codecs.registry import DEFAULT_CODEC, load_codec
from ncodec.datasets.images import data_root, list_images
from ncodec.evaluation.jpeg import rate_at_psnr
from ncodec.evaluation.metrics import psnr_rgb

ROOT = Path(__file__).resolve().parent.parent


@torch.inference_mode()
def float_path_bits(codec: LearnedImageCodec, image: np.ndarray, quality: float) -> float:
    """Ideal bits of the float model (float hyper-synthesis, float likelihoods), no coder, no tables."""
    m = codec.model
    x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float() / 255.0
    x = codec._pad(x)
    gain, _ = m.gains(quality)
    y = m.g_a(x) * gain
    z_hat = torch.round(m.h_a(y))
    qat = m.h_s.qat
    m.h_s.qat = False
    scales, means = m.entropy_parameters(z_hat)
    m.h_s.qat = qat
    y_hat = torch.round(y - means) + means
    bits = -torch.log2(m.gaussian.likelihood(y_hat, scales, means)).sum()
    bits += -torch.log2(m.z_density.likelihood(z_hat)).sum()
    return float(bits)


def fixed_path_bits(codec: LearnedImageCodec, latents: dict[str, np.ndarray]) -> float:
    """Ideal bits of the integer tables chosen by the fixed-point path for the coded symbols."""
    z = torch.from_numpy(latents["z"])
    latent = codec.latent  # the mean-scale hyperprior's latent codec (codecs/latent.py)
    idx, _ = latent.params(z)
    total = 0.0
    for sym, tidx, tables in ((latents["y"].reshape(-1), idx.numpy().reshape(-1), latent.gaussian.y_tables),
                              (latents["z"].reshape(-1), channel_index(z.shape), latent.hyper.z_tables)):
        lo = tables.offsets[tidx]
        n = tables.lengths[tidx]
        bins = np.where((sym < lo) | (sym >= lo + n), n, sym - lo)
        total += float(-np.log2(tables.counts[tidx, bins] / 65536.0).sum())
    return total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--weights", default=None)
    p.add_argument("--qualities", default="1,2,3,4")
    p.add_argument("--kodak", default=str(data_root() / "kodak"))
    p.add_argument("--out", default=str(ROOT / "results" / "kodak-default-vs-jpeg.json"))
    a = p.parse_args()
    files = list_images(a.kodak)
    codec = LearnedImageCodec.from_file(a.weights) if a.weights else load_codec(DEFAULT_CODEC)
    images = [read_image(f) for f in files]
    t0 = time.perf_counter()
    jpeg, jpeg_codec = [], load_codec("jpeg")
    for q in range(5, 100, 5):
        bpp, ps = [], []
        for img in images:
            enc = jpeg_codec.compress(img, quality=q)
            dec = jpeg_codec.decompress(enc.header, enc.sections)
            n = len(enc.sections[0])  # the bare JPEG file: JPEG is not charged for our container
            bpp.append(8 * n / (img.shape[0] * img.shape[1]))
            ps.append(psnr_rgb(img, dec))
        jpeg.append({"quality": q, "bpp": float(np.mean(bpp)), "psnr": float(np.mean(ps))})
    jb, jp = [j["bpp"] for j in jpeg], [j["psnr"] for j in jpeg]
    points = []
    for q in [float(v) for v in a.qualities.split(",")]:
        bpp, ps, fbits, ibits, abits, enc_s, dec_s, exact = [], [], [], [], [], [], [], True
        for img in images:
            pixels = img.shape[0] * img.shape[1]
            t1 = time.perf_counter()
            enc = codec.compress(img, quality=q)
            data = container.pack(enc.header, enc.sections)
            t2 = time.perf_counter()
            header, sections = container.unpack(data)
            lat, _, _ = codec.decompress_latents(header, sections)
            rec = codec.decompress(header, sections)
            t3 = time.perf_counter()
            exact &= all(np.array_equal(a_["y"], b_["y"]) and np.array_equal(a_["z"], b_["z"])
                         for a_, b_ in zip(enc.latents, lat))
            bpp.append(8 * len(data) / pixels)
            ps.append(psnr_rgb(img, rec))
            fbits.append(float_path_bits(codec, img, q))
            ibits.append(fixed_path_bits(codec, enc.latents[0]) if len(enc.latents) == 1 else math.nan)
            abits.append(8.0 * len(data))
            enc_s.append(t2 - t1)
            dec_s.append(t3 - t2)
        mean_bpp, mean_psnr = float(np.mean(bpp)), float(np.mean(ps))
        jpeg_rate = rate_at_psnr(jb, jp, mean_psnr)
        points.append({
            "quality": q, "bpp": mean_bpp, "psnr_rgb": mean_psnr, "latents_exact_all_24": bool(exact),
            "jpeg_bpp_at_equal_psnr": jpeg_rate,
            "rate_ratio_vs_jpeg": None if jpeg_rate is None else mean_bpp / jpeg_rate,
            "below_jpeg_curve": bool(jpeg_rate is not None and mean_bpp < jpeg_rate),
            "float_model_ideal_bpp": float(np.sum(fbits) / sum(i.shape[0] * i.shape[1] for i in images)),
            "fixed_point_ideal_bpp": float(np.sum(ibits) / sum(i.shape[0] * i.shape[1] for i in images)),
            "determinism_rate_cost_pct": float(100 * (np.sum(abits) / np.sum(fbits) - 1)),
            "mean_encode_s": float(np.mean(enc_s)), "mean_decode_s": float(np.mean(dec_s)),
        })
    result = {"codec": codec.name, "weights_sha256": codec.sha256, "images": len(images),
              "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
              "jpeg": {"encoder": "Pillow JPEG, 4:2:0 (default)", "points": jpeg}, "codec_points": points,
              "all_points_below_jpeg": all(pt["below_jpeg_curve"] for pt in points),
              "wall_s": time.perf_counter() - t0}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'q':>5} {'bpp':>7} {'PSNR':>7} {'JPEG bpp@PSNR':>14} {'ratio':>6} {'below':>6} {'exact':>6} {'det.cost':>8}")
    for pt in points:
        jr = pt["jpeg_bpp_at_equal_psnr"]
        print(f"{pt['quality']:>5g} {pt['bpp']:7.4f} {pt['psnr_rgb']:7.2f} {jr if jr is None else round(jr, 4)!s:>14} "
              f"{pt['rate_ratio_vs_jpeg'] if pt['rate_ratio_vs_jpeg'] is None else round(pt['rate_ratio_vs_jpeg'], 3)!s:>6} "
              f"{pt['below_jpeg_curve']!s:>6} {pt['latents_exact_all_24']!s:>6} {pt['determinism_rate_cost_pct']:7.2f}%")
    print(f"wrote {out}")
    return 0 if result["all_points_below_jpeg"] else 1


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
