"""``octree-pc``: octree occupancy coded with the learned context model, in two checkerboard passes.

Per level, the first-pass nodes (x+y+z even) are coded with features the decoder already has (the
level's node set, the parent's symbol, depth statistics); the second-pass nodes add the decoded symbols
of their face neighbours, all of which are first-pass nodes. The model's path to each 256-way
distribution is integer-only: the FixedPointNet gives log2-domain logits in units 2**-8, a stored
256-entry table turns them into integer weights 2**(30 - d/256), and those become 16-bit counts by
integer division. Encoder and decoder therefore build identical CDFs on any machine and thread count.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ncodec.codecs.octree import expand, occupancy_levels
from ncodec.codecs.octree_features import FEATURE_SETS, level_features, neighbour_index
from ncodec.codecs.pointio import MAX_BITS, MAX_POINTS, Voxelized, morton_decode, morton_encode
from ncodec.entropy import _rans
from ncodec.entropy.tables import TableSet
from ncodec.errors import BitstreamError, ModelMismatchError

FORMAT = "ncodec-octree/1"
PARAMS = "<3ddBI"
LUT_BITS = 30


def exp2_table() -> np.ndarray:
    """round(2**(30 - r/256)) for r in 0..255: built once at export and stored in the weight file, so
    decoders read integers and never depend on their libm."""
    return np.array([round(2.0 ** (LUT_BITS - r / 256.0)) for r in range(256)], dtype=np.int64)


def integer_counts(logits: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """(n, 256) int64 log2-domain logits (units 2**-8) -> (n, 257) counts summing to 2**16 (the last
    column is the escape bin ncodec's tables carry; occupancy symbols never use it).

    The NumPy statement of the rule; the codec runs the identical C++ version
    (``ncodec.entropy._rans.counts_from_log2``), and a test checks that both agree."""
    n = logits.shape[0]
    d = (logits.max(axis=1, keepdims=True) - logits).astype(np.int32)  # < 2**22
    full = np.zeros((n, 257), dtype=np.int64)
    np.right_shift(lut[d & 255], np.minimum(d >> 8, 62), out=full[:, :256])
    free = (1 << 16) - 257
    total = full.sum(axis=1, keepdims=True)
    counts = full
    counts *= free  # in place: at most 2**30 * 2**16
    counts //= total
    counts += 1
    largest = np.argmax(counts, axis=1)
    counts[np.arange(n), largest] += (1 << 16) - counts.sum(axis=1)
    return counts


@dataclass
class OctreeContextModel:
    """The integer inference side of models.octree.OctreeOccupancyModel, loaded from a weight file."""

    net: torch.nn.Module
    params: dict[str, torch.Tensor]
    lut: np.ndarray
    sha256: str
    feature_set: int = 1

    @classmethod
    def from_file(cls, path: str | Path) -> "OctreeContextModel":
        from ncodec.fileutil import sha256_file
        from ncodec.models.octree import OctreeOccupancyModel

        try:
            doc = torch.load(str(path), map_location="cpu", weights_only=True)
            if doc.get("format") != FORMAT:
                raise ValueError("not an octree model file")
            model = OctreeOccupancyModel(**doc["config"])
            if model.features not in FEATURE_SETS:
                raise ValueError(f"no feature set has {model.features} features")
            params = {k: v.long() for k, v in doc["fixed"].items()}
            model.net.check_params(params)
            lut = doc["exp2_lut"].numpy().astype(np.int64)
            if lut.shape != (256,) or (lut <= 0).any() or (lut > (1 << LUT_BITS)).any():
                raise ValueError("exp2 table is malformed")
        except Exception as exc:  # torch.load raises pickle errors on garbage: all mean "unusable"
            raise ModelMismatchError(f"octree weight file {Path(path).name} is unusable: {exc}") from None
        return cls(model.net, params, lut, sha256_file(path), FEATURE_SETS[model.features])

    def logits(self, feats: np.ndarray) -> np.ndarray:
        """Integer log2-domain logits (n, 256), units 2**-8, of integer features (n, F), as float64
        holding exact integers.

        The same exact integer arithmetic as ``FixedPointNet.run_fixed`` (a test checks equality),
        laid out node-major so that no transposes or copies are needed: every sum is an exact integer
        in float64, requantisation is a floor division by 2**W_FRAC."""
        from ncodec.entropy.fixedpoint import A_FRAC, A_LIMIT, IN_LIMIT, W_FRAC

        h = torch.from_numpy(np.clip(feats, -IN_LIMIT, IN_LIMIT).astype(np.float64))
        h.mul_(float(1 << A_FRAC))
        half, div = float(1 << (W_FRAC - 1)), float(1 << W_FRAC)
        layers = list(self.net.net)
        with torch.inference_mode():
            for i, layer in enumerate(layers):
                if isinstance(layer, torch.nn.ReLU):
                    h.clamp_(min=0.0)
                    continue
                w = self.params[f"{i}.weight"].to(torch.float64)[:, :, 0, 0]
                b = self.params[f"{i}.bias"].to(torch.float64)
                h = torch.matmul(h, w.t()).add_(b).add_(half).div_(div).floor_().clamp_(-A_LIMIT, A_LIMIT)
        return h.numpy()  # float64 holding exact integers; the C++ table builder takes it as is

    def tables(self, feats: np.ndarray) -> tuple[TableSet, np.ndarray | None]:
        """Integer tables for nodes with integer features (n, FEATURES): (tables, table index per node).

        Deep levels repeat the same feature rows many times (isolated points), so the net runs once
        per distinct row; when the distinct rows are fewer than a quarter of the nodes the coder gets
        them as indexed tables, otherwise one table per node (index None). Both sides see the same
        features, so they make the same choice."""
        n = feats.shape[0]
        if n == 0:
            return TableSet(np.zeros((0, 257), dtype=np.int64), np.zeros(0, dtype=np.int64),
                            np.zeros(0, dtype=np.int64)), None
        # rows as little-endian bytes: np.unique orders them the same way on every machine
        row_bytes = np.dtype((np.void, 2 * feats.shape[1]))
        packed = np.ascontiguousarray(feats.astype("<i2")).view(row_bytes).ravel()
        _, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
        rows = feats[first] if 4 * first.size <= n else feats
        counts, probabilities = _rans.counts_from_log2(self.logits(rows), self.lut, os.cpu_count() or 1, True)
        table = TableSet(counts, np.full(rows.shape[0], 256, dtype=np.int64), np.zeros(rows.shape[0], dtype=np.int64),
                         probabilities=probabilities)
        return table, (inverse.reshape(-1).astype(np.int64) if rows is not feats else None)


@dataclass
class _Level:
    """What the next level needs from the previous one: parent symbols, sizes and neighbour indexes."""

    parent_syms: np.ndarray
    previous: int
    parent_exists: np.ndarray

    @classmethod
    def root(cls) -> "_Level":
        return cls(np.zeros(1, dtype=np.int64), 1, np.zeros((1, 26), dtype=bool))

    @classmethod
    def after(cls, keys: np.ndarray, syms: np.ndarray, nbr: np.ndarray) -> "_Level":
        counts = _popcount(syms)
        return cls(np.repeat(syms, counts), keys.size, np.repeat(nbr >= 0, counts, axis=0))


def _level_passes(keys: np.ndarray, level: int, depth: int, state: _Level, model: OctreeContextModel,
                  symbols: np.ndarray | None, code) -> tuple[np.ndarray, np.ndarray]:
    """Run both passes of one level; ``code(symbols_or_None, tables)`` encodes or decodes and returns
    the pass's symbols. Returns the level's symbols and its neighbour indexes."""
    nbr = neighbour_index(keys, level)
    kw = {"nbr": nbr, "feature_set": model.feature_set, "parent_exists": state.parent_exists}
    first, passes = level_features(keys, level, depth, state.parent_syms, state.previous, **kw)
    out = np.zeros(keys.size, dtype=np.int64)
    mask0 = passes == 0
    out[mask0] = code(None if symbols is None else symbols[mask0], model.tables(first[mask0]))
    second, _ = level_features(keys, level, depth, state.parent_syms, state.previous, symbols_first_pass=out, **kw)
    mask1 = ~mask0
    out[mask1] = code(None if symbols is None else symbols[mask1], model.tables(second[mask1]))
    return out, nbr


def encode_geometry_learned(vox: Voxelized, coder, model: OctreeContextModel) -> list[bytes]:
    keys = np.unique(morton_encode(vox.coords))
    sections = [struct.pack(PARAMS, *vox.origin.tolist(), vox.side, vox.bits, keys.size)]
    nodes, symbols = occupancy_levels(keys, vox.bits)

    def code(syms, tables):
        table, index = tables
        sections.append(coder.encode(syms, index, table))
        return syms

    state = _Level.root()
    for level in range(vox.bits):
        _, nbr = _level_passes(nodes[level], level, vox.bits, state, model, symbols[level], code)
        state = _Level.after(nodes[level], symbols[level], nbr)
    return sections


def decode_geometry_learned(sections: list[bytes], coder, model: OctreeContextModel) -> Voxelized:
    if not sections or len(sections[0]) != struct.calcsize(PARAMS):
        raise BitstreamError("point-cloud parameter section is malformed")
    ox, oy, oz, side, bits, count = struct.unpack(PARAMS, sections[0])
    if not (1 <= bits <= MAX_BITS and 1 <= count <= MAX_POINTS):
        raise BitstreamError("point-cloud parameters out of range")
    if not (np.isfinite([ox, oy, oz, side]).all() and side > 0):
        raise BitstreamError("point-cloud bounding cube is invalid")
    if len(sections) != 1 + 2 * bits:
        raise BitstreamError("point-cloud bitstream has the wrong number of sections")
    at = iter(sections[1:])

    def code(_, tables):
        table, index = tables
        syms = coder.decode(next(at), index, table, count=table.lengths.size if index is None else None)
        if syms.size and (syms.min() < 1 or syms.max() > 255):
            raise BitstreamError("invalid occupancy symbol")
        return syms

    nodes, state = np.zeros(1, dtype=np.int64), _Level.root()
    for level in range(bits):
        syms, nbr = _level_passes(nodes, level, bits, state, model, None, code)
        children = int(_popcount(syms).sum())
        if children > count:
            raise BitstreamError("octree has more nodes than the declared point count")
        state = _Level.after(nodes, syms, nbr)
        nodes = expand(nodes, syms)
    if nodes.size != count:
        raise BitstreamError("octree does not match the declared point count")
    return Voxelized(morton_decode(nodes), bits, np.array([ox, oy, oz]), side)


def _popcount(symbols: np.ndarray) -> np.ndarray:
    return np.unpackbits(symbols.astype(np.uint8)[:, None], axis=1).sum(axis=1).astype(np.int64)
