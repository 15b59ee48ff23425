"""Dense voxelised surfaces against G-PCC (issue 19): bits per voxel of ncodec's geometry coders on the
clouds of ``../shared/data/anchors/3d/gpcc-dense.json``.

Each cloud is made from its mesh by ``pointio.surface_voxels`` (the anchor's generator, checked against
the sha256 the JSON lists), coded losslessly with ``--voxel-grid identity`` through real bitstreams,
decoded, and compared voxel for voxel. Times are whole ``ncodec encode`` / ``ncodec decode`` processes,
as the anchor's are whole tmc3 processes. Writes results/3d/dense.json and prints a table with the
ratio to G-PCC's bits.

    python scripts/dense_results.py [--codecs octree-dense,octree-pc,octree-adaptive] [--bits 8,9] [--meshes bunny00.off]
        [--threads-check] [--out results/3d/dense.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    from ncodec.codecs.imageio import atomic_write_bytes
    from ncodec.codecs.pointio import read_mesh, read_points, surface_voxels, voxel_sha256, write_ply
    from ncodec.datasets.images import data_root

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--codecs", default="octree-pc,octree-adaptive")
    p.add_argument("--bits", default="8,9,10")
    p.add_argument("--meshes", default=None, help="comma-separated mesh names (default: every cloud of the anchor)")
    p.add_argument("--anchor", default=str(data_root() / "anchors" / "3d" / "gpcc-dense.json"))
    p.add_argument("--out", default=str(ROOT / "results" / "3d" / "dense.json"))
    p.add_argument("--threads-check", action="store_true", help="also encode with 1 thread and compare the bytes")
    a = p.parse_args()
    anchor_path = Path(a.anchor)
    if not anchor_path.is_file():
        raise SystemExit(f"the G-PCC anchor {anchor_path} is missing (it ships in ../shared/data/anchors/3d)")
    anchor = json.loads(anchor_path.read_text())
    bits_wanted = {int(b) for b in a.bits.split(",")}
    meshes = set(a.meshes.split(",")) if a.meshes else None
    clouds = [c for c in anchor["clouds"] if c["bits"] in bits_wanted and (meshes is None or c["mesh"] in meshes)]
    ncodec = [sys.executable, "-m", "ncodec.cli"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cloud in clouds:
            mesh = read_mesh(data_root() / "3d" / cloud["mesh"])
            vox = surface_voxels(mesh, cloud["bits"])
            sha = voxel_sha256(vox)
            if sha != cloud["sha256"] or len(vox) != cloud["voxels"]:
                raise SystemExit(f"{cloud['mesh']} at {cloud['bits']} bits: {len(vox)} voxels, sha256 {sha[:16]}…, "
                                 f"the anchor has {cloud['voxels']} and {cloud['sha256'][:16]}…")
            src = Path(tmp) / f"{Path(cloud['mesh']).stem}-{cloud['bits']}.ply"
            write_ply(src, vox.astype(np.float64))
            for codec in a.codecs.split(","):
                ncd, out = Path(tmp) / f"{codec}.ncd", Path(tmp) / f"{codec}.ply"
                t0 = time.perf_counter()
                subprocess.run([*ncodec, "encode", str(src), str(ncd), "--codec", codec, "--quality", str(cloud["bits"]),
                                "--voxel-grid", "identity", "--force"], check=True, capture_output=True)
                t1 = time.perf_counter()
                subprocess.run([*ncodec, "decode", str(ncd), str(out), "--force"], check=True, capture_output=True)
                t2 = time.perf_counter()
                one_thread = None
                if a.threads_check:  # the same encode on one thread must give the same bytes
                    ncd1 = Path(tmp) / f"{codec}-1.ncd"
                    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
                    subprocess.run([*ncodec, "encode", str(src), str(ncd1), "--codec", codec, "--quality",
                                    str(cloud["bits"]), "--voxel-grid", "identity", "--force"], check=True,
                                   capture_output=True, env=env)
                    one_thread = ncd1.read_bytes() == ncd.read_bytes()
                back = read_points(out).points
                exact = bool(np.array_equal(back, np.round(back)) and voxel_sha256(back.astype(np.int64)) == sha)
                bpv = 8 * ncd.stat().st_size / len(vox)
                row = {"mesh": cloud["mesh"], "bits": cloud["bits"], "voxels": len(vox), "codec": codec,
                       "bytes": ncd.stat().st_size, "bits_per_voxel": bpv, "gpcc_bits_per_voxel": cloud["gpcc_bpp"],
                       "vs_gpcc_pct": 100.0 * (bpv / cloud["gpcc_bpp"] - 1.0), "exact": exact,
                       "encode_s": t1 - t0, "decode_s": t2 - t1, "same_bytes_1_vs_2_threads": one_thread,
                       "gpcc_encode_s": cloud["gpcc_enc_s"], "gpcc_decode_s": cloud["gpcc_dec_s"]}
                rows.append(row)
                print(f"{cloud['mesh']:24s} {cloud['bits']:2d} bits {codec:16s} {bpv:6.3f} bit/voxel "
                      f"(G-PCC {cloud['gpcc_bpp']:.3f}, {row['vs_gpcc_pct']:+6.1f} %)  exact={exact}  "
                      f"encode {t1 - t0:5.1f} s decode {t2 - t1:5.1f} s"
                      + ("" if one_thread is None else f"  1 vs 2 threads same bytes={one_thread}"), flush=True)
    import platform

    doc = {"anchor": str(anchor_path.name), "anchor_measured": anchor.get("measured"), "rows": rows,
           "machine": f"{platform.machine()}, 2 cores", "times": "whole ncodec processes (import included)"}
    atomic_write_bytes(Path(a.out), (json.dumps(doc, indent=1) + "\n").encode())
    print(f"wrote {a.out}")
    return 0 if all(r["exact"] and r["same_bytes_1_vs_2_threads"] is not False for r in rows) else 1


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
