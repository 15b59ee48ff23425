"""Arithmetic-coder backends behind one vectorised interface.

A coder turns integer symbols plus integer distributions into bytes and back. Distributions come as a
``TableSet`` with either a table index per symbol (``encode``/``decode``) or one table per symbol
(``per_symbol=True``: table i codes symbol i; Gaussian mixtures, occupancy symbols). The symbol
sequence is split into ``chunks`` contiguous, independently decodable streams (parallel/GPU decoding).

Payload of one coded tensor::

    u8 chunk count C (1..255), C x u32le chunk sizes, then each chunk:
    u32le main-stream size, main stream, escape bytes (entropy.escape)

Backends: ``constriction`` (ANS, default; Rust), ``compressai`` (CompressAI's C++ rANS) and
``rans-interleaved`` (ncodec's own interleaved rANS: a C++ CPU coder and bit-exact CUDA kernels). The
CompressAI decoder does no bounds checking, so it is only ever given (a) tables whose bypass mode is
unreachable (a zero-width final bin; ncodec codes escapes itself) and (b) a buffer padded with more
zero words than it can read (at most one 32-bit word per decoded symbol, plus two to initialise).
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from importlib.metadata import version as _pkg_version
from typing import TYPE_CHECKING

import numpy as np

from ncodec.entropy.escape import pack_escapes, split_symbols, unpack_escapes
from ncodec.errors import BitstreamError

if TYPE_CHECKING:  # tables import torch; the coders work on their numpy arrays only
    from ncodec.entropy.tables import TableSet

MAX_CHUNKS = 255


def _chunk_bounds(n: int, chunks: int) -> list[tuple[int, int]]:
    chunks = max(1, min(chunks, MAX_CHUNKS, max(n, 1)))
    edges = [n * i // chunks for i in range(chunks + 1)]
    return list(zip(edges[:-1], edges[1:]))


class Coder(ABC):
    """A byte machine: (symbols, integer distributions) <-> bytes."""

    name: str = ""
    backend_id: int = 0

    @property
    def version(self) -> str:
        return _pkg_version(self.package)

    package: str = ""

    def encode(self, symbols: np.ndarray, indexes: np.ndarray | None, tables: TableSet,
               chunks: int = 1) -> bytes:
        """Code int64 ``symbols`` with ``tables[indexes[i]]`` (or table i when ``indexes`` is None)."""
        symbols = np.ascontiguousarray(symbols, dtype=np.int64).reshape(-1)
        idx = self._indexes(indexes, tables, symbols.size)
        parts = []
        for a, b in _chunk_bounds(symbols.size, self.outer_chunks(chunks)):
            main, escaped = self._encode_values(symbols[a:b], idx[a:b], tables, indexes is None)
            lo = tables.offsets[idx[a:b][escaped]]
            raw = pack_escapes(symbols[a:b][escaped], lo, lo + tables.lengths[idx[a:b][escaped]] - 1)
            parts.append(struct.pack("<I", len(main)) + main + raw)
        header = struct.pack("<B", len(parts)) + b"".join(struct.pack("<I", len(p)) for p in parts)
        return header + b"".join(parts)

    def decode(self, data: bytes, indexes: np.ndarray | None, tables: TableSet, count: int | None = None) -> np.ndarray:
        """Inverse of ``encode``; raises BitstreamError on any malformed input."""
        n = int(indexes.size) if indexes is not None else int(count if count is not None else tables.lengths.size)
        idx = self._indexes(indexes, tables, n)
        view = memoryview(data)
        if len(view) < 1:
            raise BitstreamError("coded tensor is empty")
        nchunks = view[0]
        bounds = _chunk_bounds(n, nchunks)
        if nchunks == 0 or len(bounds) != nchunks:
            raise BitstreamError("invalid chunk count")
        pos = 1 + 4 * nchunks
        if len(view) < pos:
            raise BitstreamError("chunk table truncated")
        sizes = struct.unpack_from(f"<{nchunks}I", view, 1)
        if pos + sum(sizes) != len(view):
            raise BitstreamError("chunk sizes do not match the payload size")
        out = np.empty(n, dtype=np.int64)
        for (a, b), size in zip(bounds, sizes):
            chunk = view[pos:pos + size]
            pos += size
            if size < 4:
                raise BitstreamError("chunk truncated")
            (main_len,) = struct.unpack_from("<I", chunk, 0)
            if 4 + main_len > size:
                raise BitstreamError("chunk main stream truncated")
            vals, escaped = self._decode_values(bytes(chunk[4:4 + main_len]), idx[a:b], tables, indexes is None)
            lo = tables.offsets[idx[a:b][escaped]]
            esc_vals, used = unpack_escapes(chunk[4 + main_len:], escaped.size, lo,
                                            lo + tables.lengths[idx[a:b][escaped]] - 1)
            if 4 + main_len + used != size:
                raise BitstreamError("trailing bytes in chunk")
            vals[escaped] = esc_vals
            if len(bounds) == 1:
                return vals  # one chunk: no copy into `out` (it matters at 10^8 symbols)
            out[a:b] = vals
        return out

    def encode_parts(self, parts: list[tuple[np.ndarray, np.ndarray]], tables: TableSet) -> bytes:
        """Several (symbols, table indexes) tensors as one stream that ``part_decoder`` reads back part by
        part, for decoders that learn part k's tables only from parts before it (e.g. the passes of a
        level). This default concatenates ``encode`` streams with 4-byte lengths; a coder that can share
        one state across parts overrides it and saves the per-stream costs."""
        return b"".join(struct.pack("<I", len(e)) + e for e in (self.encode(s, i, tables) for s, i in parts))

    def part_decoder(self, data: bytes, tables: TableSet) -> "PartDecoder":
        """Reader of an ``encode_parts`` stream: ``next(indexes)`` per part, then ``finish()``."""
        return _ConcatenatedParts(self, data, tables)

    def outer_chunks(self, chunks: int) -> int:
        """How many independently decodable streams ``encode`` cuts a tensor into when asked for
        ``chunks`` (the count is in the payload, so the decoder follows whatever the encoder chose)."""
        return chunks

    def fixed_cost(self, symbols: int) -> int:
        """Bytes a stream of ``symbols`` symbols costs beyond its information content, whatever they are
        (flushed coder states, chunk tables); small for every backend but the many-lane one."""
        return 8

    @staticmethod
    def _indexes(indexes: np.ndarray | None, tables: TableSet, n: int) -> np.ndarray:
        if indexes is None:
            if tables.lengths.size != n:
                raise ValueError("per-symbol coding needs one table per symbol")
            return np.arange(n, dtype=np.int64)
        idx = np.ascontiguousarray(indexes, dtype=np.int64).reshape(-1)
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= tables.lengths.size):
            raise ValueError("table index out of range")
        return idx

    def _encode_values(self, symbols: np.ndarray, idx: np.ndarray, tables: TableSet, per_symbol: bool
                       ) -> tuple[bytes, np.ndarray]:
        """Main stream of one chunk, with the positions of the escaped (out-of-range) symbols."""
        lo = tables.offsets[idx]
        bins, escaped = split_symbols(symbols, lo, lo + tables.lengths[idx] - 1)
        return self._encode_bins(bins, idx, tables, per_symbol), np.flatnonzero(escaped)

    def _decode_values(self, data: bytes, idx: np.ndarray, tables: TableSet, per_symbol: bool
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Values of one chunk (escaped positions still to be filled in) and those positions."""
        bins = self._decode_bins(data, idx, tables, per_symbol)
        escape_bin = tables.lengths[idx]
        if bins.size and (int(bins.min()) < 0 or bool((bins > escape_bin).any())):
            raise BitstreamError("decoded symbol outside its table")
        return bins + tables.offsets[idx], np.flatnonzero(bins == escape_bin)

    @abstractmethod
    def _encode_bins(self, bins: np.ndarray, idx: np.ndarray, tables: TableSet, per_symbol: bool) -> bytes: ...

    @abstractmethod
    def _decode_bins(self, data: bytes, idx: np.ndarray, tables: TableSet, per_symbol: bool) -> np.ndarray: ...


