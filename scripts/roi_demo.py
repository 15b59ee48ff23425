"""Acceptance (issue 18 item 2): region-of-interest coding on one Kodak image with real bitstreams.

Codes the image with a rectangle at quality Q over a background of quality B (one quality-map stream),
then finds, by bisection over the 0.01 quality grid, the lowest *uniform* quality whose PSNR inside the
rectangle reaches the ROI stream's, and compares file sizes. Also reports the PSNR the rectangle gets
at uniform quality Q (what it asked for). Writes JSON (default results/roi/kodim23.json).

    .venv/bin/python scripts/roi_demo.py [--image kodim23.png] [--roi 260,100,250,200] [--q 4] [--background 1]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch

from ncodec.codecs import container, qualitymap
from ncodec.codecs.imageio import read_image
from ncodec.codecs.registry import load_codec
from ncodec.datasets.images import data_root
from ncodec.evaluation.metrics import psnr_rgb

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--codec", default="mean-scale-hyperprior")
    p.add_argument("--image", default=str(data_root() / "kodak" / "kodim23.png"))
    p.add_argument("--roi", default="260,100,250,200", help="x,y,w,h in pixels")
    p.add_argument("--q", type=float, default=4.0, help="quality inside the rectangle")
    p.add_argument("--background", type=float, default=1.0)
    p.add_argument("--out", default=str(ROOT / "results" / "roi" / "kodim23.json"))
    a = p.parse_args()
    torch.set_num_threads(1)
    codec = load_codec(a.codec)
    img = read_image(a.image)
    h, w = img.shape[:2]
    x, y, rw, rh = (int(v) for v in a.roi.split(","))

    def roi(arr: np.ndarray) -> np.ndarray:
        return arr[y:y + rh, x:x + rw]

    def run(**kw):
        enc = codec.compress(img, **kw)
        data = container.pack(enc.header, enc.sections)
        header, sections = container.unpack(data)
        out = codec.decompress(header, sections)
        return len(data), psnr_rgb(roi(img), roi(out)), psnr_rgb(img, out)

    qmap = qualitymap.roi_map([f"{a.roi}:{a.q}"], h, w, a.background, codec.levels)
    roi_bytes, roi_psnr, roi_full = run(quality_map=qmap)
    asked_bytes, asked_psnr, asked_full = run(quality=a.q)
    grid = codec.quality_grid()
    lo, hi = 0, len(grid) - 1  # lowest uniform quality with ROI PSNR >= the ROI stream's
    cache: dict[int, tuple[int, float, float]] = {}
    while lo < hi:
        mid = (lo + hi) // 2
        cache[mid] = run(quality=grid[mid])
        if cache[mid][1] >= roi_psnr:
            hi = mid
        else:
            lo = mid + 1
    uniform = cache.get(lo) or run(quality=grid[lo])
    report = {
        "codec": a.codec, "image": Path(a.image).name, "size": [w, h], "roi": [x, y, rw, rh],
        "roi_quality": a.q, "background_quality": a.background,
        "machine": f"{platform.machine()}, 1 torch thread",
        "roi_stream": {"bytes": roi_bytes, "bpp": 8 * roi_bytes / (h * w), "roi_psnr": roi_psnr, "psnr": roi_full},
        "uniform_at_roi_quality": {"quality": a.q, "bytes": asked_bytes, "roi_psnr": asked_psnr, "psnr": asked_full},
        "uniform_matching_roi_psnr": {"quality": grid[lo], "bytes": uniform[0], "roi_psnr": uniform[1],
                                      "psnr": uniform[2]},
        "saving": 1.0 - roi_bytes / uniform[0],
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"{'stream':34s} {'bytes':>7s} {'ROI PSNR':>9s} {'PSNR':>7s}")
    print(f"{'ROI q%g, background q%g' % (a.q, a.background):34s} {roi_bytes:7d} {roi_psnr:9.2f} {roi_full:7.2f}")
    print(f"{'uniform q%g (what the ROI asked)' % a.q:34s} {asked_bytes:7d} {asked_psnr:9.2f} {asked_full:7.2f}")
    print(f"{'uniform q%g (same ROI PSNR)' % grid[lo]:34s} {uniform[0]:7d} {uniform[1]:9.2f} {uniform[2]:7.2f}")
    print(f"ROI stream: {100 * report['saving']:.1f} % fewer bytes than the uniform quality with the same ROI PSNR")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
