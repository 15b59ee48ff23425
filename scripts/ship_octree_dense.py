"""Put an exported octree-dense weight file into the zoo and record it in models/weights/manifest.json,
with its recipe, training log and the dense-surface results of results/3d/dense.json.

    python scripts/ship_octree_dense.py runs/octree-dense/octree-dense.ncw --name octree-dense-h128.ncw \\
        --recipe "CMD" [--recipe "CMD2"]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    from ncodec.fileutil import sha256_file
    from ncodec.models.zoo import WEIGHTS_DIR, record_manifest_entry

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights")
    p.add_argument("--name", required=True)
    p.add_argument("--recipe", action="append", required=True)
    p.add_argument("--log", default=None, help="training log CSV (default: log.csv beside the weights)")
    p.add_argument("--results", default=str(ROOT / "results" / "3d" / "dense.json"))
    a = p.parse_args()
    src = Path(a.weights)
    target = WEIGHTS_DIR / a.name
    shutil.copyfile(src, target)
    log = Path(a.log) if a.log else src.parent / "log.csv"
    entry = {"codec": "octree-dense", "file": a.name, "sha256": sha256_file(target), "default": True, "steps": 68000,
             "recipe": a.recipe, "size_bytes": target.stat().st_size,
             "data": "dense surfaces (pointio.surface_voxels, 10 bits, and their 8/9-bit versions, 2 orientations) "
                     "of the triangle meshes of 3d/train; pig.off and triceratops.off held out for validation",
             "machine": "2-core x86_64 CPU (this project's development machine), torch 2.14.1"}
    if log.is_file():
        (WEIGHTS_DIR / "logs").mkdir(exist_ok=True)
        shutil.copyfile(log, WEIGHTS_DIR / "logs" / f"{Path(a.name).stem}.csv")
        entry["log"] = f"logs/{Path(a.name).stem}.csv"
    results = Path(a.results)
    if results.is_file():
        rows = [r for r in json.loads(results.read_text())["rows"] if r["codec"] == "octree-dense"]
        entry["dense_results"] = [{k: r[k] for k in ("mesh", "bits", "bits_per_voxel", "gpcc_bits_per_voxel",
                                                     "vs_gpcc_pct", "exact")} for r in rows]
    record_manifest_entry("models", entry)
    print(f"shipped {target} ({entry['size_bytes']} bytes, sha256 {entry['sha256'][:16]}…)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
