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
    p.add_argument("--analysis-default", action="store_true",
                   help="mark the file's int8 analysis as the encoder's default (its Kodak cost is below 1 %%)")
    p.add_argument("--notes", default=None, help="a note for the manifest entry")
    p.add_argument("--log", action="append", default=None,
                   help="training log(s) to copy beside the weights (default: RUN/log.csv)")
    a = p.parse_args()
    run = Path(a.run)
    state = torch.load(run / "intsynth.ncw", map_location="cpu", weights_only=True)
    target = WEIGHTS / a.name
    if a.analysis_default:
        if state.get("analysis") is None:
            raise SystemExit("--analysis-default: the file has no analysis program")
        from ncodec.codecs.intsynth import save_program

        meta = dict(state["meta"], analysis_default=True)
        save_program(state["program"], state["base_codec"], state["base_sha256"], target, meta,
                     analysis=state["analysis"])
        state = torch.load(target, map_location="cpu", weights_only=True)
    else:
        shutil.copyfile(run / "intsynth.ncw", target)
    logs = []
    for i, src in enumerate(a.log or [str(run / "log.csv")]):
        log = WEIGHTS / "logs" / (a.name.replace(".ncw", "") + ("" if i == 0 else f"-{i + 1}") + ".csv")
        if Path(src).resolve() != log.resolve():
            shutil.copyfile(src, log)
        logs.append(f"logs/{log.name}")
    data = target.read_bytes()
    meta = state["meta"]
    entry = {"name": a.name.replace(".ncw", ""), "file": a.name, "sha256": hashlib.sha256(data).hexdigest(),
             "base_codec": state["base_codec"], "base_sha256": state["base_sha256"], "recipe": a.recipe,
             "data": meta.get("data"), "steps": meta.get("steps"), "train_wall_s": meta.get("train_s"),
             "machine": "2-core x86_64 CPU (this project's development machine), torch " + torch.__version__,
             "size_bytes": len(data), "log": logs[0] if len(logs) == 1 else logs,
             "validation_held_out": meta.get("validation"), "w_max": meta.get("w_max", 127),
             "kodak_results": a.kodak_results}
    if a.notes:
        entry["notes"] = a.notes
    if meta.get("analysis"):
        entry["analysis"] = {k: meta["analysis"].get(k) for k in ("steps", "train_s", "w_max", "validation",
                                                                   "validation_seed")}
        entry["analysis_default"] = bool(meta.get("analysis_default", False))
    from ncodec.models.zoo import record_manifest_entry

    record_manifest_entry("integer_synthesis", entry)
    print(f"shipped {target} ({len(data)} bytes, sha256 {entry['sha256'][:16]}…)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
