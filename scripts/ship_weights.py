"""Export a training checkpoint into the weight zoo and record it in models/weights/manifest.json.

    python scripts/ship_weights.py CHECKPOINT --name FILE.ncw --recipe "CMD" [--recipe "CMD2"] \
        [--kodak results/kodak-default-vs-jpeg.json] [--default]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from ncodec.codecs.image import save_weights
from ncodec.models.image import build_model
from ncodec.models.zoo import MANIFEST, WEIGHTS_DIR


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("--name", required=True)
    p.add_argument("--recipe", action="append", default=[], help="exact training command(s), in order")
    p.add_argument("--data", default="photos-train (files 001-037; 038-039 held out for validation)")
    p.add_argument("--kodak", default=None, help="results JSON with measured Kodak figures")
    p.add_argument("--qualities", default="1,2,3,4")
    p.add_argument("--default", action="store_true")
    p.add_argument("--machine", default="2-core x86_64 CPU (this project's development machine), torch 2.14.1")
    p.add_argument("--tuned", default=None, metavar="FILE.ncw",
                   help="ship this weight file's model (e.g. after scripts/mcq_tune_rd.py); the checkpoint "
                        "still gives the steps and training time")
    p.add_argument("--prior", action="append", default=[],
                   help="checkpoint of an earlier stage (e.g. the float run before QAT): its steps and time count too")
    p.add_argument("--seeded-from", default=None, metavar="FILE.ncw",
                   help="shipped weight file whose trained tensors seeded this run (e.g. mcq from the mean-scale "
                        "default): its manifest steps and time are recorded beside this run's")
    p.add_argument("--half-transforms", action="store_true",
                   help="store the g_a/g_s float weights as float16 (half the bytes; the repository's weight "
                        "budget). The decoder computes in float32 as always; the integer tables are unchanged, "
                        "and the shipped file is what results must be measured with")
    p.add_argument("--data-manifest", default=None, metavar="FILE.json",
                   help="manifest of the training data (sha256 of every file) recorded beside the weights; "
                        "default datasets/manifests/photos-train.json (e.g. ocr-train-pages.json for ocr-text)")
    a = p.parse_args()
    data_manifest = (Path(a.data_manifest) if a.data_manifest
                     else Path(__file__).resolve().parents[1] / "datasets" / "manifests" / "photos-train.json")
    if a.data_manifest and not data_manifest.is_file():  # checked before anything is written
        raise SystemExit(f"error: --data-manifest {a.data_manifest} does not exist")
    seed = None
    if a.seeded_from:  # checked before anything is written
        from ncodec.fileutil import sha256_file

        known = json.loads(MANIFEST.read_text())["models"] if MANIFEST.exists() else []
        seed = next((e for e in known if e["file"] == Path(a.seeded_from).name), None)
        if seed is None:
            raise SystemExit(f"error: --seeded-from {Path(a.seeded_from).name} is not in {MANIFEST}")
        if sha256_file(a.seeded_from) != seed["sha256"]:
            raise SystemExit(f"error: --seeded-from {a.seeded_from} differs from the manifest's {seed['file']}")
    ck = torch.load(a.checkpoint, map_location="cpu", weights_only=False)
    priors = [torch.load(c, map_location="cpu", weights_only=False) for c in a.prior]
    meta = {"step": int(ck["step"]), "qat": bool(ck.get("qat", False))}
    path = WEIGHTS_DIR / a.name
    if a.tuned:  # the tuned file as it is (tensors, integer tables, config), with the run's meta added
        from ncodec.codecs.image import read_weight_file, rewrite_weight_file

        state, _ = read_weight_file(a.tuned)
        model = build_model(state["config"])
        sha = rewrite_weight_file(state, path, meta=meta)
    else:
        model = build_model(ck["config"])
        model.load_state_dict(ck["model"])
        if a.half_transforms:
            from ncodec.codecs.image import export_state, rewrite_weight_file

            state = export_state(model, {**meta, "transforms_float16": True})
            state["state_dict"] = {k: v.half() if v.dtype == torch.float32 and k.startswith(("g_a.", "g_s.")) else v
                                   for k, v in state["state_dict"].items()}
            sha = rewrite_weight_file(state, path)
        else:
            sha = save_weights(model, path, meta=meta)
    doc_all = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {"models": []}
    entries = doc_all["models"]
    entries = [e for e in entries if e["file"] != a.name]
    if a.default:
        for e in entries:
            if e["codec"] == model.kind:
                e["default"] = False
    entry = {"codec": model.kind, "file": a.name, "sha256": sha, "default": bool(a.default),
             "config": model.config(), "qualities": [float(q) for q in a.qualities.split(",")],
             "recipe": a.recipe, "data": a.data, "steps": int(ck["step"]) + sum(int(c["step"]) for c in priors),
             "steps_per_stage": [int(c["step"]) for c in priors] + [int(ck["step"])],
             "train_wall_s": round(float(ck.get("wall_s", 0.0)) + sum(float(c.get("wall_s", 0.0)) for c in priors), 1),
             "machine": a.machine,
             "qat": bool(ck.get("qat", False)),
             "transforms_float16": bool(a.half_transforms),
             "size_bytes": path.stat().st_size}
    if seed is not None:
        entry["seeded_from"] = {k: seed[k] for k in ("file", "sha256", "steps", "train_wall_s") if k in seed}
        entry["steps_including_seed"] = entry["steps"] + int(seed.get("steps", 0))
        entry["train_wall_s_including_seed"] = round(entry["train_wall_s"] + float(seed.get("train_wall_s", 0.0)), 1)
    if a.kodak:
        doc = json.loads(Path(a.kodak).read_text())
        if "results" in doc:  # an `ncodec eval` result file
            from ncodec.evaluation.bdrate import bd_rate
            from ncodec.evaluation.curves import load_curve

            r = doc["results"]
            entry["kodak"] = [{"quality": q, "bpp": b, "psnr_rgb": p} for q, b, p in
                              zip(doc["qualities"], r["bpp"], r["psnr-rgb"])]
            entry["kodak_bd_rate_vs_vtm_pct"] = round(bd_rate(load_curve("anchor:kodak/vtm"), load_curve(a.kodak)), 2)
            entry["kodak_results"] = a.kodak
        elif "points" in doc:  # scripts/mcq_kodak.py
            entry["kodak"] = [{k: pt[k] for k in ("quality", "bpp", "psnr_rgb", "ms_ssim_rgb", "indices_exact_all")}
                              for pt in doc["points"]]
            for key in ("bd_rate_psnr_vs_mean_scale_pct", "bd_rate_ms_ssim_db_vs_mean_scale_pct",
                        "threads_1_vs_2_identical_bytes"):
                if key in doc:
                    entry[f"kodak_{key}"] = doc[key]
            entry["kodak_results"] = a.kodak
        else:
            entry["kodak"] = doc.get("codec_points")
    if data_manifest.exists():
        from ncodec.fileutil import sha256_file

        entry["data_manifest"] = data_manifest.name
        entry["data_manifest_sha256"] = sha256_file(data_manifest)
    entries.append(entry)
    doc_all["models"] = entries  # other keys (task_models) are kept
    MANIFEST.write_text(json.dumps(doc_all, indent=2) + "\n")
    print(f"shipped {path} sha256 {sha}")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
