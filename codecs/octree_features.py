"""Context features of octree nodes for the learned occupancy model (``octree-pc``), all integers.

Everything here is known to the decoder when it decodes a level: the node set of the level (decoded
from the parent level), the parent's occupancy symbol, and, in the second of two checkerboard passes
(nodes whose x+y+z is odd), the occupancy symbols of the first pass's nodes, which include every
face neighbour of a second-pass node. Features per node (FEATURES = 66 integers, each 0/1 unless noted):

- 26: which of the 26 neighbours at the node's level exist
- 8: which siblings exist (the parent's occupancy symbol)
- 3: the node's position inside its parent (x, y, z bit)
- 24: second pass only, for each of the 6 face neighbours, its 4 children on the shared face
- 1: the pass (0 or 1)
- 4 (integers): level, levels left to the leaves, the mean number of children per node at the
  previous level (units 1/16, that is 16 * nodes(level) / nodes(level - 1)), and the number of
  existing neighbours among the 26

Feature set 2 (FEATURES_V2 = 100) appends a wider, coarser view and more decoded neighbours:

- 26: which of the *parent's* 26 neighbours exist (a 2x larger neighbourhood, one level up)
- 8: second pass only, for each of the 8 corner neighbours (also first-pass nodes), its child at the
  shared corner
"""

from __future__ import annotations

import itertools

import numpy as np

from ncodec.codecs.pointio import morton_decode

OFFSETS_26 = np.array([o for o in itertools.product((-1, 0, 1), repeat=3) if o != (0, 0, 0)], dtype=np.int64)
FACE_DIRS = [(axis, sign) for axis in range(3) for sign in (-1, 1)]
FEATURES = 26 + 8 + 3 + 24 + 1 + 4
FEATURES_V2 = FEATURES + 26 + 8
FEATURE_SETS = {FEATURES: 1, FEATURES_V2: 2}  # a model's input width says which set it was trained on


def child_bit(cx: int, cy: int, cz: int) -> int:
    """Bit of a child in an occupancy symbol (Morton order: x is the high bit)."""
    return (cx << 2) | (cy << 1) | cz


def _face_masks() -> list[int]:
    """For each face direction (axis, sign): the 4 children of the *neighbour* that touch our node."""
    masks = []
    for axis, sign in FACE_DIRS:
        side = 1 if sign < 0 else 0  # the neighbour below us on this axis touches with its upper half
        bits = []
        for c in itertools.product((0, 1), repeat=3):
            if c[axis] == side:
                bits.append(child_bit(*c))
        masks.append(sorted(bits))
    return masks


FACE_CHILD_BITS = _face_masks()


def checkerboard_pass(node_keys: np.ndarray) -> np.ndarray:
    """0 for nodes decoded in the first pass (x+y+z even), 1 for the second."""
    return (morton_decode(node_keys).sum(axis=1) & 1).astype(np.int64)


AXIS_MASKS = [np.int64(sum(1 << (3 * k + 2 - axis) for k in range(21))) for axis in range(3)]


def _step(keys: np.ndarray, axis: int, delta: int) -> np.ndarray:
    """Morton keys moved by ``delta`` (+1 or -1) along ``axis`` with dilated-integer arithmetic (the
    coordinate's bits are spread over every third bit; the other axes' bits are left alone)."""
    mask = AXIS_MASKS[axis]
    if delta > 0:
        moved = ((keys | ~mask) + 1) & mask
    else:
        moved = ((keys & mask) - 1) & mask
    return moved | (keys & ~mask)


def neighbour_index(node_keys: np.ndarray, level: int) -> np.ndarray:
    """(n, 26) index of each neighbour in ``node_keys``, or -1 when it does not exist."""
    coords = morton_decode(node_keys)
    top = (1 << level) - 1
    out = np.full((node_keys.size, 26), -1, dtype=np.int64)
    can = {(axis, d): (coords[:, axis] > 0) if d < 0 else (coords[:, axis] < top) for axis in range(3) for d in (-1, 1)}
    for j, off in enumerate(OFFSETS_26):
        keys = node_keys
        inside = np.ones(node_keys.size, dtype=bool)
        for axis in range(3):
            if off[axis]:
                keys = _step(keys, axis, int(off[axis]))
                inside &= can[(axis, int(off[axis]))]
        pos = np.minimum(np.searchsorted(node_keys, keys), node_keys.size - 1)
        found = inside & (node_keys[pos] == keys)
        out[:, j] = np.where(found, pos, -1)
    return out


CORNER_COLUMNS = [j for j, o in enumerate(OFFSETS_26) if (o != 0).all()]
# the corner neighbour's child nearest to us: on each axis, its upper half if it lies below us
CORNER_CHILD_BITS = [child_bit(*(1 if o[a] < 0 else 0 for a in range(3))) for o in OFFSETS_26[CORNER_COLUMNS]]

FACE_COLUMNS = [int(np.flatnonzero((OFFSETS_26 == np.eye(3, dtype=np.int64)[axis] * sign).all(axis=1))[0])
                for axis, sign in FACE_DIRS]


def level_features(node_keys: np.ndarray, level: int, depth: int, parent_symbols: np.ndarray,
                   previous_count: int, symbols_first_pass: np.ndarray | None = None,
                   nbr: np.ndarray | None = None, feature_set: int = 1,
                   parent_exists: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(features (n, FEATURES) int64, pass of each node). ``parent_symbols[i]`` is the occupancy symbol
    of node i's parent; ``symbols_first_pass`` (n,) holds the decoded symbols of first-pass nodes (any
    value elsewhere) and is None while the first pass is being coded. ``nbr``: a precomputed
    ``neighbour_index`` of these nodes (both passes share it). Feature set 2 also needs
    ``parent_exists`` (n, 26): which neighbours of each node's parent exist (zeros at the root)."""
    n = node_keys.size
    if nbr is None:
        nbr = neighbour_index(node_keys, level)
    exists = (nbr >= 0).astype(np.int64)
    sib = (parent_symbols[:, None] >> np.arange(8)) & 1
    pos = (node_keys[:, None] >> np.array([2, 1, 0])) & 1
    passes = checkerboard_pass(node_keys)
    face = np.zeros((n, 24), dtype=np.int64)
    if symbols_first_pass is not None:
        for d, col in enumerate(FACE_COLUMNS):
            idx = nbr[:, col]
            sym = np.where(idx >= 0, symbols_first_pass[np.maximum(idx, 0)], 0)
            sym = np.where(passes == 1, sym, 0)
            for k, bit in enumerate(FACE_CHILD_BITS[d]):
                face[:, 4 * d + k] = (sym >> bit) & 1
    density = (16 * n) // max(previous_count, 1)
    scalars = np.stack([np.full(n, level), np.full(n, depth - level), np.full(n, density),
                        exists.sum(axis=1)], axis=1)
    parts = [exists, sib, pos, face, (passes * (symbols_first_pass is not None))[:, None], scalars]
    if feature_set == 2:
        corner = np.zeros((n, 8), dtype=np.int64)
        if symbols_first_pass is not None:
            for k, (col, bit) in enumerate(zip(CORNER_COLUMNS, CORNER_CHILD_BITS)):
                idx = nbr[:, col]
                sym = np.where((idx >= 0) & (passes == 1), symbols_first_pass[np.maximum(idx, 0)], 0)
                corner[:, k] = (sym >> bit) & 1
        parts += [parent_exists.astype(np.int64), corner]
    return np.concatenate(parts, axis=1, dtype=np.int64), passes
