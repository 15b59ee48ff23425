"""Ship an integer-synthesis file (issue 20): copy it into models/weights/, copy its training log, and
add or replace its entry in the manifest's ``integer_synthesis`` list (sha256, base weights, recipe,
steps, validation, Kodak results file).

    .venv/bin/python scripts/ship_intsynth.py --run runs/intsynth --name msh-vr-n64m96.intsyn.ncw \\
        --recipe "python scripts/train_intsynth.py --out runs/intsynth --steps 3000 --threads 1"
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "models" / "weights"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="training run folder (intsynth.ncw, log.csv)")
    p.add_argument("--name", required=True, help="file name under models/weights/")
    p.add_argument("--recipe", required=True, action="append", help="command(s) that reproduce it")
    p.add_argument("--kodak-results", default="results/intsynth-kodak.json")
    a = p.parse_args()
    run = Path(a.run)
    state = torch.load(run / "intsynth.ncw", map_location="cpu", weights_only=True)
    target = WEIGHTS / a.name
    shutil.copyfile(run / "intsynth.ncw", target)
    log = WEIGHTS / "logs" / (a.name.replace(".ncw", "") + ".csv")
    shutil.copyfile(run / "log.csv", log)
    data = target.read_bytes()
    meta = state["meta"]
    entry = {"name": a.name.replace(".ncw", ""), "file": a.name, "sha256": hashlib.sha256(data).hexdigest(),
             "base_codec": state["base_codec"], "base_sha256": state["base_sha256"], "recipe": a.recipe,
             "data": meta.get("data"), "steps": meta.get("steps"), "train_wall_s": meta.get("train_s"),
             "machine": "2-core x86_64 CPU (this project's development machine), torch " + torch.__version__,
             "size_bytes": len(data), "log": f"logs/{log.name}", "validation_held_out": meta.get("validation"),
             "kodak_results": a.kodak_results}
    manifest_path = WEIGHTS / "manifest.json"
    doc = json.loads(manifest_path.read_text())
    entries = [e for e in doc.get("integer_synthesis", []) if e["file"] != a.name]
    doc["integer_synthesis"] = entries + [entry]
    manifest_path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"shipped {target} ({len(data)} bytes, sha256 {entry['sha256'][:16]}…)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
