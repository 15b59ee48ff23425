"""Decoding speed of inr-video at 640x360 (issue 8: >= 10 frames/s on 2 cores), per quality level.

Input: --frames frames of a shared clip scaled and cropped to --size. Each quality level is encoded once
with a short fit (--fit-effort; decoding cost depends on the network size only, never on how long it was
fitted), then the real bitstream is decoded --repeats times after a warm-up: parsing, entropy decoding,
rebuilding every group's network and rendering every frame to uint8. The median is reported, with the
bitstream read from memory (no file I/O) and nothing else running. Writes
results/bench-video-decode.json and prints a table.

    python benchmarks/video_decode.py [--clip cityCC0.mpg] [--size 640x360] [--frames 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from ncodec.codecs import container
from ncodec.codecs.video_inr import QUALITY_LEVELS, INRVideoCodec
from ncodec.codecs.videoio import read_video
from ncodec.datasets.images import data_root

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", default="cityCC0.mpg")
    p.add_argument("--size", default="640x360")
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--qualities", default=",".join(str(q) for q in QUALITY_LEVELS))
    p.add_argument("--fit-effort", type=float, default=0.02)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "results" / "bench-video-decode.json"))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    width, height = (int(v) for v in a.size.split("x"))
    frames = read_video(data_root() / "video" / a.clip, frames=a.frames, size=(width, height))
    codec = INRVideoCodec()
    rows = []
    for q in (int(v) for v in a.qualities.split(",")):
        result = codec.compress(frames, quality=q, steps_scale=a.fit_effort)
        data = container.pack(result.header, result.sections)
        times = []
        for i in range(a.repeats + 1):
            t0 = time.perf_counter()
            header, sections = container.unpack(data)
            out = codec.decompress(header, sections)
            if i:  # the first run is the warm-up
                times.append(time.perf_counter() - t0)
        assert out.shape == frames.shape
        median = statistics.median(times)
        rows.append({"quality": q, "params_per_group": result.stats["params_per_group"], "bytes": len(data),
                     "decode_s": median, "decode_fps": len(frames) / median})
    doc = {"benchmark": "inr-video decode", "clip": a.clip, "size": a.size, "frames": len(frames),
           "threads": a.threads, "machine": f"{platform.processor() or platform.machine()}, {a.threads} threads",
           "fit_effort": a.fit_effort, "rows": rows}
    Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"inr-video decode, {a.frames} frames of {a.clip} at {a.size}, {a.threads} threads")
    print(f"{'quality':>7} {'params/group':>12} {'decode s':>9} {'frames/s':>9}")
    for r in rows:
        print(f"{r['quality']:>7} {r['params_per_group']:>12} {r['decode_s']:>9.3f} {r['decode_fps']:>9.1f}")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    raise SystemExit(run_reporting_errors(main))
