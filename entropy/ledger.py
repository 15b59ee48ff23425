"""Where the bytes of coded tensors go: information content under the integer tables, escapes and the
coder's own overhead (chunk tables, flushed states).

``RateLedger.wrap(coder)`` returns a coder that codes exactly as ``coder`` does and, for every tensor
it encodes, adds up
- ``table_bits``: the ideal code length sum(-log2 p) of the coded bins (escape bins included) under the
  integer tables the decoder uses, i.e. what a perfect arithmetic coder would spend;
- ``escape_bytes``: the raw bytes of values outside their table's range (``entropy.escape``);
- ``coded_bytes``: the bytes the coder wrote, so ``coded_bytes - table_bits/8 - escape_bytes`` is the
  coder's overhead: chunk tables, main-stream sizes, flushed states and its arithmetic's inefficiency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ncodec.entropy.escape import pack_escapes, split_symbols


@dataclass
class RateLedger:
    table_bits: float = 0.0
    escape_bytes: int = 0
    escaped_symbols: int = 0
    coded_bytes: int = 0
    symbols: int = 0
    tensors: int = 0

    def wrap(self, coder: Any) -> "_MeasuringCoder":
        return _MeasuringCoder(coder, self)

    def record(self, symbols: np.ndarray, indexes: np.ndarray | None, tables: Any, coded: int) -> None:
        symbols = np.ascontiguousarray(symbols, dtype=np.int64).reshape(-1)
        idx = (np.arange(symbols.size, dtype=np.int64) if indexes is None
               else np.ascontiguousarray(indexes, dtype=np.int64).reshape(-1))
        lo = tables.offsets[idx]
        hi = lo + tables.lengths[idx] - 1
        bins, escaped = split_symbols(symbols, lo, hi)
        counts = tables.counts[idx, bins].astype(np.float64)
        self.table_bits += float(np.sum(tables.precision - np.log2(counts)))
        self.escape_bytes += len(pack_escapes(symbols[escaped], lo[escaped], hi[escaped]))
        self.escaped_symbols += int(escaped.sum())
        self.coded_bytes += int(coded)
        self.symbols += int(symbols.size)
        self.tensors += 1

    @property
    def coder_overhead_bytes(self) -> float:
        return self.coded_bytes - self.table_bits / 8.0 - self.escape_bytes


class _MeasuringCoder:
    """A coder proxy: ``encode`` is the wrapped coder's, recorded in the ledger; the rest delegates."""

    def __init__(self, coder: Any, ledger: RateLedger) -> None:
        self._coder, self._ledger = coder, ledger

    def encode(self, symbols: np.ndarray, indexes: np.ndarray | None, tables: Any, chunks: int = 1) -> bytes:
        data = self._coder.encode(symbols, indexes, tables, chunks=chunks)
        self._ledger.record(symbols, indexes, tables, len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._coder, name)
