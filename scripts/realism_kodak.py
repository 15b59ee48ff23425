"""Acceptance (issue 17 item 1): the realism decoder on Kodak at the default codec's lowest rates.

For each base quality (default 1 and 2, the mean-scale default's two lowest rate points), every Kodak
image is encoded once; the same stream is decoded with the MSE decoder (R = 0) and with the realism
generator at each R. AVIF and HEVC-intra are encoded per image at the best quality whose file is not
larger than the learned stream (same rate or less; bisection over quality). For every set: bpp, PSNR-RGB, MS-SSIM,
ST-LPIPS, HaarPSI, DSS, VIFp, GMSD (per image, averaged) and FID/KID against the originals
(evaluation/perceptual.py). Writes JSON (default results/realism/kodak-realism.json) and prints a table.

    .venv/bin/python scripts/realism_kodak.py --realism-weights models/weights/realism-msh-vr-n64m96.ncw
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

ROOT = Path(__file__).resolve().parent.parent


def _matched(codec: object, img: np.ndarray, max_bytes: int, qualities: list[int], lower_is_better: bool
             ) -> tuple[np.ndarray, int, int]:
    """Classical encode at the best quality whose stream fits in ``max_bytes`` (else the smallest
    stream): bisection over ``qualities``, whose sizes grow with quality."""
    from ncodec.codecs import container

    order = sorted(qualities, reverse=lower_is_better)  # smallest stream first
    cache: dict[int, tuple] = {}

    def encode(i: int) -> tuple:
        if i not in cache:
            enc = codec.compress(img, quality=order[i])
            cache[i] = (enc, len(container.pack(enc.header, enc.sections)))
        return cache[i]

    lo, hi = 0, len(order) - 1
    if encode(lo)[1] > max_bytes:
        hi = lo
    while lo < hi:  # invariant: order[lo] fits
        mid = (lo + hi + 1) // 2
        if encode(mid)[1] <= max_bytes:
            lo = mid
        else:
            hi = mid - 1
    enc, size = encode(lo)
    return codec.decompress(enc.header, enc.sections), size, order[lo]


def main() -> int:
    from ncodec.codecs import container
    from ncodec.codecs.image import LearnedImageCodec
    from ncodec.codecs.classical import load_classical
    from ncodec.codecs.imageio import read_image
    from ncodec.codecs.realism import RealismDecoder
    from ncodec.datasets.images import data_root, list_images
    from ncodec.evaluation.metrics import ms_ssim_rgb, psnr_rgb
    from ncodec.evaluation.perceptual import PerceptualMeasures, fid, kid
    from ncodec.models.zoo import find_weights

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--realism-weights", required=True)
    p.add_argument("--weights", default=None, help="base codec weights (default: the shipped default)")
    p.add_argument("--kodak", default=str(data_root() / "kodak"))
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--qualities", default="1,2")
    p.add_argument("--realism", default="0.5,1.0", help="R values besides 0")
    p.add_argument("--no-classical", action="store_true", help="skip the AVIF/HEVC-intra sets")
    p.add_argument("--out", default=str(ROOT / "results" / "realism" / "kodak-realism.json"))
    p.add_argument("--save-decoded", default=None, help="folder for the decoded PNGs (for the README figure)")
    a = p.parse_args()
    base = LearnedImageCodec.from_file(a.weights or find_weights("mean-scale-hyperprior"))
    decoder = RealismDecoder.from_file(a.realism_weights)
    decoder.check_base(base.name, base.sha256)  # before any work, not at the first decode
    files = list_images(a.kodak)[: a.images]
    if not files:
        from ncodec.errors import UnsupportedInputError

        raise UnsupportedInputError(f"no Kodak images in {a.kodak} (set NCODEC_DATA)")
    originals = [read_image(f) for f in files]
    measures = PerceptualMeasures()
    real_feats = measures.inception_features(originals)
    rs = [0.0] + [float(v) for v in a.realism.split(",")]
    classical = {} if a.no_classical else {"avif": (load_classical("avif"), list(range(0, 101, 2)), False),
                                           "hevc-intra": (load_classical("hevc-intra"), list(range(0, 52)), True)}
    t0 = time.perf_counter()
    result: dict = {"base_codec": base.name, "base_sha256": base.sha256, "realism_sha256": decoder.sha256,
                    "realism_meta": decoder.meta, "images": len(files),
                    "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
                    "measures": {"lower_is_better": ["st_lpips", "gmsd", "fid", "kid"],
                                 "higher_is_better": ["psnr_rgb", "ms_ssim_rgb", "haarpsi", "dss", "vif_p"]},
                    "points": []}
    save = Path(a.save_decoded) if a.save_decoded else None
    for q in (float(v) for v in a.qualities.split(",")):
        sets: dict[str, list] = {f"R={r:g}": [] for r in rs}
        sets.update({name: [] for name in classical})
        sizes: dict[str, list[int]] = {k: [] for k in sets}
        per_image: dict[str, list[dict]] = {k: [] for k in sets}
        for f, img in zip(files, originals):
            enc = base.compress(img, quality=q)
            data = container.pack(enc.header, enc.sections)
            header, sections = container.unpack(data)
            for r in rs:
                out = base.decompress(header, sections, realism=r, realism_decoder=decoder if r else None)
                sets[f"R={r:g}"].append(out)
                sizes[f"R={r:g}"].append(len(data))
            for name, (codec, qs, lower) in classical.items():
                out, size, cq = _matched(codec, img, len(data), qs, lower)
                sets[name].append(out)
                sizes[name].append(size)
                per_image[name].append({"quality": cq})
            if save is not None:
                folder = save / f"q{q:g}"
                folder.mkdir(parents=True, exist_ok=True)
                from ncodec.codecs.imageio import write_image

                sizes_file = folder / "bpp.json"
                table = json.loads(sizes_file.read_text()) if sizes_file.is_file() else {}
                pixels = img.shape[0] * img.shape[1]
                table[f.stem] = {}
                for key, images in sets.items():
                    write_image(folder / f"{f.stem}-{key.replace('=', '')}.png", images[-1])
                    table[f.stem][key.replace("=", "")] = 8 * sizes[key][-1] / pixels
                sizes_file.write_text(json.dumps(table, indent=1) + "\n")
        for key, images in sets.items():
            rows = []
            for img, out, extra in zip(originals, images, per_image[key] or [{}] * len(images)):
                m = {"psnr_rgb": psnr_rgb(img, out), "ms_ssim_rgb": ms_ssim_rgb(img, out),
                     **measures.full_reference(img, out), **extra}
                rows.append(m)
            feats = measures.inception_features(images)
            point = {"base_quality": q, "set": key,
                     "bpp": float(np.mean([8 * s / (i.shape[0] * i.shape[1]) for s, i in zip(sizes[key], originals)])),
                     **{k: float(np.mean([row[k] for row in rows])) for k in rows[0] if k != "quality"},
                     "fid": fid(real_feats, feats), "kid": kid(real_feats, feats), "patches": int(len(feats))}
            result["points"].append(point)
            print(json.dumps(point), flush=True)
    result["wall_s"] = time.perf_counter() - t0
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)
    keys = ["bpp", "psnr_rgb", "ms_ssim_rgb", "st_lpips", "haarpsi", "dss", "vif_p", "gmsd", "fid", "kid"]
    print("| q | set | " + " | ".join(keys) + " |")
    for pt in result["points"]:
        print(f"| {pt['base_quality']:g} | {pt['set']} | " + " | ".join(f"{pt[k]:.4f}" for k in keys) + " |")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
