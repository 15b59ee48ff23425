"""Octree geometry coding of voxelised point clouds.

The occupied voxels at bit depth D are the leaves of an octree; every internal node is coded as one
8-bit occupancy symbol (which of its 8 children exist), level by level from the root, nodes in Morton
order. The decoder knows every node of a level before it decodes their symbols, so a node's context can
use the occupancy of its neighbours *at its own level* (known) and the statistics of everything decoded
so far.

``octree-adaptive`` is the hand-built baseline, a context-conditioned adaptive frequency model in the
spirit of G-PCC: the context of a node is the 6-bit pattern of its occupied face neighbours at its level
and its position inside its parent (512 contexts, backed off to the 64 neighbour patterns); counts are
updated after each of ``groups`` Morton-ordered groups of a level and halved at each new level. All of it
is integer arithmetic, vectorised per group (no per-node Python loop).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ncodec.codecs.pointio import MAX_BITS, MAX_POINTS, Voxelized, morton_decode, morton_encode
from ncodec.entropy.tables import TableSet
from ncodec.errors import BitstreamError

FACE_OFFSETS = np.array([[-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1], [0, 0, 1]], dtype=np.int64)
PRECISION = 16


def occupancy_levels(keys: np.ndarray, depth: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """For sorted unique Morton keys at ``depth``: per level (root first) the node keys and their
    occupancy symbols (uint8 bit c set when child c exists)."""
    nodes, symbols = [], []
    for level in range(depth):
        children = np.unique(keys >> np.int64(3 * (depth - level - 1)))
        parent = children >> np.int64(3)
        starts = np.flatnonzero(np.concatenate([[True], parent[1:] != parent[:-1]]))
        nodes.append(parent[starts])
        symbols.append(np.bitwise_or.reduceat(np.left_shift(1, children & 7), starts).astype(np.int64))
    return nodes, symbols


def expand(node_keys: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """Child keys (sorted) of nodes with the given occupancy symbols."""
    bits = (symbols[:, None] >> np.arange(8)) & 1
    return (node_keys[:, None] * 8 + np.arange(8))[bits.astype(bool)]


def neighbour_pattern(node_keys: np.ndarray, level: int) -> np.ndarray:
    """6-bit pattern of which face neighbours of each node exist at the same level."""
    coords = morton_decode(node_keys)
    size = 1 << level
    pattern = np.zeros(node_keys.size, dtype=np.int64)
    for bit, off in enumerate(FACE_OFFSETS):
        nb = coords + off
        inside = ((nb >= 0) & (nb < size)).all(axis=1)
        keys = morton_encode(np.where(inside[:, None], nb, 0))
        pos = np.minimum(np.searchsorted(node_keys, keys), node_keys.size - 1)
        pattern |= ((node_keys[pos] == keys) & inside).astype(np.int64) << bit
    return pattern


def integer_tables(weights: np.ndarray) -> TableSet:
    """Integer tables (rows, 256 + escape) proportional to non-negative int64 ``weights`` (rows, 256),
    every bin at least 1 count; integer arithmetic only, so encoder and decoder agree exactly."""
    rows = weights.shape[0]
    full = np.concatenate([weights, np.zeros((rows, 1), dtype=np.int64)], axis=1)
    total = full.sum(axis=1, keepdims=True)
    free = (1 << PRECISION) - full.shape[1]
    counts = full * free // np.maximum(total, 1) + 1
    deficit = (1 << PRECISION) - counts.sum(axis=1)
    largest = np.argmax(counts, axis=1)
    counts[np.arange(rows), largest] += deficit
    return TableSet(counts, np.full(rows, 256, dtype=np.int64), np.zeros(rows, dtype=np.int64), PRECISION)


@dataclass
class AdaptiveContextModel:
    """Counts per (neighbour pattern, child position) context, backed off to the neighbour pattern."""

    fine: np.ndarray  # (512, 256) int64
    coarse: np.ndarray  # (64, 256) int64

    @classmethod
    def fresh(cls) -> "AdaptiveContextModel":
        return cls(np.zeros((512, 256), dtype=np.int64), np.zeros((64, 256), dtype=np.int64))

    def contexts(self, node_keys: np.ndarray, level: int) -> np.ndarray:
        return neighbour_pattern(node_keys, level) * 8 + (node_keys & 7)

    def tables(self) -> TableSet:
        return integer_tables(8 * self.fine + self.coarse[np.arange(512) // 8] + 1)

    def update(self, contexts: np.ndarray, symbols: np.ndarray) -> None:
        np.add.at(self.fine, (contexts, symbols), 1)
        np.add.at(self.coarse, (contexts // 8, symbols), 1)

    def new_level(self) -> None:
        self.fine >>= 1
        self.coarse >>= 1


def _groups(n: int, groups: int) -> list[tuple[int, int]]:
    edges = [n * g // groups for g in range(groups + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def encode_geometry(vox: Voxelized, coder, groups: int = 4) -> list[bytes]:
    """Sections: one parameter section, then one coded stream per (level, group)."""
    keys = np.unique(morton_encode(vox.coords))
    params = struct.pack("<3ddBIB", *vox.origin.tolist(), vox.side, vox.bits, keys.size, groups)
    sections = [params]
    model = AdaptiveContextModel.fresh()
    nodes, symbols = occupancy_levels(keys, vox.bits)
    for level in range(vox.bits):
        model.new_level()
        ctx = model.contexts(nodes[level], level)
        for a, b in _groups(nodes[level].size, groups):
            sections.append(coder.encode(symbols[level][a:b], ctx[a:b], model.tables()))
            model.update(ctx[a:b], symbols[level][a:b])
    return sections


def decode_geometry(sections: list[bytes], coder) -> Voxelized:
    """Inverse of ``encode_geometry``; every count is checked before it sizes an allocation."""
    if not sections or len(sections[0]) != struct.calcsize("<3ddBIB"):
        raise BitstreamError("point-cloud parameter section is malformed")
    ox, oy, oz, side, bits, count, groups = struct.unpack("<3ddBIB", sections[0])
    if not (1 <= bits <= MAX_BITS and 1 <= count <= MAX_POINTS and 1 <= groups <= 64):
        raise BitstreamError("point-cloud parameters out of range")
    if not (np.isfinite([ox, oy, oz, side]).all() and side > 0):
        raise BitstreamError("point-cloud bounding cube is invalid")
    model = AdaptiveContextModel.fresh()
    nodes = np.zeros(1, dtype=np.int64)
    at = 1
    for level in range(bits):
        model.new_level()
        ctx = model.contexts(nodes, level)
        symbols = np.empty(nodes.size, dtype=np.int64)
        for a, b in _groups(nodes.size, groups):
            if at >= len(sections):
                raise BitstreamError("point-cloud bitstream has too few sections")
            symbols[a:b] = coder.decode(sections[at], ctx[a:b], model.tables())
            at += 1
            if (symbols[a:b] < 1).any() or (symbols[a:b] > 255).any():
                raise BitstreamError("invalid occupancy symbol")
            model.update(ctx[a:b], symbols[a:b])
        occupied = int(np.unpackbits(symbols.astype(np.uint8)).sum())
        if occupied > count:
            raise BitstreamError("octree has more nodes than the declared point count")
        nodes = expand(nodes, symbols)
    if at != len(sections) or nodes.size != count:
        raise BitstreamError("octree does not match the declared point count")
    return Voxelized(morton_decode(nodes), bits, np.array([ox, oy, oz]), side)
