"""How much could a local-surface prior save at the deep octree levels of the 3D test objects?

For every octree level of each test object at 14 bits, the occupied nodes whose 8 children hold exactly
one occupied child (at deep levels: every node) are taken. A plane is fitted (PCA) through the 8 nearest
other occupied nodes of the same level, which a decoder already knows, and the node's children are
ranked by their distance to it. The empirical entropy of the occupied child's rank is an upper bound on
what that prior needs per node (3 bits = no information).

It then bounds what any coder built on such priors can gain over Draco: an oracle that codes every
node with two or more children for free and every single-child node at the prior's rank entropy. Its
bits per input point at each bit depth, against Draco's curve in results/3d/OBJECT-draco.json (same
voxels, so the same D1), give the oracle's BD-rate, and the largest cost of the upper octree (bits per
point on top of the oracle) that would still reach -30 %. Writes results/3d/deep-level-probe.json.

    python scripts/octree_deep_level_probe.py [--bits 14]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from ncodec.codecs.pointio import read_points, voxelize
from ncodec.datasets.images import data_root
from ncodec.evaluation.bdrate import Curve, bd_rate

ROOT = Path(__file__).resolve().parent.parent
OBJECTS = ["bunny00.off", "armadillo.off", "ChineseDragon-10kv.off", "bun0.pcd"]
CHILD_OFFSETS = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)])


def probe_level(coords: np.ndarray, bits: int, depth: int, neighbours: int = 8) -> dict:
    """Rank entropy of the single occupied child under the local-plane prior at one depth."""
    shift = bits - depth
    nodes, inverse = np.unique(coords >> shift, axis=0, return_inverse=True)
    child = (coords >> (shift - 1)) & 1
    occupied = np.zeros((len(nodes), 8), dtype=bool)
    occupied[inverse.reshape(-1), child[:, 0] * 4 + child[:, 1] * 2 + child[:, 2]] = True
    single = occupied.sum(1) == 1
    if len(nodes) <= neighbours:  # too few nodes for a plane: no prior (3 bits per single child)
        return {"depth": depth, "nodes": int(len(nodes)), "single_child_share": float(single.mean()),
                "rank_entropy_bits": 3.0, "rank_histogram": None}
    k = neighbours + 1
    _, near = cKDTree(nodes).query(nodes, k=k)
    others = nodes[near[:, 1:]].astype(np.float64)
    centre = others.mean(1)
    spread = others - centre[:, None]
    _, vectors = np.linalg.eigh(np.einsum("nki,nkj->nij", spread, spread))
    normal = vectors[:, :, 0]  # smallest eigenvalue: the plane's normal
    child_centres = nodes[:, None, :] + (CHILD_OFFSETS[None] + 0.5) / 2.0
    distance = np.abs(np.einsum("nki,ni->nk", child_centres - centre[:, None], normal))
    rank = np.argsort(np.argsort(distance, axis=1), axis=1)
    ranks = rank[single][occupied[single]]
    hist = np.bincount(ranks, minlength=8) / max(1, ranks.size)
    entropy = float(-(hist[hist > 0] * np.log2(hist[hist > 0])).sum())
    return {"depth": depth, "nodes": int(len(nodes)), "single_child_share": float(single.mean()),
            "rank_entropy_bits": entropy, "rank_histogram": [round(float(h), 4) for h in hist]}


def oracle_vs_draco(name: str, levels: list[dict]) -> dict:
    """The oracle's bits per input point at Draco's bit depths and its BD-rate (D1) against Draco."""
    stem = name.rsplit(".", 1)[0]
    draco = json.loads((ROOT / "results" / "3d" / f"{stem}-draco.json").read_text())
    ours = json.loads((ROOT / "results" / "3d" / f"{stem}-octree-pc.json").read_text())
    single_bits = [lv["nodes"] * lv["single_child_share"] * lv["rank_entropy_bits"] for lv in levels]
    oracle = [sum(single_bits[:d]) / draco["points"] for d in draco["results"]["bits"]]
    anchor = Curve(draco["results"]["bits_per_point"], draco["results"]["d1_psnr"])
    lo, hi = 0.0, 16.0  # the upper-octree cost (bits per point on top of the oracle) that still gives -30 %
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if bd_rate(anchor, Curve([r + mid for r in oracle], draco["results"]["d1_psnr"])) < -30 \
            else (lo, mid)
    return {"upper_octree_bits_per_point_allowed_for_minus_30": lo,
            "octree_pc_bits_per_point_over_oracle": [o - r for o, r in zip(ours["results"]["bits_per_point"], oracle)],"bits": draco["results"]["bits"], "oracle_bits_per_point": oracle,
            "draco_bits_per_point": draco["results"]["bits_per_point"],
            "octree_pc_bits_per_point": ours["results"]["bits_per_point"],
            "oracle_bd_rate_vs_draco": bd_rate(anchor, Curve(oracle, draco["results"]["d1_psnr"])),
            "octree_pc_bd_rate_vs_draco": bd_rate(anchor, Curve(ours["results"]["bits_per_point"],
                                                                ours["results"]["d1_psnr"]))}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bits", type=int, default=14)
    p.add_argument("--out", default=str(ROOT / "results" / "3d" / "deep-level-probe.json"))
    a = p.parse_args()
    doc = {"bits": a.bits, "neighbours": 8, "objects": {}}
    for name in OBJECTS:
        coords = voxelize(read_points(data_root() / "3d" / name), a.bits).coords
        levels = [probe_level(coords, a.bits, d) for d in range(0, a.bits)]
        doc["objects"][name] = {"levels": levels, **oracle_vs_draco(name, levels)}
        print(f"{name}: oracle BD-rate vs Draco {doc['objects'][name]['oracle_bd_rate_vs_draco']:+.1f} %, "
              f"octree-pc {doc['objects'][name]['octree_pc_bd_rate_vs_draco']:+.1f} %")
        for lv in levels:
            print(f"  depth {lv['depth']:2d}->{lv['depth'] + 1:2d}: {lv['nodes']:7d} nodes, "
                  f"{100 * lv['single_child_share']:5.1f} % single-child, rank entropy {lv['rank_entropy_bits']:.2f} bits")
    Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    raise SystemExit(run_reporting_errors(main))
