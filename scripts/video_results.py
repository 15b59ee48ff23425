"""Video RD results on the shared clips: inr-video, x264, x265 (tune psnr, 4:2:0 and 4:4:4) and the
learned image codec applied frame by frame, on the same decoded RGB frames.

32 frames of each clip, scaled and centre-cropped to 320x192 (``--size``). The sources are lossy
(cityCC0: MPEG-2, tree: Cinepak, cockatoo: H.264, which favours x264); their decoded frames are the
originals here. Rate is bits / (W·H·frames) of the coded streams (for the image codec: the sum of
its ``.ncd`` files); quality is the mean of per-frame PSNR-RGB and PSNR-Y. Writes one JSON per clip
and codec in results/video/ (``ncodec plot``/``bdrate`` read them) and results/video/rd.png.

For inr-video each rate point records its fitting time (the cost of encoding on this machine) and its
decoding speed. ``--only inr-video`` or ``--only baselines`` reruns one part and reuses the other's JSON.

    python scripts/video_results.py [--frames 32] [--size 320x192] [--only inr-video|baselines]
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


def inr_video(frames: np.ndarray, qualities: list[int], threads: int) -> dict:
    """Fit, code and decode every quality level; rate from the real bitstream."""
    import torch

    from ncodec.codecs.video_inr import INRVideoCodec

    torch.set_num_threads(threads)
    codec = INRVideoCodec()
    t, h, w, _ = frames.shape
    rows = []
    for q in qualities:
        t0 = time.perf_counter()
        result = codec.compress(frames, quality=q)
        data = container.pack(result.header, result.sections)
        t1 = time.perf_counter()
        header, sections = container.unpack(data)
        out = codec.decompress(header, sections)
        t2 = time.perf_counter()
        rgb = [_psnr(a, b) for a, b in zip(frames, out)]
        y = [_psnr(a, b) for a, b in zip(luma(frames), luma(out))]
        rows.append({"quality": q, "bytes": len(data), "bpp": 8 * len(data) / (w * h * t),
                     "psnr-rgb": float(np.mean(rgb)), "psnr-y": float(np.mean(y)), "fit_s": t1 - t0,
                     "encode_fps": t / (t1 - t0), "decode_fps": t / (t2 - t1),
                     "group_bytes": [len(x) for x in sections[1:]], "params_per_group": result.stats["params_per_group"],
                     "fit_steps": result.stats["fit_steps"], "threads": threads})
        print(f"  inr-video q{q}: {rows[-1]['bpp']:.4f} bpp {rows[-1]['psnr-rgb']:.2f} dB, fit {t1 - t0:.0f} s, "
              f"decode {rows[-1]['decode_fps']:.0f} frames/s", flush=True)
    return {"name": "inr-video", "codec": "inr-video", "frames": t, "width": w, "height": h,
            "qualities": qualities, "rows": rows,
            "results": {k: [r[k] for r in rows] for k in ("bpp", "psnr-rgb", "psnr-y")}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--size", default="320x192")
    p.add_argument("--out", default=str(ROOT / "results" / "video"))
    p.add_argument("--only", choices=["inr-video", "baselines"], default=None)
    p.add_argument("--clips", default=",".join(CLIPS))
    p.add_argument("--qualities", default="1,2,3,4,5", help="inr-video quality levels")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    width, height = (int(v) for v in a.size.split("x"))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    old = out / "summary.json"
    summary = json.loads(old.read_text())["bd_rate_psnr_rgb_vs_x265_yuv420p"] if old.is_file() else {}
    for clip in a.clips.split(","):
        frames = read_video(data_root() / "video" / clip, frames=a.frames, size=(width, height))
        stem = Path(clip).stem
        fresh, docs = [], []
        if a.only != "inr-video":
            fresh += [evaluate(frames, codec, CRFS, pix_fmt) for codec in ("x264", "x265") for pix_fmt in ("yuv420p", "yuv444p")]
            fresh.append(per_frame_image_codec(frames))
        else:
            docs += [json.loads(f.read_text()) for f in sorted(out.glob(f"{stem}-*.json")) if not f.stem.endswith("inr-video")]
        if a.only != "baselines":
            fresh.append(inr_video(frames, [int(q) for q in a.qualities.split(",")], a.threads))
        elif (out / f"{stem}-inr-video.json").is_file():
            docs.append(json.loads((out / f"{stem}-inr-video.json").read_text()))
        docs += fresh
        for doc in fresh:
            doc.update(clip=clip, note="the clip's decoded frames are the originals (lossy source); "
                                       "rate over W*H*frames; mean of per-frame PSNR")
            slug = doc["name"].split(" ")[0]
            (out / f"{stem}-{slug}.json").write_text(json.dumps(doc, indent=1) + "\n")
            r = doc["results"]
            print(f"{clip:14s} {doc['name']:34s} " + "  ".join(f"{b:.3f}/{q:.2f}" for b, q in zip(r["bpp"], r["psnr-rgb"])),
                  flush=True)
        anchor = next(d for d in docs if d["name"] == "x265-yuv420p")["results"]
        summary[clip] = {d["name"]: _bd(anchor, d["results"]) for d in docs if d["name"] != "x265-yuv420p"}
        inr = next((d for d in docs if d["name"] == "inr-video"), None)
        per_frame = next((d for d in docs if d["name"].endswith("(per frame)")), None)
        if inr and per_frame:
            summary[clip]["inr-video vs per-frame image codec"] = _bd(per_frame["results"], inr["results"])
    (out / "summary.json").write_text(json.dumps({"bd_rate_psnr_rgb_vs_x265_yuv420p": summary,
                                                  "frames": a.frames, "size": a.size}, indent=1) + "\n")
    print("\nBD-rate (PSNR-RGB) vs x265 yuv420p:")
    for clip, row in summary.items():
        print(f"  {clip:14s} " + ", ".join(f"{k} {v:+.1f} %" if v is not None else f"{k} n/a" for k, v in row.items()))
    return 0


def _bd(anchor: dict, test: dict) -> float | None:
    """BD-rate (PSNR-RGB) in percent; None where the curves do not overlap."""
    try:
        return bd_rate(Curve(anchor["bpp"], anchor["psnr-rgb"]), Curve(test["bpp"], test["psnr-rgb"]))
    except ValueError:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
