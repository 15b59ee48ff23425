"""Ship a trained task codec (issue 21): copy RUN/task-fmnist.ncw and its log into models/weights/ and
record it in the manifest's ``models`` list as the default ``task-fmnist`` weights, with its recipe,
training record and the Fashion-MNIST test results of ``ncodec perception`` (real bitstreams).

    .venv/bin/python scripts/ship_task_codec.py --run runs/task-fmnist \\
        --recipe ".venv/bin/python scripts/train_task_codec.py --out runs/task-fmnist --epochs 8 --threads 1" \\
        --results results/perception/classify-task-fmnist.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from ncodec.fileutil import sha256_file
from ncodec.models.zoo import MANIFEST, WEIGHTS_DIR

NAME = "task-fmnist.ncw"


def main() -> int:
    import torch

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True)
    p.add_argument("--recipe", action="append", required=True)
    p.add_argument("--results", default=None, help="perception JSON of the shipped file on the test split")
    a = p.parse_args()
    run = Path(a.run)
    state = torch.load(run / NAME, map_location="cpu", weights_only=True)
    target = WEIGHTS_DIR / NAME
    shutil.copyfile(run / NAME, target)
    log = WEIGHTS_DIR / "logs" / "task-fmnist.csv"
    shutil.copyfile(run / "log.csv", log)
    meta = state["meta"]
    entry = {"codec": "task-fmnist", "file": NAME, "sha256": sha256_file(target), "default": True,
             "config": state["config"], "qualities": [float(q) for q in range(1, len(state["config"]["lambdas"]) + 1)],
             "recipe": a.recipe, "data": meta.get("data"), "steps": meta.get("steps"), "epochs": meta.get("epochs"),
             "train_wall_s": meta.get("train_s"), "teacher": meta.get("teacher"),
             "machine": "2-core x86_64 CPU (this project's development machine), torch " + torch.__version__,
             "size_bytes": target.stat().st_size, "log": f"logs/{log.name}",
             "validation_bits_top1_per_level": meta.get("validation")}
    if a.results:
        doc = json.loads(Path(a.results).read_text())
        if doc.get("weights_sha256") != entry["sha256"]:
            raise SystemExit(f"{a.results} was measured with other weights")
        r = doc["results"]
        entry["fashion_mnist_test"] = [{"quality": q, "bits_per_image": round(b * 784, 2), "top1": t}
                                       for q, b, t in zip(doc["qualities"], r["bpp"], r["top1"])]
        entry["test_results"] = a.results
    doc = json.loads(MANIFEST.read_text())
    doc["models"] = [e for e in doc["models"] if e["file"] != NAME] + [entry]
    MANIFEST.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"shipped {target} ({entry['size_bytes']} bytes, sha256 {entry['sha256'][:16]}…)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
