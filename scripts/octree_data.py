"""Training/evaluation samples for the learned octree model: (features, occupancy symbol) of every node.

Each shape is voxelised at every bit depth in ``depths``; every level of its octree gives the
first-pass nodes (features without neighbour symbols) and the second-pass nodes (with them), exactly
as the codec sees them. Used by scripts/train_octree.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ncodec.codecs.octree import occupancy_levels
from ncodec.codecs.octree_features import level_features, neighbour_index
from ncodec.codecs.pointio import POINT_SUFFIXES, morton_encode, read_points, voxelize


def octree_samples(keys: np.ndarray, depth: int, feature_set: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Features and symbols of every node of the octree of sorted Morton ``keys`` at ``depth``."""
    nodes, symbols = occupancy_levels(keys, depth)
    feats, targets = [], []
    parent_syms = np.zeros(1, dtype=np.int64)  # the root's "parent" symbol: none
    parent_exists = np.zeros((1, 26), dtype=bool)
    previous = 1
    prev_nbr = None
    for level in range(depth):
        keys_l, sym_l = nodes[level], symbols[level]
        if level > 0:
            parents = nodes[level - 1]
            parent_at = np.searchsorted(parents, keys_l >> 3)
            parent_syms = symbols[level - 1][parent_at]
            parent_exists = prev_nbr[parent_at] >= 0
        nbr = neighbour_index(keys_l, level)
        kw = {"nbr": nbr, "feature_set": feature_set, "parent_exists": parent_exists}
        first, passes = level_features(keys_l, level, depth, parent_syms, previous, **kw)
        second, _ = level_features(keys_l, level, depth, parent_syms, previous, symbols_first_pass=sym_l, **kw)
        prev_nbr = nbr
        feats.append(np.where((passes == 0)[:, None], first, second))
        targets.append(sym_l)
        previous = keys_l.size
    return np.concatenate(feats), np.concatenate(targets)


def shape_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in POINT_SUFFIXES)


def build(files: list[Path], depths: list[int], feature_set: int = 1) -> tuple[np.ndarray, np.ndarray]:
    feats, targets = [], []
    for path in files:
        cloud = read_points(path)
        for depth in depths:
            vox = voxelize(cloud, depth)
            f, t = octree_samples(np.unique(morton_encode(vox.coords)), depth, feature_set)
            feats.append(f.astype(np.int16))
            targets.append(t.astype(np.uint8))
    return np.concatenate(feats), np.concatenate(targets)
