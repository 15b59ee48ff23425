"""Bit-exact NumPy emulation of the interleaved rANS kernels' per-lane schedule.

The CUDA kernels (``entropy/csrc/rans_interleaved.cu``) run one thread per lane and one block per
chunk. At each step every lane codes its symbol; the lanes that move a 16-bit word find their place in
the chunk's word stream with a ballot and an exclusive prefix popcount over lower lanes. This module
performs exactly those operations on (chunks, lanes) arrays, one vectorised step at a time, so the
kernel schedule is exercised without a GPU and its bytes are checked against the C++ coder
(``entropy/csrc/rans_interleaved.cpp``). Format: docs/bitstream.md, "rans-interleaved".
"""

from __future__ import annotations

import struct

import numpy as np

from ncodec.errors import BitstreamError

LOWER = np.uint64(1 << 32)
PRECISION = 16


def _prefix_rank(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per lane: how many lower lanes of its chunk are set (ballot + popc), and the chunk's total."""
    counts = np.cumsum(mask, axis=1, dtype=np.int64)
    return counts - mask, counts[:, -1]


def _layout(n: int, lanes: int, chunk_symbols: int) -> tuple[int, int]:
    chunks = -(-n // chunk_symbols)
    return chunks, chunk_symbols // lanes


def _padded(values: np.ndarray, chunks: int, steps: int, lanes: int) -> np.ndarray:
    out = np.zeros(chunks * steps * lanes, dtype=np.int64)
    out[: values.size] = values
    return out.reshape(chunks, steps, lanes)


def encode(bins: np.ndarray, indexes: np.ndarray, cdf: np.ndarray, lanes: int = 32,
           chunk_symbols: int = 1 << 16) -> bytes:
    """Same bytes as the C++ and CUDA encoders."""
    bins = np.asarray(bins, dtype=np.int64).reshape(-1)
    n = bins.size
    chunks, steps = _layout(n, lanes, chunk_symbols)
    cdf = np.asarray(cdf, dtype=np.uint64)
    b = _padded(bins, chunks, steps, lanes)
    t = _padded(np.asarray(indexes, dtype=np.int64).reshape(-1), chunks, steps, lanes)
    active = _padded(np.ones(n, dtype=np.int64), chunks, steps, lanes).astype(bool)
    cap = 3 * lanes + chunk_symbols
    buf = np.zeros((chunks, cap), dtype=np.uint16)
    pos = np.full(chunks, cap, dtype=np.int64)
    x = np.full((chunks, lanes), LOWER, dtype=np.uint64)
    rows = np.arange(chunks)[:, None]
    for step in range(steps - 1, -1, -1):
        act = active[:, step]
        start = cdf[t[:, step], b[:, step]]
        freq = np.where(act, cdf[t[:, step], b[:, step] + 1] - start, np.uint64(1))
        emit = act & (x >= (freq << np.uint64(32)))
        rank, total = _prefix_rank(emit)
        slot = (pos - total)[:, None] + rank
        buf[np.broadcast_to(rows, emit.shape)[emit], slot[emit]] = (x[emit] & np.uint64(0xFFFF)).astype(np.uint16)
        x = np.where(emit, x >> np.uint64(16), x)
        x = np.where(act, ((x // freq) << np.uint64(PRECISION)) + x % freq + start, x)
        pos -= total
    pos -= 3 * lanes
    lane = np.arange(lanes)
    for k in range(3):
        buf[rows, pos[:, None] + 3 * lane + k] = ((x >> np.uint64(16 * k)) & np.uint64(0xFFFF)).astype(np.uint16)
    counts = cap - pos
    parts = [struct.pack("<HI", lanes, chunk_symbols), counts.astype("<u4").tobytes()]
    parts += [buf[c, pos[c]:].astype("<u2").tobytes() for c in range(chunks)]
    return b"".join(parts)


def decode(data: bytes, indexes: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Same result (and the same refusals) as the C++ decoder."""
    indexes = np.asarray(indexes, dtype=np.int64).reshape(-1)
    n = indexes.size
    if len(data) < 6:
        raise BitstreamError("interleaved rANS header truncated")
    lanes, chunk_symbols = struct.unpack_from("<HI", data, 0)
    if lanes < 1 or lanes > 1024 or (lanes >= 32 and lanes % 32) or chunk_symbols < lanes \
            or chunk_symbols % lanes:
        raise BitstreamError("interleaved rANS header is invalid")
    chunks, steps = _layout(n, lanes, chunk_symbols)
    if len(data) < 6 + 4 * chunks:
        raise BitstreamError("interleaved rANS chunk table truncated")
    counts = np.frombuffer(data, dtype="<u4", count=chunks, offset=6).astype(np.int64)
    if 6 + 4 * chunks + 2 * int(counts.sum()) != len(data):
        raise BitstreamError("interleaved rANS chunk sizes do not match the payload")
    if (counts < 3 * lanes).any():
        raise BitstreamError("chunk shorter than its lane states")
    words = np.frombuffer(data, dtype="<u2", offset=6 + 4 * chunks).astype(np.uint64)
    if chunks == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    cdf = np.asarray(cdf, dtype=np.uint64)
    width = cdf.shape[1]
    t = _padded(indexes, chunks, steps, lanes)
    active = _padded(np.ones(n, dtype=np.int64), chunks, steps, lanes).astype(bool)
    lane = np.arange(lanes)
    state_at = starts[:, None] + 3 * lane
    x = words[state_at] | (words[state_at + 1] << np.uint64(16)) | (words[state_at + 2] << np.uint64(32))
    if (x < LOWER).any():
        raise BitstreamError("lane state out of range")
    pos = np.full(chunks, 3 * lanes, dtype=np.int64)
    out = np.zeros((chunks, steps, lanes), dtype=np.int64)
    for step in range(steps):
        act = active[:, step]
        slot = x & np.uint64(0xFFFF)
        rows = cdf[t[:, step]]  # (chunks, lanes, width)
        s = (rows <= slot[..., None]).sum(axis=2) - 1
        s = np.minimum(s, width - 2)
        start = np.take_along_axis(rows, s[..., None], axis=2)[..., 0]
        freq = np.take_along_axis(rows, s[..., None] + 1, axis=2)[..., 0] - start
        v = freq * (x >> np.uint64(16)) + slot - start
        need = act & (v < LOWER)
        rank, total = _prefix_rank(need)
        at = pos[:, None] + rank
        if (need & (at >= counts[:, None])).any():
            raise BitstreamError("chunk words exhausted")
        fetched = words[np.minimum(starts[:, None] + at, words.size - 1)]
        v = np.where(need, (v << np.uint64(16)) | fetched, v)
        x = np.where(act, v, x)
        out[:, step] = s
        pos += total
    if (pos != counts).any():
        raise BitstreamError("unused words at the end of a chunk")
    if (x != LOWER).any():
        raise BitstreamError("lane did not return to its initial state")
    return out.reshape(-1)[:n]
