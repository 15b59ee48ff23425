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
    python scripts/video_results.py --only plots   # summary and plots from the JSON alone (no clips needed)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ncodec.codecs.videoio import read_video
from ncodec.datasets.images import data_root
from ncodec.evaluation.bdrate import Curve, bd_rate
from ncodec.evaluation.plot import plot_rd
from ncodec.evaluation.video_baselines import evaluate
from ncodec.evaluation.video_eval import evaluate_inr, evaluate_per_frame

ROOT = Path(__file__).resolve().parent.parent
CLIPS = ["cityCC0.mpg", "tree.avi", "cockatoo.mp4"]
CRFS = [22, 27, 32, 37, 42]
IMAGE_QUALITIES = [1.0, 1.75, 2.5, 3.25, 4.0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--size", default="320x192")
    p.add_argument("--out", default=str(ROOT / "results" / "video"))
    p.add_argument("--only", choices=["inr-video", "baselines", "plots"], default=None,
                   help="rerun one part and reuse the other's JSON (plots: only the summary and the plots)")
    p.add_argument("--clips", default=",".join(CLIPS))
    p.add_argument("--qualities", default="1,2,3,4,5", help="inr-video quality levels")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    width, height = (int(v) for v in a.size.split("x"))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    old = out / "summary.json"
    summary = json.loads(old.read_text())["bd_rate_psnr_rgb_vs_x265_yuv420p"] if old.is_file() else {}
    for clip in a.clips.split(","):
        # plots only: every number comes from the JSON, the clip is not read
        frames = None if a.only == "plots" else read_video(data_root() / "video" / clip, frames=a.frames,
                                                             size=(width, height))
        stem = Path(clip).stem
        fresh, docs = [], []
        if a.only not in ("inr-video", "plots"):
            fresh += [evaluate(frames, codec, CRFS, pix_fmt) for codec in ("x264", "x265") for pix_fmt in ("yuv420p", "yuv444p")]
            fresh.append(evaluate_per_frame(frames, "mean-scale-hyperprior", IMAGE_QUALITIES))
        else:
            docs += [json.loads(f.read_text()) for f in sorted(out.glob(f"{stem}-*.json")) if not f.stem.endswith("inr-video")]
        if a.only not in ("baselines", "plots"):
            fresh.append(evaluate_inr(frames, [float(q) for q in a.qualities.split(",")]))
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
        names = [f"{stem}-{d['name'].split(' ')[0]}.json" for d in docs]
        plot_rd([str(out / n) for n in sorted(names) if n != f"{stem}-x265-yuv420p.json"], out / f"{stem}-rd.png", ["psnr-rgb"],
                anchor=str(out / f"{stem}-x265-yuv420p.json"), title=f"{clip}, {a.frames} frames at {a.size}")
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
    from ncodec.cli import run_reporting_errors

    raise SystemExit(run_reporting_errors(main))
