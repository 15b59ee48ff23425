"""``octree-dense``: octree geometry of dense voxelised surfaces, binary occupancy in 8 passes per level.

Each level codes the 8 children of every occupied parent as binary occupancy, one child octant per pass
(``ORDER``, antipodal pairs first), so a level decodes in 8 passes whatever its size. The probability
that a child exists comes from a small MLP over

- the occupancy of the parent level in the 5x5x5 window around its parent (124 bits, all known),
- the occupancy of the child level in the 5x5x5 window around the child, where decoded: children of
  earlier passes only (124 bits, the others read as 0),
- the pass and the number of levels left to the leaves (one-hot, 13 values).

In the last pass a child whose 7 siblings are all empty must exist and is not coded.

Determinism (DESIGN.md): the MLP runs on integers. Inputs are 0/1, weights integers, activations
integers 0..255 after a floor shift, and every partial sum stays below 2**24 in magnitude (checked
row by row when the weights load), so float32 GEMMs give the exact integer result in any summation
order, on any thread count, BLAS or device. The integer logit picks one of K stored 16-bit binary
tables (integers in the weight file); the coders of ``entropy/`` code the bits with them.

The child level is kept as one occupancy byte per parent in a dense padded grid at the parent's
resolution (bit k = octant k), so the child window of a child reads 27 neighbouring parents' bytes.
Grids are dense, so bit depths up to ``MAX_DENSE_BITS``.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ncodec.codecs.pointio import MAX_POINTS, Voxelized, morton_decode, morton_encode
from ncodec.entropy.tables import TableSet
from ncodec.errors import BitstreamError, ModelMismatchError, UnsupportedInputError

FORMAT = "ncodec-octree-dense/1"
PARAMS = "<3ddBI"
ORDER = ((0, 0, 0), (1, 1, 1), (1, 0, 0), (0, 1, 1), (0, 1, 0), (1, 0, 1), (0, 0, 1), (1, 1, 0))
OCTANT = tuple(4 * x + 2 * y + z for x, y, z in ORDER)  # bit of the parent's occupancy byte per pass
PASS_OF = {o: g for g, o in enumerate(OCTANT)}
RADIUS = 2  # window radius, parent level and child level
PAD = RADIUS
WINDOW = tuple(o for o in itertools.product(range(-RADIUS, RADIUS + 1), repeat=3) if o != (0, 0, 0))
NEIGHBOURS = tuple(itertools.product((-1, 0, 1), repeat=3))  # parents whose bytes hold the child window
LEVELS_LEFT = 5  # one-hot of min(levels to the leaves, 4)
META = 8 + LEVELS_LEFT
FEATURES = 2 * len(WINDOW) + META  # 261
MAX_DENSE_BITS = 11
CHUNK = 1 << 14  # rows per GEMM chunk: its float32 activations stay in cache
ACT_MAX = 255
SUM_LIMIT = 1 << 24  # float32 holds every integer below this exactly


def child_taps(g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Child-window features known in pass ``g``: (feature column in 0..123, neighbour parent in 0..26,
    octant bit), for the child of octant ORDER[g]. A window cell o+d lies in parent offset (o+d) >> 1 at
    octant (o+d) & 1; it is known when that octant's pass comes before ``g``."""
    o = np.array(ORDER[g])
    cols, nbrs, bits = [], [], []
    for j, d in enumerate(WINDOW):
        t = o + np.array(d)
        octant = int(4 * (t[0] & 1) + 2 * (t[1] & 1) + (t[2] & 1))
        if PASS_OF[octant] < g:
            cols.append(j)
            nbrs.append(NEIGHBOURS.index(tuple(int(v) for v in t >> 1)))
            bits.append(octant)
    return np.array(cols, dtype=np.int64), np.array(nbrs, dtype=np.int64), np.array(bits, dtype=np.uint8)


TAPS = tuple(child_taps(g) for g in range(8))


