"""Recipe of the learned octree occupancy model (octree-pc): float training, then fake-quantised
fine-tuning, on the 3D training shapes only (../shared/data/3d/train, voxelised at 8..14 bits).

    python scripts/train_octree.py --out runs/octree-pc [--steps 6000] [--qat-steps 2000]

Writes OUT/model.pt (float state), OUT/log.csv (step, train bits/symbol, held-out bits/symbol) and,
after QAT, OUT/octree-pc.ncw (exported integer parameters; see codecs/pointcloud.py).
The held-out set is 2 training shapes kept out of training (never a benchmark object).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from octree_data import build, shape_files  # noqa: E402

from ncodec.codecs.octree_features import FEATURES, FEATURES_V2  # noqa: E402
from ncodec.datasets.images import data_root  # noqa: E402
from ncodec.models.octree import OctreeOccupancyModel  # noqa: E402

HELD_OUT = ("hand.off", "pig.off")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--qat-steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--feature-set", type=int, default=1, choices=[1, 2])
    p.add_argument("--depths", default="8-14")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--export", default=None, help="only write OUT/model.pt's integer weight file to this path")
    p.add_argument("--check", action="store_true",
                   help="re-run the first 500 steps into a temporary folder and compare them with OUT/log.csv")
    a = p.parse_args()
    if a.export:
        return export(Path(a.out) / "model.pt", Path(a.export))
    if a.check:
        import tempfile

        recorded = list(csv.reader(open(Path(a.out) / "log.csv")))[1]
        with tempfile.TemporaryDirectory() as tmp:
            train(a, Path(tmp), stop_after=int(recorded[0]))
            again = list(csv.reader(open(Path(tmp) / "log.csv")))[1]
        print(f"recorded {recorded}\nre-run   {again}")
        if again != recorded:
            print("the recipe does not reproduce its log")
            return 1
        print("the recipe reproduces its log exactly")
        return 0
    return train(a, Path(a.out))


def train(a: argparse.Namespace, out: Path, stop_after: int | None = None) -> int:
    """The training run itself; ``stop_after`` ends it early (for --check), the schedule unchanged."""
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    out.mkdir(parents=True, exist_ok=True)
    lo, hi = (int(x) for x in a.depths.split("-"))
    files = shape_files(data_root() / "3d" / "train")
    train_files = [f for f in files if f.name not in HELD_OUT]
    held_files = [f for f in files if f.name in HELD_OUT]
    t0 = time.time()
    X, Y = build(train_files, list(range(lo, hi + 1)), a.feature_set)
    Xh, Yh = build(held_files, list(range(lo, hi + 1)), a.feature_set)
    print(f"{len(X):,} training nodes, {len(Xh):,} held-out nodes ({time.time() - t0:.0f} s)", flush=True)
    X, Y = torch.from_numpy(X.astype(np.float32)), torch.from_numpy(Y.astype(np.int64))
    Xh, Yh = torch.from_numpy(Xh.astype(np.float32)), torch.from_numpy(Yh.astype(np.int64))
    model = OctreeOccupancyModel(features=FEATURES if a.feature_set == 1 else FEATURES_V2, hidden=a.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    total = a.steps + a.qat_steps
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=total, pct_start=0.05)
    log = open(out / "log.csv", "w", newline="")
    writer = csv.writer(log)
    writer.writerow(["step", "phase", "train_bits", "heldout_bits"])
    running = []
    for step in range(1, total + 1):
        if step == a.steps + 1:
            model.net.qat = True
        idx = torch.from_numpy(rng.integers(0, len(X), a.batch))
        loss = model.bits(X[idx], Y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running.append(float(loss.detach()))
        if step % 500 == 0 or step == total:
            with torch.no_grad():
                held = float(sum(model.bits(Xh[i:i + 65536], Yh[i:i + 65536]) * len(Yh[i:i + 65536])
                                 for i in range(0, len(Yh), 65536)) / len(Yh))
            phase = "qat" if model.net.qat else "float"
            writer.writerow([step, phase, f"{np.mean(running):.5f}", f"{held:.5f}"])
            log.flush()
            print(f"step {step:6d} {phase:5s} train {np.mean(running):.4f} bits/node  held-out {held:.4f}", flush=True)
            running = []
            torch.save({"config": model.config(), "state": model.state_dict(), "step": step,
                        "qat": model.net.qat}, out / "model.pt")
            if stop_after is not None and step >= stop_after:
                break
    return 0


def export(checkpoint: Path, target: Path) -> int:
    """Integer weight file for codecs/octree_learned.py from a (QAT) checkpoint."""
    from ncodec.codecs.octree_learned import FORMAT, exp2_table

    ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = OctreeOccupancyModel(**ck["config"])
    model.load_state_dict(ck["state"])
    doc = {"format": FORMAT, "config": ck["config"], "fixed": model.net.export(),
           "exp2_lut": torch.from_numpy(exp2_table()), "step": ck["step"], "qat": ck["qat"]}
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(doc, target)
    print(f"wrote {target} ({target.stat().st_size:,} bytes, step {ck['step']}, qat {ck['qat']})")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    raise SystemExit(run_reporting_errors(main))
