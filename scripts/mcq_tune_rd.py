"""Tune mcq's encoder-side rate-distortion weights on held-out photos (never on Kodak).

The decoder of ``mcq`` only reads code indices, so the encoder may choose, per vector, the codeword
minimising ``distance + w_l * bits`` (entropy-constrained VQ, ``models/mcq.py``). For every rate
level l this script sweeps w_l over a geometric grid on the validation photos that training held out
(the last ``--val-count`` images of photos-train) and keeps the w_l minimising the training objective
of that level, ``lambda_l * 255**2 * MSE + bpp`` with real bitstreams. It writes a new weight file
whose config carries ``rd_weights`` (same tensors, so the same decoder) and prints the sweep.

    .venv/bin/python scripts/mcq_tune_rd.py --weights runs/mcq-parent/model.ncw --out W.ncw
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    import torch

    from ncodec.codecs import container
    from ncodec.codecs.image import LearnedImageCodec, read_weight_file, rewrite_weight_file
    from ncodec.codecs.imageio import read_image
    from ncodec.datasets.catalog import dataset_files
    from ncodec.errors import UnsupportedInputError
    from ncodec.models.image import build_model

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, help="trained mcq weight file")
    p.add_argument("--out", required=True, help="tuned weight file to write")
    p.add_argument("--val-count", type=int, default=2, help="held-out photos: the last N of photos-train")
    p.add_argument("--grid", default=None,
                   help="candidate weights (default: 0,1e-5,...,2e-3 absolute; 0,0.02,...,2 with --relative)")
    p.add_argument("--relative", action="store_true",
                   help="weights in units of each group's mean nearest distance (matches --quantizer ecvq "
                        "training, whose stages' distances differ by orders of magnitude)")
    p.add_argument("--log", default=None, help="JSON file for the sweep (default: OUT with .tuning.json)")
    a = p.parse_args()
    codec = LearnedImageCodec.from_file(a.weights)
    if codec.name != "mcq":
        raise UnsupportedInputError(f"{a.weights} holds a {codec.name} model, not mcq")
    files = dataset_files("photos-train")[-a.val_count:]
    images = [read_image(f) for f in files]
    default_grid = "0,0.02,0.05,0.1,0.2,0.5,1,2" if a.relative else \
        "0,0.00001,0.00002,0.00005,0.0001,0.0002,0.0005,0.001,0.002"
    grid = [float(v) for v in (a.grid or default_grid).split(",")]
    encoder = codec.latent.encoder_model()  # the float64 copy the encoder runs (its rd_weights are swept)
    encoder.rd_relative = a.relative
    lambdas = codec.model.lambdas
    chosen, sweep = [], []
    for level in range(codec.levels):
        rows = []
        for w in grid:
            weights = [0.0] * codec.levels
            weights[level] = w
            encoder.rd_weights = tuple(weights)
            bpp, mse = [], []
            for img in images:
                enc = codec.compress(img, quality=level + 1)
                data = container.pack(enc.header, enc.sections)
                header, sections = container.unpack(data)
                rec = codec.decompress(header, sections)
                bpp.append(8 * len(data) / (img.shape[0] * img.shape[1]))
                mse.append(float(np.mean((rec.astype(np.float64) - img) ** 2)) / 255.0 ** 2)
            objective = lambdas[level] * 255.0 ** 2 * float(np.mean(mse)) + float(np.mean(bpp))
            rows.append({"weight": w, "bpp": float(np.mean(bpp)),
                         "psnr": float(np.mean([10 * np.log10(1 / m) for m in mse])), "objective": objective})
            print(json.dumps({"level": level + 1, **rows[-1]}), flush=True)
        best = min(rows, key=lambda r: r["objective"])
        chosen.append(best["weight"])
        sweep.append({"level": level + 1, "lambda": lambdas[level], "chosen": best["weight"], "rows": rows})
    # the same tensors and integer tables, a new config (re-exporting would quantise the tables again)
    config = build_model({**codec.model.config(), "rd_weights": chosen, "rd_relative": a.relative}).config()
    meta = dict(codec.meta)
    meta["rd_tuning"] = {"from_sha256": codec.sha256, "val_photos": [f.name for f in files], "rd_weights": chosen,
                         "relative": a.relative,
                         "objective": "lambda_l * 255^2 * MSE + bpp, real bitstreams"}
    state, _ = read_weight_file(a.weights)
    sha = rewrite_weight_file(state, a.out, config=config, meta=meta)
    log = Path(a.log) if a.log else Path(a.out).with_suffix(".tuning.json")
    log.write_text(json.dumps({"weights_in": codec.sha256, "weights_out": sha, "val_photos": meta["rd_tuning"]["val_photos"],
                               "sweep": sweep, "torch_threads": torch.get_num_threads()}, indent=1) + "\n")
    print(f"rd_weights {chosen}; wrote {a.out} (sha256 {sha}) and {log}")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
