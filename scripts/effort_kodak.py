"""Acceptance (issue 18 item 3): encoder effort presets on Kodak with real bitstreams.

For each learned codec (default: the mean-scale default and the context model) and each preset it
codes every image at the shipped rate points, decodes with the unchanged decoder and records mean bpp,
PSNR-RGB and encode seconds per image. BD-rate of each preset against ``default`` at equal PSNR-RGB.
Resumable: finished (codec, preset, quality, image) rows in the output are kept.

    .venv/bin/python scripts/effort_kodak.py [--codecs mean-scale-hyperprior,checkerboard-channel]
        [--efforts default,best] [--images 24] [--threads 2] [--out results/effort-kodak.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ncodec.codecs import container
from ncodec.codecs.imageio import atomic_write_bytes, read_image
from ncodec.codecs.registry import load_codec
from ncodec.datasets.images import data_root, list_images
from ncodec.evaluation.bdrate import Curve, bd_rate
from ncodec.evaluation.metrics import psnr_rgb

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kodak", default=str(data_root() / "kodak"))
    p.add_argument("--codecs", default="mean-scale-hyperprior,checkerboard-channel")
    p.add_argument("--efforts", default="default,best")
    p.add_argument("--qualities", default="1,2,3,4")
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "results" / "effort-kodak.json"))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    files = list_images(a.kodak)[: a.images]
    qualities = [float(q) for q in a.qualities.split(",")]
    out = Path(a.out)
    doc = json.loads(out.read_text()) if out.exists() else {"rows": []}
    doc["machine"] = f"{platform.machine()}, {platform.processor() or 'cpu'}, {a.threads} torch threads"
    done = {(r["codec"], r["effort"], r["quality"], r["image"]) for r in doc["rows"]}
    for name in a.codecs.split(","):
        codec = load_codec(name)
        for effort in a.efforts.split(","):
            for q in qualities:
                for f in files:
                    if (name, effort, q, f.name) in done:
                        continue
                    img = read_image(f)
                    t0 = time.perf_counter()
                    enc = codec.compress(img, quality=q, effort=effort)
                    data = container.pack(enc.header, enc.sections)
                    t1 = time.perf_counter()
                    header, sections = container.unpack(data)
                    rec = codec.decompress(header, sections)
                    doc["rows"].append({"codec": name, "effort": effort, "quality": q, "image": f.name,
                                        "bytes": len(data), "bpp": 8 * len(data) / (img.shape[0] * img.shape[1]),
                                        "psnr": psnr_rgb(img, rec), "encode_s": t1 - t0})
                    atomic_write_bytes(out, (json.dumps(doc, indent=1) + "\n").encode())
                print(f"{name} {effort} q{q:g}: done", flush=True)
    summary = {}
    for name in a.codecs.split(","):
        curves = {}
        for effort in a.efforts.split(","):
            rows = [r for r in doc["rows"] if r["codec"] == name and r["effort"] == effort]
            pts = [[r for r in rows if r["quality"] == q] for q in qualities]
            if not all(len(p) == len(files) for p in pts):
                continue
            curves[effort] = {"bpp": [float(np.mean([r["bpp"] for r in p])) for p in pts],
                              "psnr": [float(np.mean([r["psnr"] for r in p])) for p in pts],
                              "encode_s": float(np.mean([r["encode_s"] for r in rows]))}
        if "default" in curves and len(qualities) >= 4:  # BD metrics need 4 points
            base = Curve(curves["default"]["bpp"], curves["default"]["psnr"])
            for effort, c in curves.items():
                c["bd_rate_vs_default_pct"] = 0.0 if effort == "default" else bd_rate(base, Curve(c["bpp"], c["psnr"]))
        summary[name] = curves
    doc["summary"] = summary
    atomic_write_bytes(out, (json.dumps(doc, indent=1) + "\n").encode())
    print(f"{'codec':24s} {'effort':8s} {'BD-rate':>8s} {'enc s/img':>9s}  bpp / PSNR")
    for name, curves in summary.items():
        for effort, c in curves.items():
            pts = " ".join(f"{b:.3f}/{s:.2f}" for b, s in zip(c["bpp"], c["psnr"]))
            bd = c.get("bd_rate_vs_default_pct")
            print(f"{name:24s} {effort:8s} {'' if bd is None else format(bd, '+.2f') + ' %':>8s} "
                  f"{c['encode_s']:9.2f}  {pts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
