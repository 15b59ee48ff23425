"""Colour attributes of voxelised point clouds: RAHT transform, uniform quantisation, Gaussian coding.

The region-adaptive hierarchical transform (de Queiroz & Chou, 2016) merges, one Morton bit at a
time, every pair of occupied sibling regions with weights w1, w2 (their point counts) into a low-pass
and a high-pass coefficient (an orthonormal 2x2 rotation); single regions pass through. After 3·depth
steps one DC coefficient is left per channel. Colours are coded in YCbCr (BT.601, float), every
coefficient is divided by the quantisation step and rounded, and the integers are coded with ncodec's
Gaussian tables: one scale per (transform step, channel), chosen by the encoder and sent as a byte, so
the decoder's tables are exact. The reconstruction is floating point (DESIGN.md allows it for
synthesis; the parse is exact). Everything is vectorised per transform step.
"""

from __future__ import annotations

import struct

import numpy as np

from ncodec.entropy.gaussian import GaussianConditional, default_scale_table
from ncodec.errors import BitstreamError

RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
YCBCR_TO_RGB = np.linalg.inv(RGB_TO_YCBCR)
MAX_STEP = 4096.0


def _pairs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted unique keys: index of the first element of each sibling pair (keys differing only in
    bit 0), and the parent key of every element after merging."""
    parent = keys >> 1
    first = np.flatnonzero(parent[:-1] == parent[1:]) if keys.size > 1 else np.zeros(0, dtype=np.int64)
    return first, parent


def raht_forward(keys: np.ndarray, values: np.ndarray, steps: int) -> list[np.ndarray]:
    """Coefficients per step (high-pass of the pairs merged at that step), then the DC row last."""
    keys, values = keys.copy(), values.astype(np.float64)
    weights = np.ones(keys.size, dtype=np.float64)
    out = []
    for _ in range(steps):
        first, parent = _pairs(keys)
        second = first + 1
        w1, w2 = weights[first], weights[second]
        s1, s2, total = np.sqrt(w1)[:, None], np.sqrt(w2)[:, None], np.sqrt(w1 + w2)[:, None]
        a1, a2 = values[first], values[second]
        out.append((s1 * a2 - s2 * a1) / total)
        keep = np.ones(keys.size, dtype=bool)
        keep[second] = False
        values[first] = (s1 * a1 + s2 * a2) / total
        weights[first] = w1 + w2
        keys, values, weights = parent[keep], values[keep], weights[keep]
    out.append(values)
    return out


def raht_inverse(keys: np.ndarray, coefficients: list[np.ndarray], steps: int) -> np.ndarray:
    """Inverse of ``raht_forward`` for the same (sorted unique) keys."""
    layouts = []  # per step: (keys before merging, pair starts, weights before merging)
    weights = np.ones(keys.size, dtype=np.float64)
    current = keys
    for _ in range(steps):
        first, parent = _pairs(current)
        layouts.append((current.size, first, weights.copy()))
        keep = np.ones(current.size, dtype=bool)
        keep[first + 1] = False
        merged = weights.copy()
        merged[first] = weights[first] + weights[first + 1]
        current, weights = parent[keep], merged[keep]
    values = coefficients[-1]
    for step in range(steps - 1, -1, -1):
        size, first, w = layouts[step]
        keep = np.ones(size, dtype=bool)
        keep[first + 1] = False
        full = np.zeros((size, values.shape[1]), dtype=np.float64)
        full[keep] = values
        low, high = full[first], coefficients[step]
        s1, s2 = np.sqrt(w[first])[:, None], np.sqrt(w[first + 1])[:, None]
        total = np.sqrt(w[first] + w[first + 1])[:, None]
        full[first] = (s1 * low - s2 * high) / total
        full[first + 1] = (s2 * low + s1 * high) / total
        values = full
    return values


def _scale_index(symbols: np.ndarray, scales: np.ndarray) -> int:
    """The Gaussian table whose scale is closest to the symbols' RMS (an encoder choice; sent)."""
    rms = float(np.sqrt(np.mean(symbols.astype(np.float64) ** 2))) if symbols.size else 0.0
    return int(np.argmin(np.abs(np.log(scales) - np.log(max(rms, scales[0])))))


def encode_colors(keys: np.ndarray, colors: np.ndarray, depth: int, step: float, coder) -> bytes:
    """One section: u16 step·16, per (transform step, channel) a u8 table index, then the symbols."""
    if not 1 / 16 <= step <= MAX_STEP:
        raise ValueError("colour quantisation step must be in [1/16, 4096]")
    step_q = int(round(step * 16))
    ycc = colors.astype(np.float64) @ RGB_TO_YCBCR.T
    coefficients = raht_forward(keys, ycc, 3 * depth)
    tables, _ = GaussianConditional.build_tables()
    scales = default_scale_table().numpy()
    symbols, indexes, header = [], [], [struct.pack("<H", step_q)]
    for coef in coefficients:
        q = np.round(coef / (step_q / 16)).astype(np.int64)
        for channel in range(3):
            t = _scale_index(q[:, channel], scales)
            header.append(struct.pack("<B", t))
            symbols.append(q[:, channel])
            indexes.append(np.full(q.shape[0], t, dtype=np.int64))
    payload = coder.encode(np.concatenate(symbols), np.concatenate(indexes), tables)
    return b"".join(header) + payload


def decode_colors(section: bytes, keys: np.ndarray, depth: int, coder) -> np.ndarray:
    """uint8 RGB (n, 3) for the decoded voxels (sorted unique Morton keys)."""
    steps = 3 * depth
    head = 2 + 3 * (steps + 1)
    if len(section) < head:
        raise BitstreamError("colour section truncated")
    (step_q,) = struct.unpack_from("<H", section, 0)
    if step_q == 0:
        raise BitstreamError("colour quantisation step is zero")
    table_ids = np.frombuffer(section, dtype=np.uint8, count=3 * (steps + 1), offset=2).astype(np.int64)
    tables, _ = GaussianConditional.build_tables()
    if (table_ids >= tables.lengths.size).any():
        raise BitstreamError("colour table index out of range")
    sizes = _coefficient_counts(keys, steps)
    indexes = np.concatenate([np.full(size, table_ids[3 * k + c], dtype=np.int64)
                              for k, size in enumerate(sizes) for c in range(3)])
    values = coder.decode(section[head:], indexes, tables).astype(np.float64) * (step_q / 16)
    coefficients, at = [], 0
    for size in sizes:
        block = values[at:at + 3 * size].reshape(3, size).T
        coefficients.append(block)
        at += 3 * size
    ycc = raht_inverse(keys, coefficients, steps)
    return np.clip(np.round(ycc @ YCBCR_TO_RGB.T), 0, 255).astype(np.uint8)


def _coefficient_counts(keys: np.ndarray, steps: int) -> list[int]:
    sizes, current = [], keys
    for _ in range(steps):
        first, parent = _pairs(current)
        sizes.append(int(first.size))
        keep = np.ones(current.size, dtype=bool)
        keep[first + 1] = False
        current = parent[keep]
    sizes.append(int(current.size))
    return sizes
