"""Video RD baselines on the shared clips: x264, x265 (tune psnr, 4:2:0 and 4:4:4) and the learned image
codec applied frame by frame, on the same decoded RGB frames.

32 frames of each clip, scaled and centre-cropped to 320x192 (``--size``). The sources are lossy
(cityCC0: MPEG-2, tree: Cinepak, cockatoo: H.264, which favours x264); their decoded frames are the
originals here. Rate is bits / (W·H·frames) of the coded streams (for the image codec: the sum of
its ``.ncd`` files); quality is the mean of per-frame PSNR-RGB and PSNR-Y. Writes one JSON per clip
and codec in results/video/ (``ncodec plot``/``bdrate`` read them) and results/video/rd.png.

    python scripts/video_results.py [--frames 32] [--size 320x192]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ncodec.codecs import container
from ncodec.codecs.registry import load_codec
from ncodec.codecs.videoio import read_video
from ncodec.datasets.images import data_root
from ncodec.evaluation.bdrate import Curve, bd_rate
from ncodec.evaluation.video_baselines import _psnr, evaluate, luma

ROOT = Path(__file__).resolve().parent.parent
CLIPS = ["cityCC0.mpg", "tree.avi", "cockatoo.mp4"]
CRFS = [22, 27, 32, 37, 42]
IMAGE_QUALITIES = [1.0, 1.75, 2.5, 3.25, 4.0]


def per_frame_image_codec(frames: np.ndarray, name: str = "mean-scale-hyperprior") -> dict:
    codec = load_codec(name)
    t, h, w, _ = frames.shape
    rows = []
    for q in IMAGE_QUALITIES:
        size, rgb, y, t0 = 0, [], [], time.perf_counter()
        for frame in frames:
            enc = codec.compress(frame, quality=q)
            data = container.pack(enc.header, enc.sections)
            header, sections = container.unpack(data)
            out = codec.decompress(header, sections)
            size += len(data)
            rgb.append(_psnr(frame, out))
            y.append(_psnr(luma(frame[None])[0], luma(out[None])[0]))
        rows.append({"quality": q, "bytes": size, "bpp": 8 * size / (w * h * t), "psnr-rgb": float(np.mean(rgb)),
                     "psnr-y": float(np.mean(y)), "fps": t / (time.perf_counter() - t0)})
    return {"name": f"{name} (per frame)", "codec": name, "frames": t, "width": w, "height": h,
            "qualities": IMAGE_QUALITIES, "rows": rows,
            "results": {k: [r[k] for r in rows] for k in ("bpp", "psnr-rgb", "psnr-y")}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--size", default="320x192")
    p.add_argument("--out", default=str(ROOT / "results" / "video"))
    a = p.parse_args()
    width, height = (int(v) for v in a.size.split("x"))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for clip in CLIPS:
        frames = read_video(data_root() / "video" / clip, frames=a.frames, size=(width, height))
        docs = [evaluate(frames, codec, CRFS, pix_fmt) for codec in ("x264", "x265") for pix_fmt in ("yuv420p", "yuv444p")]
        docs.append(per_frame_image_codec(frames))
        stem = Path(clip).stem
        for doc in docs:
            doc.update(clip=clip, note="the clip's decoded frames are the originals (lossy source); "
                                       "rate over W*H*frames; mean of per-frame PSNR")
            slug = doc["name"].split(" ")[0]
            (out / f"{stem}-{slug}.json").write_text(json.dumps(doc, indent=1) + "\n")
            r = doc["results"]
            print(f"{clip:14s} {doc['name']:34s} " + "  ".join(f"{b:.3f}/{q:.2f}" for b, q in zip(r["bpp"], r["psnr-rgb"])),
                  flush=True)
        anchor = next(d for d in docs if d["name"] == "x265-yuv420p")["results"]
        summary[clip] = {d["name"]: bd_rate(Curve(anchor["bpp"], anchor["psnr-rgb"]), Curve(d["results"]["bpp"], d["results"]["psnr-rgb"]))
                         for d in docs if d["name"] != "x265-yuv420p"}
    (out / "summary.json").write_text(json.dumps({"bd_rate_psnr_rgb_vs_x265_yuv420p": summary,
                                                  "frames": a.frames, "size": a.size}, indent=1) + "\n")
    print("\nBD-rate (PSNR-RGB) vs x265 yuv420p:")
    for clip, row in summary.items():
        print(f"  {clip:14s} " + ", ".join(f"{k} {v:+.1f} %" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