class LevelGrids:
    """The dense grids of one level: parent occupancy and the children's occupancy bytes, both at the
    parent resolution with a margin of ``PAD`` so that every window read stays inside."""

    def __init__(self, parents: np.ndarray, level: int) -> None:
        side = (1 << (level - 1)) + 2 * PAD
        self.side = side
        p = parents + PAD
        self.index = (p[:, 0] * side + p[:, 1]) * side + p[:, 2]
        self.occupied = np.zeros(side ** 3, dtype=np.uint8)
        self.occupied[self.index] = 1
        self.children = np.zeros(side ** 3, dtype=np.uint8)

    def flat(self, offsets) -> np.ndarray:
        o = np.array(offsets, dtype=np.int64)
        return (o[:, 0] * self.side + o[:, 1]) * self.side + o[:, 2]

    def parent_window(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """(n, 124) uint8 occupancy of the parent level around each parent."""
        return self.occupied[self.index[rows, None] + self.flat(WINDOW)[None, :]]

    def child_window(self, g: int, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """(n, known) uint8 child-level occupancy known in pass ``g`` (columns ``TAPS[g][0]``): the
        bytes of the few neighbouring parents involved are read once, then their bits picked."""
        cols, nbrs, bits = TAPS[g]
        if cols.size == 0:
            return np.zeros((self.index[rows].size, 0), dtype=np.uint8)
        used, pos = np.unique(nbrs, return_inverse=True)
        b = self.children[self.index[rows, None] + self.flat(NEIGHBOURS)[None, used]]
        return (b[:, pos] >> bits[None, :]) & 1


def features(grids: LevelGrids, g: int, levels_left: int, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
    """The model's full (n, 261) uint8 input for pass ``g`` (training; coding uses the split form)."""
    pw = grids.parent_window(rows)
    x = np.zeros((pw.shape[0], FEATURES), dtype=np.uint8)
    x[:, : len(WINDOW)] = pw
    x[:, len(WINDOW) + TAPS[g][0]] = grids.child_window(g, rows)
    x[:, 2 * len(WINDOW) + g] = 1
    x[:, 2 * len(WINDOW) + 8 + min(levels_left, LEVELS_LEFT - 1)] = 1
    return x


def _check_bits(bits: int) -> None:
    if bits > MAX_DENSE_BITS:
        raise UnsupportedInputError(f"octree-dense codes bit depths up to {MAX_DENSE_BITS} (its grids are dense); "
                                    f"got {bits}: use octree-pc or octree-adaptive")


def coded_rows(grids: LevelGrids, g: int) -> np.ndarray | slice:
    """Parents whose child of pass ``g`` is coded: all, except in the last pass, where a child whose
    siblings are all empty is implied."""
    if g < 7:
        return slice(None)
    siblings = grids.children[grids.index] & np.uint8(0xFF ^ (1 << OCTANT[7]))
    return np.flatnonzero(siblings)


@dataclass
class DenseOccupancyNet:
    """Integer inference of models.octree_dense.DenseOccupancyModel, loaded from a weight file."""

    w_parent: "object"  # torch float32 (124, H) integer weights
    w_child: "object"  # (124, H)
    bias: "object"  # (8, LEVELS_LEFT, H): layer-1 bias plus the meta one-hot columns
    shift1: int
    w2: "object"  # (H, H2)
    b2: "object"
    shift2: int
    w3: "object"  # (H2, 1)
    b3: "object"
    shift3: int
    tables: TableSet
    sha256: str

    @property
    def bins(self) -> int:
        return int(self.tables.lengths.size)

    @classmethod
    def from_file(cls, path: str | Path) -> "DenseOccupancyNet":
        import torch

        from ncodec.fileutil import sha256_file

        try:
            doc = torch.load(str(path), map_location="cpu", weights_only=True)
            if doc.get("format") != FORMAT:
                raise ValueError("not an octree-dense model file")
            net = cls.from_integers({k: v.long().numpy() for k, v in doc["integers"].items()},
                                    {k: int(v) for k, v in doc["shifts"].items()},
                                    doc["tables"].long().numpy(), sha256_file(path))
        except Exception as exc:  # torch.load raises pickle errors on garbage: all mean "unusable"
            raise ModelMismatchError(f"octree-dense weight file {Path(path).name} is unusable: {exc}") from None
        return net

    @classmethod
    def from_integers(cls, ints: dict[str, np.ndarray], shifts: dict[str, int], counts: np.ndarray,
                      sha256: str = "") -> "DenseOccupancyNet":
        """Check the exactness bounds and lay the integer parameters out for float32 GEMMs."""
        import torch

        w1, b1, w2, b2, w3, b3 = (ints[k] for k in ("w1", "b1", "w2", "b2", "w3", "b3"))
        hidden, hidden2 = w1.shape[0], w2.shape[0]
        if w1.shape != (hidden, FEATURES) or b1.shape != (hidden,) or w2.shape != (hidden2, hidden) \
                or b2.shape != (hidden2,) or w3.shape != (1, hidden2) or b3.shape != (1,):
            raise ValueError("layer shapes do not match")
        # every partial sum of every row below 2**24: inputs 0/1 (layer 1) or 0..255 (layers 2, 3)
        # (layer 1's meta columns fold into its bias: still within the sum of all |terms|)
        for name, w, b, top in (("layer 1", w1, b1, 1), ("layer 2", w2, b2, ACT_MAX), ("layer 3", w3, b3, ACT_MAX)):
            if (top * np.abs(w).sum(axis=1) + np.abs(b) >= SUM_LIMIT).any():
                raise ValueError(f"{name} can exceed exact float32 sums")
        if not all(0 <= shifts[k] <= 30 for k in ("shift1", "shift2", "shift3")):
            raise ValueError("shifts out of range")
        if counts.ndim != 2 or counts.shape[1] != 3 or not 2 <= counts.shape[0] <= 4096:
            raise ValueError("binary tables are malformed")
        tables = TableSet(counts.astype(np.int64), np.full(counts.shape[0], 2, dtype=np.int64),
                          np.zeros(counts.shape[0], dtype=np.int64))
        tables.validate()
        n = len(WINDOW)
        meta = w1[:, 2 * n:]
        bias = (b1[None, None, :] + meta[:, :8].T[:, None, :] + meta[:, 8:].T[None, :, :])
        f = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
        return cls(f(w1[:, :n].T), f(w1[:, n:2 * n].T), f(bias), shifts["shift1"], f(w2.T), f(b2),
                   shifts["shift2"], f(w3.T), f(b3), shifts["shift3"], tables, sha256)

    def parent_part(self, grids: LevelGrids) -> "object":
        """Layer-1 sums of the parent window, once per level (shared by its 8 passes)."""
        import torch

        n = grids.index.size
        out = torch.empty((n, self.w_parent.shape[1]), dtype=torch.float32)
        x = torch.empty((CHUNK, self.w_parent.shape[0]), dtype=torch.float32)  # reused: no page faults
        for a in range(0, n, CHUNK):
            m = min(CHUNK, n - a)
            x[:m].copy_(torch.from_numpy(grids.parent_window(slice(a, a + m))))
            torch.matmul(x[:m], self.w_parent, out=out[a:a + m])
        return out

    def bins_for(self, grids: LevelGrids, parent_sums, g: int, levels_left: int, rows) -> np.ndarray:
        """Table index (0..K-1) of the child of pass ``g`` of each parent in ``rows``."""
        import torch

        n = grids.index.size
        idx = np.arange(n)[rows] if not isinstance(rows, slice) else None
        count = n if idx is None else idx.size
        cols = torch.from_numpy(TAPS[g][0])
        w_child = self.w_child[cols]
        bias = self.bias[g, min(levels_left, LEVELS_LEFT - 1)]
        half_bins = self.bins // 2
        out = np.empty(count, dtype=np.int64)
        s1, s2, s3 = 2.0 ** -self.shift1, 2.0 ** -self.shift2, 2.0 ** -self.shift3
        # buffers reused across chunks: fresh large tensors per chunk cost page faults
        h1 = torch.empty((CHUNK, self.w_parent.shape[1]), dtype=torch.float32)
        h2 = torch.empty((CHUNK, self.w2.shape[1]), dtype=torch.float32)
        c = torch.empty((CHUNK, cols.numel()), dtype=torch.float32)
        z = torch.empty((CHUNK, 1), dtype=torch.float32)
        with torch.inference_mode():
            for a in range(0, count, CHUNK):
                r = slice(a, min(a + CHUNK, count)) if idx is None else idx[a:a + CHUNK]
                m = (r.stop - r.start) if idx is None else r.size
                h, hh, zz = h1[:m], h2[:m], z[:m]
                torch.add(parent_sums[r] if idx is None else parent_sums[torch.from_numpy(r)], bias, out=h)
                if cols.numel():
                    c[:m].copy_(torch.from_numpy(grids.child_window(g, r)))
                    h.addmm_(c[:m], w_child)
                h.mul_(s1).floor_().clamp_(0, ACT_MAX)
                torch.addmm(self.b2, h, self.w2, out=hh).mul_(s2).floor_().clamp_(0, ACT_MAX)
                torch.addmm(self.b3, hh, self.w3, out=zz).mul_(s3).floor_().add_(half_bins).clamp_(0, self.bins - 1)
                out[a:a + m] = zz.numpy()[:, 0]
        return out


def _level_sizes(bits: int) -> range:
    return range(1, bits + 1)


def morton_levels(coords: np.ndarray, bits: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per level 0..bits-1 (root first): the sorted Morton keys of the nodes and their occupancy bytes
    (bit 4x+2y+z = child octant). One sort of the leaves; each coarser level dedupes a shifted copy,
    which stays sorted."""
    keys = morton_encode(coords)
    if keys.size > 1 and not (keys[1:] > keys[:-1]).all():  # voxel grids arrive sorted and unique
        keys = np.unique(keys)
    nodes, symbols = [], []
    for _ in range(bits):
        parent = keys >> np.int64(3)
        starts = np.flatnonzero(np.concatenate([[True], parent[1:] != parent[:-1]]))
        nodes.append(parent[starts])
        symbols.append(np.bitwise_or.reduceat(np.left_shift(1, keys & 7), starts).astype(np.uint8))
        keys = parent[starts]
    return nodes[::-1], symbols[::-1]


def encode_geometry_dense(vox: Voxelized, coder, net: DenseOccupancyNet) -> list[bytes]:
    """Sections: the parameters (cube, bits, count), then one stream of the 8 passes of every level, root
    first (``Coder.encode_parts``: one coder state for all, no per-pass cost); nodes in Morton order."""
    _check_bits(vox.bits)
    nodes, symbols = morton_levels(vox.coords.astype(np.int64), vox.bits)
    count = int(popcount(symbols[-1]).sum())
    parts = []
    for level in _level_sizes(vox.bits):
        grids = LevelGrids(morton_decode(nodes[level - 1]), level)
        grids.children[grids.index] = symbols[level - 1]
        sums = net.parent_part(grids)
        for g in range(8):
            rows = coded_rows(grids, g)
            bins = net.bins_for(grids, sums, g, vox.bits - level, rows)
            bits = (symbols[level - 1][rows] >> np.uint8(OCTANT[g])) & 1
            parts.append((bits.astype(np.int64), bins))
    return [struct.pack(PARAMS, *vox.origin.tolist(), vox.side, vox.bits, count), coder.encode_parts(parts, net.tables)]


def popcount(symbols: np.ndarray) -> np.ndarray:
    return np.unpackbits(symbols.astype(np.uint8)[:, None], axis=1).sum(axis=1).astype(np.int64)


def decode_geometry_dense(sections: list[bytes], coder, net: DenseOccupancyNet) -> Voxelized:
    if not sections or len(sections[0]) != struct.calcsize(PARAMS):
        raise BitstreamError("point-cloud parameter section is malformed")
    ox, oy, oz, side, bits, count = struct.unpack(PARAMS, sections[0])
    if not (1 <= bits <= MAX_DENSE_BITS and 1 <= count <= MAX_POINTS):
        raise BitstreamError("point-cloud parameters out of range")
    if not (np.isfinite([ox, oy, oz, side]).all() and side > 0):
        raise BitstreamError("point-cloud bounding cube is invalid")
    if len(sections) != 2:
        raise BitstreamError("point-cloud bitstream has the wrong number of sections")
    stream = coder.part_decoder(sections[1], net.tables)
    parents = np.zeros((1, 3), dtype=np.int64)
    octants = np.array([[k >> 2, (k >> 1) & 1, k & 1] for k in range(8)], dtype=np.int64)
    for level in _level_sizes(bits):
        grids = LevelGrids(parents, level)
        sums = net.parent_part(grids)
        for g in range(8):
            rows = coded_rows(grids, g)
            bins = net.bins_for(grids, sums, g, bits - level, rows)
            syms = stream.next(bins)
            if syms.size and (syms.min() < 0 or syms.max() > 1):
                raise BitstreamError("invalid occupancy bit")
            where = grids.index[rows]
            grids.children[where] |= (syms.astype(np.uint8) << np.uint8(OCTANT[g]))
            if g == 7:  # implied children: the last octant of parents with no other child
                empty = grids.index[grids.children[grids.index] == 0]
                grids.children[empty] = np.uint8(1 << OCTANT[7])
        occ = grids.children[grids.index]
        mask = ((occ[:, None] >> np.arange(8, dtype=np.uint8)) & 1).astype(bool)
        if int(mask.sum()) > count:
            raise BitstreamError("octree has more nodes than the declared point count")
        # children in (parent, octant) order: Morton order again, as the encoder's
        parents = (2 * parents[:, None, :] + octants[None, :, :])[mask]
    if len(parents) != count:
        raise BitstreamError("octree does not match the declared point count")
    stream.finish()
    return Voxelized(parents, bits, np.array([ox, oy, oz]), side)


def training_samples(coords: np.ndarray, bits: int, keep: float, rng: np.random.Generator,
                     min_per_pass: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """(x (n, 261) uint8, y (n,) uint8) of the coded children of a voxel set, each kept with probability
    ``keep`` (at least ``min_per_pass`` per pass and level when there are that many): exactly the inputs
    and bits the codec codes, so the training loss is the codec's rate."""
    _check_bits(bits)
    nodes, symbols = morton_levels(coords.astype(np.int64), bits)
    xs, ys = [], []
    for level in _level_sizes(bits):
        grids = LevelGrids(morton_decode(nodes[level - 1]), level)
        grids.children[grids.index] = symbols[level - 1]
        for g in range(8):
            rows = np.arange(grids.index.size)[coded_rows(grids, g)]
            p = max(keep, min(1.0, min_per_pass / max(rows.size, 1)))
            rows = rows[rng.random(rows.size) < p]
            xs.append(features(grids, g, bits - level, rows))
            ys.append((symbols[level - 1][rows] >> np.uint8(OCTANT[g])) & 1)
    return np.concatenate(xs), np.concatenate(ys)


def binary_tables(bins: int, frac_bits: int) -> np.ndarray:
    """(bins, 3) counts [c0, c1, escape] of p(1) = sigmoid((m + 0.5) / 2**frac_bits), m = bin - bins/2;
    computed once at export, stored as integers."""
    import math

    m = np.arange(bins) - bins // 2
    p1 = np.array([1.0 / (1.0 + math.exp(-(v + 0.5) / (1 << frac_bits))) for v in m])
    total = (1 << 16) - 1  # the escape bin takes one count
    c1 = np.clip(np.round(p1 * total), 1, total - 1).astype(np.int64)
    return np.stack([total - c1, c1, np.ones_like(c1)], axis=1)
