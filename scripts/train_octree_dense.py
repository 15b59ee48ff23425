"""Recipe of the octree-dense occupancy model: dense clouds from ``3d/train`` meshes, float training,
fake-quantised fine-tuning, integer export.

    python scripts/train_octree_dense.py --out runs/octree-dense [--steps 60000] [--qat-steps 8000]
    python scripts/train_octree_dense.py --out runs/octree-dense --export models/weights/octree-dense-h128.ncw

Data: every triangle mesh of ``../shared/data/3d/train`` (``NCODEC_DATA`` overrides the root) made
into a dense surface at 10 bits (``pointio.surface_voxels``, as the G-PCC anchor's clouds are made),
plus its 8- and 9-bit versions (coordinates shifted down), each in ``--orientations`` axis
permutations/mirrors of the cube (a rotated cloud is just another cloud; the codec's pass order stays
fixed). Of each cloud a uniform sample of the children the codec codes is kept, so the loss is the
codec's rate. ``--holdout`` meshes are left out of training and report held-out bits per coded child.
The samples are cached in OUT/data.npz; OUT/checkpoint.pt allows ``--resume``; OUT/log.csv logs.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
HOLDOUT = "pig.off,triceratops.off"


def _orientations(rng: np.random.Generator, count: int) -> list[tuple[tuple[int, ...], tuple[bool, ...]]]:
    """The identity and ``count - 1`` other (axis permutation, mirror) symmetries of the cube."""
    others = [(p, f) for p in itertools.permutations(range(3)) for f in itertools.product((False, True), repeat=3)]
    others = others[1:]
    pick = rng.choice(len(others), size=max(0, count - 1), replace=False)
    return [((0, 1, 2), (False, False, False))] + [others[i] for i in pick]


def build_data(out: Path, holdout: set[str], orientations: int, per_cloud: int, seed: int) -> Path:
    from ncodec.codecs.octree_dense import training_samples
    from ncodec.codecs.pointio import read_mesh, surface_voxels
    from ncodec.datasets.images import data_root

    path = out / "data.npz"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    train_dir = data_root() / "3d" / "train"
    if not train_dir.is_dir():
        raise SystemExit(f"training meshes not found: {train_dir} (set NCODEC_DATA to the shared data folder)")
    parts: dict[str, list[np.ndarray]] = {"x": [], "y": [], "vx": [], "vy": []}
    for mesh_path in sorted(p for p in train_dir.iterdir() if p.suffix in (".off", ".ply", ".obj", ".stl")):
        try:
            mesh = read_mesh(mesh_path)
        except Exception as exc:  # noqa: BLE001 - point-only files are not meshes: say so and go on
            print(f"not a triangle mesh, left out: {mesh_path.name} ({exc})", flush=True)
            continue
        t0 = time.time()
        vox10 = surface_voxels(mesh, 10)
        held = mesh_path.name in holdout
        for perm, flips in _orientations(rng, orientations):
            oriented = vox10[:, list(perm)]
            for axis, flip in enumerate(flips):
                if flip:
                    oriented[:, axis] = 1023 - oriented[:, axis]
            for bits in (8, 9, 10):
                vox = np.unique(oriented >> (10 - bits), axis=0)
                x, y = training_samples(vox, bits, min(1.0, per_cloud / (2.7 * len(vox))), rng)
                parts["vx" if held else "x"].append(x)
                parts["vy" if held else "y"].append(y)
        print(f"{mesh_path.name}: {len(vox10)} voxels at 10 bits{' (held out)' if held else ''}, "
              f"{time.time() - t0:.0f} s", flush=True)
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    np.savez(path, **arrays)
    return path


def main() -> int:
    import torch

    from ncodec.models.octree_dense import DenseOccupancyModel

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--hidden2", type=int, default=64)
    p.add_argument("--steps", type=int, default=60000)
    p.add_argument("--qat-steps", type=int, default=8000)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--orientations", type=int, default=2)
    p.add_argument("--per-cloud", type=int, default=120_000, help="coded children kept per cloud (uniform sample)")
    p.add_argument("--holdout", default=HOLDOUT)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export", default=None, help="write the integer weight file of OUT's checkpoint here and stop")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(a.threads)
    ckpt_path = out / "checkpoint.pt"
    if a.export:
        return export(ckpt_path, Path(a.export))
    torch.manual_seed(a.seed)
    data = np.load(build_data(out, set(a.holdout.split(",")), a.orientations, a.per_cloud, a.seed))
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"]).float()
    vx, vy = torch.from_numpy(data["vx"]), torch.from_numpy(data["vy"]).float()
    print(f"{len(y)} training children ({y.mean():.3f} occupied), {len(vy)} held out", flush=True)
    model = DenseOccupancyModel(a.hidden, a.hidden2)
    opt = torch.optim.Adam(model.parameters(), a.lr)
    step, total = 0, a.steps + a.qat_steps
    gen = torch.Generator().manual_seed(a.seed)
    if a.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(ck["model"])
        model.quantised = bool(ck["quantised"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["gen"])
        step = ck["step"]
        print(f"resumed at step {step}", flush=True)
    log = open(out / "log.csv", "a", newline="")
    writer = csv.writer(log)
    if step == 0:
        writer.writerow(["step", "phase", "train_bits", "heldout_bits", "lr", "wall_s"])
    t0, running = time.time(), []

    def heldout() -> float:
        with torch.no_grad():
            sel = torch.arange(0, len(vy), max(1, len(vy) // 400_000))
            return sum(model.bits(vx[s].float(), vy[s]).item() * len(s) for s in sel.split(65536)) / len(sel)

    while step < total:
        if step == a.steps and not model.quantised:
            model.calibrate(x[torch.randint(0, len(y), (200_000,), generator=gen)].float())
            opt = torch.optim.Adam(model.parameters(), a.lr * 0.05)
            print(f"QAT from step {step}, fractional bits {model.fracs.tolist()}", flush=True)
        lr = a.lr * (0.25 if step >= 0.7 * a.steps else 1.0) * (0.05 if model.quantised else 1.0)
        for group in opt.param_groups:
            group["lr"] = lr
        i = torch.randint(0, len(y), (a.batch_size,), generator=gen)
        loss = model.bits(x[i].float(), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        running.append(loss.item())
        step += 1
        if step % 1000 == 0 or step == total:
            h = heldout()
            writer.writerow([step, "qat" if model.quantised else "float", f"{np.mean(running):.5f}", f"{h:.5f}",
                             f"{lr:.2e}", f"{time.time() - t0:.1f}"])
            log.flush()
            print(f"step {step}: train {np.mean(running):.4f} held-out {h:.4f} bits/child  {time.time() - t0:.0f} s",
                  flush=True)
            running = []
        if step % 5000 == 0 or step == total:
            torch.save({"model": model.state_dict(), "quantised": model.quantised, "opt": opt.state_dict(),
                        "gen": gen.get_state(), "step": step, "config": model.config(), "args": vars(a)},
                       ckpt_path)
    return 0


def export(ckpt_path: Path, target: Path) -> int:
    import torch

    from ncodec.codecs.imageio import atomic_write_bytes
    from ncodec.codecs.octree_dense import FORMAT, DenseOccupancyNet, binary_tables
    from ncodec.models.octree_dense import BIN_FRAC, BINS, DenseOccupancyModel

    ck = torch.load(ckpt_path, weights_only=False)
    model = DenseOccupancyModel(**ck["config"])
    model.load_state_dict(ck["model"])
    model.quantised = bool(ck["quantised"])
    ints, shifts = model.export()
    counts = binary_tables(BINS, BIN_FRAC)
    DenseOccupancyNet.from_integers({k: v.numpy() for k, v in ints.items()}, shifts, counts)  # bounds check
    small = {k: v.to(torch.int16) if v.abs().max() < (1 << 15) else v for k, v in ints.items()}
    import io

    buf = io.BytesIO()
    torch.save({"format": FORMAT, "config": ck["config"], "integers": small, "shifts": shifts,
                "tables": torch.from_numpy(counts.astype(np.int32)), "steps": ck["step"]}, buf)
    atomic_write_bytes(target, buf.getvalue())
    print(f"wrote {target} ({target.stat().st_size} bytes), shifts {shifts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