def _groups(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stable order of symbols grouped by table, plus each group's table and size."""
    if idx.size and 0 <= int(idx.min()) and int(idx.max()) < 1 << 16:
        # table indices are small: a stable sort of 16-bit keys is numpy's radix sort, and bincount
        # gives the group sizes without a second sort (the same order as sorting the int64 keys)
        order = np.argsort(idx.astype(np.uint16), kind="stable")
        all_counts = np.bincount(idx)
        tables_used = np.flatnonzero(all_counts)
        return order, tables_used.astype(idx.dtype), all_counts[tables_used]
    order = np.argsort(idx, kind="stable")
    tables_used, counts = np.unique(idx[order], return_counts=True)
    return order, tables_used, counts


class ConstrictionCoder(Coder):
    """ANS coder of the constriction library (Bamler 2022); 32-bit words, 24-bit precision."""

    name = "constriction"
    backend_id = 1
    package = "constriction"

    def __init__(self) -> None:
        import constriction

        self._c = constriction
        self._family = constriction.stream.model.Categorical(perfect=False)
        # models per table, for the tables last used; the TableSet itself is kept so that a new TableSet
        # that happens to reuse a freed one's id() never meets the old one's models
        self._model_tables: TableSet | None = None
        self._model_cache: dict[int, object] = {}

    def _probs(self, tables: TableSet, t: np.ndarray | int) -> np.ndarray:
        if tables.probabilities is not None:
            if isinstance(t, np.ndarray) and t.size == tables.counts.shape[0] and t.size and t[0] == 0 \
                    and t[-1] == t.size - 1:  # per-symbol coding of the whole set: idx is arange, no copy
                return tables.probabilities
            return tables.probabilities[t]
        return np.multiply(tables.counts[t], 1.0 / float(1 << tables.precision), dtype=np.float64)  # exact: 2**-p

    def _model(self, tables: TableSet, t: int):
        if self._model_tables is not tables:
            self._model_tables, self._model_cache = tables, {}
        key = t
        model = self._model_cache.get(key)
        if model is None:
            n = int(tables.lengths[t]) + 1
            model = self._c.stream.model.Categorical(self._probs(tables, t)[:n], perfect=False)
            self._model_cache[key] = model
        return model

    def _encode_bins(self, bins, idx, tables, per_symbol):
        coder = self._c.stream.stack.AnsCoder()
        if bins.size:
            if per_symbol:
                coder.encode_reverse(bins.astype(np.int32), self._family, self._probs(tables, idx))
            else:
                self._push_grouped(coder, bins, idx, tables)
        return coder.get_compressed().astype("<u4").tobytes()

    def _push_grouped(self, coder, bins: np.ndarray, idx: np.ndarray, tables: TableSet) -> None:
        """Push ``bins`` onto the ANS stack one table group at a time (last group first)."""
        order, used, counts = _groups(idx)
        starts = np.concatenate([[0], np.cumsum(counts)])
        for g in range(len(used) - 1, -1, -1):
            sel = order[starts[g]:starts[g + 1]]
            coder.encode_reverse(bins[sel].astype(np.int32), self._model(tables, int(used[g])))

    def encode_parts(self, parts: list[tuple[np.ndarray, np.ndarray]], tables: TableSet) -> bytes:
        """One ANS stack for all parts (no per-part flush); symbols must lie in their tables' ranges."""
        coder = self._c.stream.stack.AnsCoder()
        for symbols, indexes in reversed(parts):
            symbols = np.ascontiguousarray(symbols, dtype=np.int64).reshape(-1)
            idx = self._indexes(indexes, tables, symbols.size)
            if symbols.size == 0:
                continue
            bins = symbols - tables.offsets[idx]
            if bins.min() < 0 or (bins >= tables.lengths[idx]).any():
                raise ValueError("encode_parts codes symbols inside their tables' ranges only")
            self._push_grouped(coder, bins, idx, tables)
        return coder.get_compressed().astype("<u4").tobytes()

    def part_decoder(self, data: bytes, tables: TableSet) -> PartDecoder:
        return _ConstrictionParts(self, data, tables)

    def _decode_bins(self, data, idx, tables, per_symbol):
        if len(data) % 4:
            raise BitstreamError("ANS stream length is not a multiple of 4")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        out = np.empty(idx.size, dtype=np.int64)
        try:
            coder = self._c.stream.stack.AnsCoder(words)
            if idx.size == 0:
                return out
            if per_symbol:
                out[:] = coder.decode(self._family, self._probs(tables, idx))
            else:
                order, used, counts = _groups(idx)
                starts = np.concatenate([[0], np.cumsum(counts)])
                for g in range(len(used)):
                    sel = order[starts[g]:starts[g + 1]]
                    out[sel] = coder.decode(self._model(tables, int(used[g])), int(counts[g]))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # constriction raises PanicException (a BaseException) on garbage
            raise BitstreamError(f"ANS stream is corrupt ({type(exc).__name__})") from None
        return out


class PartDecoder(ABC):
    @abstractmethod
    def next(self, indexes: np.ndarray) -> np.ndarray:
        """Symbols of the next part, coded with ``tables[indexes[i]]``."""

    @abstractmethod
    def finish(self) -> None:
        """Raise BitstreamError unless the stream ended exactly after the last part."""


class _ConcatenatedParts(PartDecoder):
    def __init__(self, coder: Coder, data: bytes, tables: TableSet) -> None:
        self.coder, self.view, self.pos, self.tables = coder, memoryview(data), 0, tables

    def next(self, indexes: np.ndarray) -> np.ndarray:
        if self.pos + 4 > len(self.view):
            raise BitstreamError("coded parts truncated")
        (size,) = struct.unpack_from("<I", self.view, self.pos)
        start, self.pos = self.pos + 4, self.pos + 4 + size
        if self.pos > len(self.view):
            raise BitstreamError("coded part truncated")
        return self.coder.decode(bytes(self.view[start:self.pos]), indexes, self.tables)

    def finish(self) -> None:
        if self.pos != len(self.view):
            raise BitstreamError("trailing bytes after the coded parts")


class _ConstrictionParts(PartDecoder):
    """All parts on one ANS stack: the encoder pushed them last part first."""

    def __init__(self, coder: "ConstrictionCoder", data: bytes, tables: TableSet) -> None:
        if len(data) % 4:
            raise BitstreamError("ANS stream length is not a multiple of 4")
        self.coder, self.tables = coder, tables
        try:
            self.ans = coder._c.stream.stack.AnsCoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))
        except BaseException as exc:  # noqa: BLE001 - constriction panics on garbage
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise BitstreamError(f"ANS stream is corrupt ({type(exc).__name__})") from None

    def next(self, indexes: np.ndarray) -> np.ndarray:
        idx = Coder._indexes(indexes, self.tables, int(np.asarray(indexes).size))
        out = np.empty(idx.size, dtype=np.int64)
        if idx.size == 0:
            return out
        try:
            order, used, counts = _groups(idx)
            starts = np.concatenate([[0], np.cumsum(counts)])
            for g in range(len(used)):
                sel = order[starts[g]:starts[g + 1]]
                out[sel] = self.ans.decode(self.coder._model(self.tables, int(used[g])), int(counts[g]))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - constriction panics on garbage
            raise BitstreamError(f"ANS stream is corrupt ({type(exc).__name__})") from None
        if (out >= self.tables.lengths[idx]).any():  # the escape bin: never written by encode_parts
            raise BitstreamError("decoded symbol outside its table")
        return out + self.tables.offsets[idx]

    def finish(self) -> None:
        if not self.ans.is_empty():
            raise BitstreamError("trailing data after the coded parts")


