"""Encode and decode time of the point-cloud codecs on a point cloud of over 100k points (issue 7: each <= 5 s on 2 cores).

Input: table_scene_mug_stereo_textured.pcd (209,280 finite points, all distinct voxels from 12 bits up)
from the shared data folder; every bit depth in --bits; median of
--repeats runs after a warm-up, reading the file excluded. Writes results/bench-pointcloud-speed.json
and prints a table.

    python benchmarks/pointcloud_speed.py [--input PATH] [--bits 10,12,14] [--codecs octree-adaptive,draco]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from ncodec.codecs import container
from ncodec.codecs.pointio import read_points
from ncodec.codecs.registry import load_codec
from ncodec.datasets.images import data_root

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", default=str(data_root() / "3d" / "table_scene_mug_stereo_textured.pcd"))
    p.add_argument("--bits", default="10,12,14")
    p.add_argument("--codecs", default="octree-pc,octree-adaptive,draco")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--points", type=int, default=None, help="code a random subset of this many points (seed 0)")
    p.add_argument("--color-step", type=float, default=0.0,
                   help="colour quantisation step (default 0: geometry only, the figure issue 7 asks for)")
    p.add_argument("--out", default=str(ROOT / "results" / "bench-pointcloud-speed.json"))
    a = p.parse_args()
    cloud = read_points(a.input)
    if a.points is not None and a.points < len(cloud):
        keep = np.sort(np.random.default_rng(0).choice(len(cloud), a.points, replace=False))
        cloud.points = cloud.points[keep]
        cloud.colors = None if cloud.colors is None else cloud.colors[keep]
        cloud.normals = None if cloud.normals is None else cloud.normals[keep]
    rows = []
    for name in a.codecs.split(","):
        codec = load_codec(name)
        for bits in (int(b) for b in a.bits.split(",")):
            codec.compress(cloud, quality=bits, color_step=a.color_step)  # warm-up
            enc_times, dec_times = [], []
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                result = codec.compress(cloud, quality=bits, color_step=a.color_step)
                data = container.pack(result.header, result.sections)
                t1 = time.perf_counter()
                header, sections = container.unpack(data)
                voxels = codec.decompress(header, sections)
                t2 = time.perf_counter()
                enc_times.append(t1 - t0)
                dec_times.append(t2 - t1)
            rows.append({"codec": name, "bits": bits, "points": len(cloud), "voxels": len(voxels.coords),
                         "bytes": len(data), "encode_s": float(np.median(enc_times)),
                         "decode_s": float(np.median(dec_times))})
    doc = {"benchmark": "pointcloud-speed", "input": Path(a.input).name, "subset_points": a.points, "color_step": a.color_step,
           "machine": platform.platform(),
           "results": rows}
    Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")
    print("| codec | bits | points | voxels | bytes | encode s | decode s |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['codec']} | {r['bits']} | {r['points']:,} | {r['voxels']:,} | {r['bytes']:,} | "
              f"{r['encode_s']:.2f} | {r['decode_s']:.2f} |")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    raise SystemExit(run_reporting_errors(main))
