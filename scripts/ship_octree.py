"""Put an exported octree-pc weight file into the zoo and record it in models/weights/manifest.json.

    python scripts/ship_octree.py runs/octree-pc --name octree-pc-h64.ncw --recipe "CMD" [--recipe "CMD2"]

Reads RUN/model.pt (exported to integers here), RUN/log.csv (steps, final held-out bits per node) and,
when present, results/3d/*.json (BD-rates against Draco and the hand-built coder) for the entry.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from train_octree import export  # noqa: E402

from ncodec.fileutil import sha256_file  # noqa: E402
from ncodec.models.zoo import MANIFEST, WEIGHTS_DIR  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--name", required=True)
    p.add_argument("--recipe", action="append", required=True)
    p.add_argument("--wall-s", type=float, default=None, help="training wall time, when known")
    a = p.parse_args()
    run = Path(a.run)
    target = WEIGHTS_DIR / a.name
    export(run / "model.pt", target)
    ck = torch.load(run / "model.pt", map_location="cpu", weights_only=True)
    rows = list(csv.DictReader(open(run / "log.csv")))
    results = {}
    for path in sorted((ROOT / "results" / "3d").glob("*.json")):
        doc = json.loads(path.read_text())
        if "bd_rate_vs_draco_d1" in doc and "octree-pc" in doc["bd_rate_vs_draco_d1"]:
            results[doc["object"]] = {"bd_rate_vs_draco_d1": doc["bd_rate_vs_draco_d1"]["octree-pc"],
                                      "bd_rate_vs_octree_adaptive_d1": doc.get("bd_rate_vs_adaptive_d1", {}).get("octree-pc")}
    entry = {"codec": "octree-pc", "file": a.name, "sha256": sha256_file(target), "default": True,
             "config": ck["config"], "qualities": [float(b) for b in range(8, 15)], "recipe": a.recipe,
             "data": "../shared/data/3d/train: 24 shapes voxelised at 8..14 bits (hand.off and pig.off held out "
                     "for validation); never the test objects",
             "steps": int(ck["step"]), "qat": bool(ck["qat"]),
             "heldout_bits_per_node": float(rows[-1]["heldout_bits"]),
             "machine": f"2-core x86_64 CPU (this project's development machine), torch {torch.__version__}",
             "train_wall_s": a.wall_s, "size_bytes": target.stat().st_size, "platform": platform.platform(),
             "results_3d": results}
    doc_all = json.loads(MANIFEST.read_text())
    doc_all["models"] = [e for e in doc_all["models"] if e["file"] != a.name and e["codec"] != "octree-pc"] + [entry]
    MANIFEST.write_text(json.dumps(doc_all, indent=1) + "\n")
    print(f"shipped {target.name} ({entry['size_bytes']:,} bytes, sha256 {entry['sha256'][:16]}…)")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    raise SystemExit(run_reporting_errors(main))