class CompressAIRansCoder(Coder):
    """CompressAI's rANS (64-bit state, 32-bit renormalisation, 16-bit precision)."""

    name = "compressai"
    backend_id = 2
    MIN_SYMBOLS = 8
    package = "compressai"

    def __init__(self) -> None:
        import warnings

        with warnings.catch_warnings():  # compressai's import uses the deprecated torch.jit.script
            warnings.simplefilter("ignore", FutureWarning)
            from compressai.ans import RansDecoder, RansEncoder

        self._enc_cls, self._dec_cls = RansEncoder, RansDecoder
        self._cdf_cache: dict[int, tuple[TableSet, list[list[int]], list[int]]] = {}

    def _cdfs(self, tables: TableSet, rows: np.ndarray) -> tuple[list[list[int]], list[int]]:
        if tables.precision != 16:
            raise ValueError("the CompressAI backend needs 16-bit tables")
        n = tables.lengths[rows] + 1
        cdf = np.zeros((rows.size, tables.counts.shape[1] + 2), dtype=np.int64)
        cdf[:, 1:tables.counts.shape[1] + 1] = np.cumsum(tables.counts[rows], axis=1)
        # after the last real bin the cdf stays at 2**16: a zero-width final bin makes bypass unreachable
        sizes = (n + 2).tolist()
        full = [row[:s].tolist() for row, s in zip(cdf, sizes)]
        return full, sizes

    def _tables_cdfs(self, tables: TableSet) -> tuple[list[list[int]], list[int]]:
        hit = self._cdf_cache.get(id(tables))
        if hit is None or hit[0] is not tables:  # the TableSet is kept: a reused id() never hits
            if len(self._cdf_cache) > 64:
                self._cdf_cache.clear()
            hit = (tables, *self._cdfs(tables, np.arange(tables.lengths.size)))
            self._cdf_cache[id(tables)] = hit
        return hit[1], hit[2]

    def _args(self, idx, tables, per_symbol):
        if per_symbol:
            cdfs, sizes = self._cdfs(tables, idx)
            return list(range(idx.size)), cdfs, sizes, [0] * idx.size
        cdfs, sizes = self._tables_cdfs(tables)
        return idx.tolist(), cdfs, sizes, [0] * len(sizes)

    def _encode_bins(self, bins, idx, tables, per_symbol):
        if bins.size == 0:
            return b""
        bins, idx = self._pad_short(bins, idx, tables)
        indexes, cdfs, sizes, offsets = self._args(idx, tables, per_symbol)
        return self._enc_cls().encode_with_indexes(bins.tolist(), indexes, cdfs, sizes, offsets)

    def _decode_bins(self, data, idx, tables, per_symbol):
        if idx.size == 0:
            return np.empty(0, dtype=np.int64)
        n = idx.size
        _, idx = self._pad_short(np.zeros(n, dtype=np.int64), idx, tables)
        indexes, cdfs, sizes, offsets = self._args(idx, tables, per_symbol)
        padded = data + bytes(4 * (idx.size + 4))
        out = self._dec_cls().decode_with_indexes(padded, indexes, cdfs, sizes, offsets)
        return np.asarray(out[:n], dtype=np.int64)

    @staticmethod
    def _pad_short(bins: np.ndarray, idx: np.ndarray, tables: TableSet) -> tuple[np.ndarray, np.ndarray]:
        """CompressAI's encoder sizes its output buffer by the symbol count (one word per symbol) and
        overflows it for very short streams (the 2-word flush alone exceeds 1 symbol). Each symbol emits
        at most 16 bits, so with at least MIN_SYMBOLS symbols the buffer always suffices: short streams
        get filler symbols (the most probable bin of the first symbol's table, so they cost almost
        nothing), which the decoder decodes and drops."""
        short = CompressAIRansCoder.MIN_SYMBOLS - bins.size
        if short <= 0:
            return bins, idx
        t = int(idx[0])
        filler = int(np.argmax(tables.counts[t, : int(tables.lengths[t]) + 1]))
        return (np.concatenate([bins, np.full(short, filler, dtype=np.int64)]),
                np.concatenate([idx, np.full(short, t, dtype=np.int64)]))


