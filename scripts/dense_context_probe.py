"""Probe for issue 19: how many bits a learned binary-occupancy context model needs on dense surfaces.

Not a codec: it measures the ideal code length (cross-entropy of a float MLP) of the dense test clouds,
to choose the design of the learned dense geometry coder before it is built. Design probed:

- octree levels root to leaves; at each level the children of all occupied parents are coded as binary
  occupancy in 8 passes, one per child octant (ORDER), so decoding takes 8 passes per level;
- context of a child: occupancy of the parent level in a (2*PR+1)**3 window around its parent, and of
  the child level in a (2*R+1)**3 window restricted (by the pass order) to children already decoded,
  plus the pass and the levels left to the leaves (one-hot);
- in the last pass a child whose 7 siblings are all empty is known to be occupied and costs nothing.

Trained on dense clouds made (``pointio.surface_voxels``) from ``../shared/data/3d/train`` meshes only;
evaluated on the anchor meshes of ``../shared/data/anchors/3d/gpcc-dense.json``.

    python scripts/dense_context_probe.py [--train-bits 9] [--hidden 128] [--steps 20000] [--eval bunny00.off:8,armadillo.off:8]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

ORDER = [(0, 0, 0), (1, 1, 1), (1, 0, 0), (0, 1, 1), (0, 1, 0), (1, 0, 1), (0, 0, 1), (1, 1, 0)]
META = 8 + 5  # pass one-hot, levels-to-leaf one-hot (0..4+)


def _window(radius: int) -> list[tuple[int, int, int]]:
    return [o for o in itertools.product(range(-radius, radius + 1), repeat=3) if o != (0, 0, 0)]


def _grid(coords: np.ndarray, size: int, pad: int) -> tuple[np.ndarray, int]:
    s = size + 2 * pad
    g = np.zeros(s ** 3, dtype=np.uint8)
    c = coords + pad
    g[(c[:, 0] * s + c[:, 1]) * s + c[:, 2]] = 1
    return g, s


def _flat(offsets: list[tuple[int, int, int]], s: int) -> np.ndarray:
    o = np.array(offsets, dtype=np.int64)
    return (o[:, 0] * s + o[:, 1]) * s + o[:, 2]


def level_passes(children: np.ndarray, level: int, pr: int, r: int):
    """Per pass: (pass, parent-window features, child-window features, labels, occupied siblings so far)."""
    size = 1 << level
    parents = np.unique(children >> 1, axis=0)
    gp, sp = _grid(parents, size // 2, pr)
    full, sc = _grid(children, size, r)
    known = np.zeros_like(full)
    pidx = ((parents[:, 0] + pr) * sp + parents[:, 1] + pr) * sp + parents[:, 2] + pr
    pf = gp[pidx[:, None] + _flat(_window(pr), sp)[None, :]]
    coff = _flat(_window(r), sc)
    occupied = np.zeros(len(parents), dtype=np.int64)
    for g, o in enumerate(ORDER):
        c = 2 * parents + np.array(o)
        cidx = ((c[:, 0] + r) * sc + c[:, 1] + r) * sc + c[:, 2] + r
        y = full[cidx]
        yield g, pf, known[cidx[:, None] + coff[None, :]], y, occupied.copy()
        known[cidx] = y
        occupied += y


def features(g, pf, cf, depth_left):
    meta = np.zeros((len(pf), META), np.uint8)
    meta[:, g] = 1
    meta[:, 8 + min(depth_left, 4)] = 1
    return np.concatenate([pf, cf, meta], axis=1)


def main() -> int:
    import torch

    from ncodec.codecs.pointio import read_mesh, surface_voxels
    from ncodec.datasets.images import data_root

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-bits", type=int, default=9)
    p.add_argument("--parent-radius", type=int, default=2)
    p.add_argument("--child-radius", type=int, default=2)
    p.add_argument("--per-level", type=int, default=200_000, help="training samples kept per level and mesh")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--meshes", type=int, default=0, help="use only the first N training meshes (0: all)")
    p.add_argument("--eval", default="bunny00.off:8,armadillo.off:8,ChineseDragon-10kv.off:8")
    a = p.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    pr, r, bits = a.parent_radius, a.child_radius, a.train_bits
    xs, ys = [], []
    paths = sorted(q for q in (data_root() / "3d" / "train").iterdir() if q.suffix in (".off", ".ply", ".obj"))
    for path in paths[: a.meshes or None]:
        try:
            vox = surface_voxels(read_mesh(path), bits)
        except Exception as exc:  # point-only files (no triangles) are not meshes
            print(f"skip {path.name}: {exc}")
            continue
        for level in range(2, bits + 1):
            for g, pf, cf, y, occ in level_passes(np.unique(vox >> (bits - level), axis=0), level, pr, r):
                keep = rng.random(len(y)) < min(1.0, a.per_level / len(y) / 8)
                if g == 7:
                    keep &= occ > 0
                xs.append(features(g, pf, cf, bits - level)[keep])
                ys.append(y[keep])
        print(f"{path.name}: {len(vox)} voxels", flush=True)
    x = torch.from_numpy(np.concatenate(xs))
    y = torch.from_numpy(np.concatenate(ys)).float()
    h = a.hidden
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], h), torch.nn.ReLU(), torch.nn.Linear(h, h // 2),
                              torch.nn.ReLU(), torch.nn.Linear(h // 2, 1))
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    t0 = time.time()
    for step in range(a.steps):
        i = torch.randint(0, len(y), (4096,))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x[i].float())[:, 0], y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == int(a.steps * 0.7):
            opt.param_groups[0]["lr"] = 5e-4
    print(f"trained {a.steps} steps on {len(y)} samples in {time.time() - t0:.0f} s")
    for spec in a.eval.split(","):
        name, depth = spec.split(":")
        depth = int(depth)
        vox = surface_voxels(read_mesh(data_root() / "3d" / name), depth)
        total = 0.0
        for level in range(1, depth + 1):
            for g, pf, cf, lab, occ in level_passes(np.unique(vox >> (depth - level), axis=0), level, pr, r):
                sel = np.ones(len(lab), bool) if g < 7 else occ > 0
                with torch.no_grad():
                    z = net(torch.from_numpy(features(g, pf, cf, depth - level)[sel]).float())[:, 0]
                bce = torch.nn.functional.binary_cross_entropy_with_logits(
                    z, torch.from_numpy(lab[sel]).float(), reduction="sum")
                total += bce.item() / np.log(2)
        print(f"{name} {depth} bits: {len(vox)} voxels, ideal {total / len(vox):.4f} bit/voxel")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
