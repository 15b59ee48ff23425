"""Decode/encode time of the parallel context model against the mean-scale default on a 768x512 image.

Issue 4's goal: the checkerboard-channel model decodes within 2x the default's time on 2 cores. Both
codecs run in one process on the same image, median of repeated runs after a warm-up, model loading
excluded. Writes results/bench-context-speed.json and prints a table.

    python benchmarks/context_speed.py [--weights CTX.ncw] [--image kodim23.png] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from ncodec.codecs import container
from ncodec.codecs.imageio import read_image
from ncodec.codecs.registry import load_codec
from ncodec.datasets.images import data_root
from speed import median_time  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default=str(data_root() / "kodak" / "kodim23.png"))
    p.add_argument("--weights", default=None, help="checkerboard-channel weights (default: the shipped ones)")
    p.add_argument("--quality", type=float, default=3.0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "results" / "bench-context-speed.json"))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    image = read_image(a.image)
    rows = {}
    for name, weights in (("mean-scale-hyperprior", None), ("checkerboard-channel", a.weights)):
        codec = load_codec(name, weights)
        data = container.pack(*(lambda e: (e.header, e.sections))(codec.compress(image, quality=a.quality)))
        enc = median_time(lambda: codec.compress(image, quality=a.quality), a.repeats)
        dec = median_time(lambda: codec.decompress(*container.unpack(data)), a.repeats)
        rows[name] = {"bytes": len(data), "bpp": 8 * len(data) / (image.shape[0] * image.shape[1]),
                      "encode_s": enc, "decode_s": dec, "sections": len(container.unpack(data)[1])}
    base, ctx = rows["mean-scale-hyperprior"], rows["checkerboard-channel"]
    result = {"image": Path(a.image).name, "size": [int(image.shape[1]), int(image.shape[0])],
              "quality": a.quality, "threads": a.threads, "repeats": a.repeats,
              "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "torch": torch.__version__,
              "codecs": rows, "decode_ratio": ctx["decode_s"] / base["decode_s"],
              "encode_ratio": ctx["encode_s"] / base["encode_s"]}
    result["decode_within_2x"] = result["decode_ratio"] <= 2.0
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'codec':24} {'bpp':>7} {'encode s':>9} {'decode s':>9}")
    for name, r in rows.items():
        print(f"{name:24} {r['bpp']:7.4f} {r['encode_s']:9.3f} {r['decode_s']:9.3f}")
    print(f"context / default: encode {result['encode_ratio']:.2f}x, decode {result['decode_ratio']:.2f}x")
    print(f"wrote {a.out}")
    return 0 if result["decode_within_2x"] else 1


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