def cdf_rows(tables: TableSet) -> np.ndarray:
    """Cumulative integer tables (T, width + 1) as uint32: row t is 0, c0, c0+c1, ..., 2**16 (padded)."""
    if tables.precision != 16:
        raise ValueError("the interleaved rANS backend needs 16-bit tables")
    cdf = np.zeros((tables.counts.shape[0], tables.counts.shape[1] + 1), dtype=np.uint32)
    np.cumsum(tables.counts, axis=1, out=cdf[:, 1:], dtype=np.uint32)
    return cdf


class RansInterleavedCoder(Coder):
    """ncodec's interleaved rANS (docs/bitstream.md): K lanes of 48-bit states, 16-bit words, 16-bit CDFs.

    The stream splits into chunks of ``chunk_symbols`` symbols that decode independently (threads on the
    CPU, one block per chunk on a GPU). ``device="cuda"`` codes with the CUDA kernels when a CUDA device
    and nvcc are present and falls back to the C++ coder otherwise; both write the same bytes.
    """

    name = "rans-interleaved"
    backend_id = 3
    package = "ncodec"
    LANES = 32
    CHUNK_SYMBOLS = 1 << 17  # 8 chunks per million symbols: 0.45 % of state overhead at 3 bits/symbol

    def __init__(self, lanes: int = LANES, chunk_symbols: int = CHUNK_SYMBOLS, threads: int | None = None,
                 device: str = "cpu") -> None:
        try:
            from ncodec.entropy import _rans
        except ImportError as exc:  # the extension is built by `pip install` (setup.py)
            from ncodec.errors import MissingDependencyError

            raise MissingDependencyError(
                "the rans-interleaved coder's C++ extension is not built; reinstall ncodec with "
                "`pip install -e .` (needs a C++17 compiler)") from exc
        import os

        self._rans = _rans
        self.lanes, self.chunk_symbols = lanes, chunk_symbols
        self.threads = threads or max(1, min(os.cpu_count() or 1, 16))
        self._gpu = None
        if device != "cpu":
            from ncodec.entropy import rans_cuda

            self._gpu = rans_cuda.load_or_none(device)
        self._cdf_cache: dict[int, tuple[TableSet, np.ndarray]] = {}

    # Below LANE_SYMBOLS symbols per lane a tensor gets fewer lanes (a power of two, at least one): each
    # lane costs 6 bytes of state, +23 % of a 384x256 image's file at 32 lanes. Tensors of 2**16 symbols
    # and more (a 768x512 image's latent) keep 32 lanes, so they still decode on a GPU.
    LANE_SYMBOLS = 2048

    def outer_chunks(self, chunks: int) -> int:
        """One stream per tensor: the coder cuts its own independently decodable chunks (``chunk_symbols``),
        so the payload-level chunks would only repeat lane states (+19 % on a 384x256 image at 16)."""
        return 1

    def lanes_for(self, symbols: int) -> int:
        """Lanes of a tensor of ``symbols`` symbols: ``self.lanes`` for large ones, fewer for small ones."""
        fit = max(1, symbols // self.LANE_SYMBOLS)
        if fit >= self.lanes:
            return self.lanes
        if fit >= 32:  # whole warps (GPU-decodable): the largest 32 * 2**k the tensor fills
            lanes = 32 << ((fit // 32).bit_length() - 1)
            return lanes if self.chunk_symbols % lanes == 0 else self.lanes
        lanes = min(1 << (fit.bit_length() - 1), 16)
        return lanes if self.chunk_symbols % lanes == 0 else self.lanes

    def fixed_cost(self, symbols: int) -> int:
        chunks = -(-symbols // self.chunk_symbols)
        return 6 + chunks * (4 + 6 * self.lanes_for(symbols))  # header, word counts and 48-bit lane states

    def _cdf(self, tables: TableSet) -> np.ndarray:
        hit = self._cdf_cache.get(id(tables))
        if hit is None or hit[0] is not tables:
            if len(self._cdf_cache) > 64:
                self._cdf_cache.clear()
            hit = (tables, cdf_rows(tables))
            self._cdf_cache[id(tables)] = hit
        return hit[1]

    def _encode_values(self, symbols, idx, tables, per_symbol):
        lanes = self.lanes_for(symbols.size)
        if self._gpu is not None and lanes >= 32:
            return super()._encode_values(symbols, idx, tables, per_symbol)
        try:  # one fused C++ pass: bins, escape positions, coding
            return self._rans.encode_values(symbols, idx, self._cdf(tables), tables.offsets, tables.lengths,
                                            lanes, self.chunk_symbols, self.threads)
        except ValueError as exc:
            raise ValueError(str(exc)) from None

    def _decode_values(self, data, idx, tables, per_symbol):
        if self._gpu is not None and len(data) >= 2 and int.from_bytes(data[:2], "little") >= 32:
            return super()._decode_values(data, idx, tables, per_symbol)
        try:
            return self._rans.decode_values(data, idx, self._cdf(tables), tables.offsets, tables.lengths,
                                            self.threads)
        except RuntimeError as exc:
            raise BitstreamError(str(exc)) from None

    def _encode_bins(self, bins, idx, tables, per_symbol):
        cdf = self._cdf(tables)
        if self._gpu is not None:
            return self._gpu.encode(bins, idx, cdf, self.lanes, self.chunk_symbols)
        return self._rans.encode(bins, idx, cdf, self.lanes, self.chunk_symbols, self.threads)

    def _decode_bins(self, data, idx, tables, per_symbol):
        cdf = self._cdf(tables)
        try:
            if self._gpu is not None:
                return self._gpu.decode(data, idx, cdf)
            return self._rans.decode(data, idx, cdf, self.threads)
        except RuntimeError as exc:
            raise BitstreamError(str(exc)) from None


BACKENDS: dict[str, type[Coder]] = {"constriction": ConstrictionCoder, "compressai": CompressAIRansCoder,
                                    "rans-interleaved": RansInterleavedCoder}
BACKEND_IDS: dict[int, str] = {cls.backend_id: name for name, cls in BACKENDS.items()}
DEFAULT_BACKEND = "constriction"


def get_coder(name: str = DEFAULT_BACKEND, device: str = "cpu") -> Coder:
    """Instantiate a coder backend by name; ``device`` selects GPU kernels where a backend has them."""
    if name not in BACKENDS:
        raise ValueError(f"unknown coder backend {name!r}; choose from {sorted(BACKENDS)}")
    if name == RansInterleavedCoder.name:
        return RansInterleavedCoder(device=device)
    return BACKENDS[name]()
