"""Exact coding of values outside a table's range (the escape mechanism), vectorised.

An out-of-range value v of a table covering [lo, hi] is coded as the table's escape bin, then its
distance is stored raw: u = 2*(v - hi - 1) above the range, u = 2*(lo - v - 1) + 1 below it. The raw
part of a chunk is: one byte per escaped value with the bit length of u (0..63), then the
ceil(bits/8) little-endian bytes of each u, in symbol order.
"""

from __future__ import annotations

import numpy as np

from ncodec.errors import BitstreamError

MAX_ABS_SYMBOL = (1 << 61) - 1


def split_symbols(symbols: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (bins, escaped_mask): bins[i] = symbol - lo, or the escape bin (hi - lo + 1)."""
    if symbols.size and int(np.abs(symbols).max()) > MAX_ABS_SYMBOL:
        raise ValueError("symbol magnitude exceeds 2**61")
    escaped = (symbols < lo) | (symbols > hi)
    bins = np.where(escaped, hi - lo + 1, symbols - lo)
    return bins, escaped


def pack_escapes(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> bytes:
    """Raw bytes for escaped values (with their tables' lo/hi)."""
    if values.size == 0:
        return b""
    above = values > hi
    u = np.where(above, 2 * (values - hi - 1), 2 * (lo - values - 1) + 1).astype(np.uint64)
    nbits = np.zeros(u.shape, dtype=np.int64)
    rest = u.copy()
    while bool(rest.any()):
        nz = rest > 0
        nbits += nz
        rest >>= np.uint64(1)
    nbytes = (nbits + 7) // 8
    matrix = u.astype("<u8").view(np.uint8).reshape(-1, 8)
    mask = np.arange(8)[None, :] < nbytes[:, None]
    return nbits.astype(np.uint8).tobytes() + matrix[mask].tobytes()


def unpack_escapes(data: memoryview | bytes, count: int, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, int]:
    """Inverse of ``pack_escapes`` for ``count`` values; returns (values, bytes consumed)."""
    if count == 0:
        return np.zeros(0, dtype=np.int64), 0
    if len(data) < count:
        raise BitstreamError("escape data truncated")
    nbits = np.frombuffer(data, dtype=np.uint8, count=count).astype(np.int64)
    if int(nbits.max()) > 62:
        raise BitstreamError("escape value too large")
    nbytes = (nbits + 7) // 8
    total = int(nbytes.sum())
    if len(data) < count + total:
        raise BitstreamError("escape data truncated")
    matrix = np.zeros((count, 8), dtype=np.uint8)
    mask = np.arange(8)[None, :] < nbytes[:, None]
    matrix[mask] = np.frombuffer(data, dtype=np.uint8, count=total, offset=count)
    u = matrix.view("<u8").reshape(-1).astype(np.int64)
    if bool((u >> nbits).any()):
        raise BitstreamError("escape value longer than its declared bit length")
    d = u >> 1
    values = np.where(u & 1, lo - d - 1, hi + d + 1)
    return values.astype(np.int64), count + total
