"""The ``.ncd`` bitstream container shared by every modality (format documented in docs/bitstream.md).

The parser checks every limit before it allocates anything and raises ``BitstreamError`` with a
one-line reason for any malformed input.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from ncodec.errors import BitstreamError, ModelMismatchError

MAGIC = b"\x89NCD"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
MODALITIES = {1: "image", 2: "video", 3: "pointcloud", 4: "mesh", 5: "task"}
MODALITY_IDS = {v: k for k, v in MODALITIES.items()}

MAX_NAME = 64
MAX_BACKEND_VERSION = 32
MAX_DIMS = 8
MAX_DIM = 1 << 16  # any single dimension
MAX_ELEMENTS = 1 << 30  # product of the shape
MAX_METADATA = 4096
MAX_SECTIONS = 4096
MAX_SECTION_BYTES = 1 << 30


@dataclass
class Header:
    """Everything before the sections: what is coded and how to decode it."""

    codec: str
    modality: str
    weights_sha256: str  # hex prefix, 16 characters (8 bytes); "0"*16 when the codec has no weights
    backend: int
    backend_version: str
    quality: float
    shape: tuple[int, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    version: int = FORMAT_VERSION


def _check_shape(shape: tuple[int, ...]) -> None:
    if not 1 <= len(shape) <= MAX_DIMS:
        raise BitstreamError(f"shape has {len(shape)} dimensions (limit {MAX_DIMS})")
    total = 1
    for d in shape:
        if not 1 <= d <= MAX_DIM:
            raise BitstreamError(f"dimension {d} outside 1..{MAX_DIM}")
        total *= d
    if total > MAX_ELEMENTS:
        raise BitstreamError(f"shape {tuple(shape)} exceeds {MAX_ELEMENTS} elements")


def pack(header: Header, sections: list[bytes]) -> bytes:
    """Serialise a header and its sections."""
    name = header.codec.encode("ascii")
    bver = header.backend_version.encode("ascii")[:MAX_BACKEND_VERSION]
    meta = json.dumps(header.metadata, sort_keys=True, separators=(",", ":")).encode("utf-8")
    if not 1 <= len(name) <= MAX_NAME:
        raise ValueError("codec name length out of range")
    if len(meta) > MAX_METADATA or len(sections) > MAX_SECTIONS:
        raise ValueError("metadata or section count over the container limits")
    _check_shape(tuple(header.shape))
    sha = bytes.fromhex(header.weights_sha256[:16].ljust(16, "0"))
    q = int(round(header.quality * 100))
    if not 0 <= q <= 0xFFFF:
        raise ValueError("quality out of range")
    body = bytearray(MAGIC)
    body += struct.pack("<BB", header.version, MODALITY_IDS[header.modality])
    body += struct.pack("<B", len(name)) + name + sha
    body += struct.pack("<BB", header.backend, len(bver)) + bver
    body += struct.pack("<HB", q, len(header.shape)) + struct.pack(f"<{len(header.shape)}I", *header.shape)
    body += struct.pack("<H", len(meta)) + meta
    body += struct.pack("<I", zlib.crc32(body))
    body += struct.pack("<H", len(sections))
    for s in sections:
        if len(s) > MAX_SECTION_BYTES:
            raise ValueError("section too large")
        body += struct.pack("<II", len(s), zlib.crc32(s)) + s
    return bytes(body)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise BitstreamError(f"truncated bitstream while reading {what}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))


def unpack_header(data: bytes) -> tuple[Header, int]:
    """Parse and verify the header; returns it and the offset where the section count starts."""
    r = _Reader(data)
    if bytes(r.take(4, "magic")) != MAGIC:
        raise BitstreamError("not an ncodec bitstream (bad magic)")
    version, modality = r.unpack("<BB", "version")
    if version not in SUPPORTED_VERSIONS:
        raise ModelMismatchError(f"unsupported format version {version} (this build reads {SUPPORTED_VERSIONS})")
    if modality not in MODALITIES:
        raise BitstreamError(f"unknown modality id {modality}")
    (nlen,) = r.unpack("<B", "codec name length")
    if not 1 <= nlen <= MAX_NAME:
        raise BitstreamError("codec name length out of range")
    try:
        name = bytes(r.take(nlen, "codec name")).decode("ascii")
    except UnicodeDecodeError:
        raise BitstreamError("codec name is not ASCII") from None
    sha = bytes(r.take(8, "weights hash")).hex()
    backend, blen = r.unpack("<BB", "coder backend")
    if blen > MAX_BACKEND_VERSION:
        raise BitstreamError("coder version string too long")
    try:
        bver = bytes(r.take(blen, "coder version")).decode("ascii")
    except UnicodeDecodeError:
        raise BitstreamError("coder version is not ASCII") from None
    q, ndims = r.unpack("<HB", "quality and dims")
    if not 1 <= ndims <= MAX_DIMS:
        raise BitstreamError(f"shape has {ndims} dimensions (limit {MAX_DIMS})")
    shape = r.unpack(f"<{ndims}I", "shape")
    _check_shape(shape)
    (mlen,) = r.unpack("<H", "metadata length")
    if mlen > MAX_METADATA:
        raise BitstreamError("metadata too long")
    raw_meta = bytes(r.take(mlen, "metadata"))
    header_end = r.pos
    (crc,) = r.unpack("<I", "header CRC")
    if zlib.crc32(data[:header_end]) != crc:
        raise BitstreamError("header CRC mismatch (corrupted bitstream)")
    try:
        meta = json.loads(raw_meta.decode("utf-8")) if mlen else {}
    except (UnicodeDecodeError, ValueError):
        raise BitstreamError("metadata is not valid JSON") from None
    if not isinstance(meta, dict):
        raise BitstreamError("metadata is not a JSON object")
    header = Header(name, MODALITIES[modality], sha, backend, bver, q / 100.0, tuple(shape), meta, version)
    return header, r.pos


def unpack(data: bytes) -> tuple[Header, list[bytes]]:
    """Parse a whole ``.ncd`` bitstream into its header and CRC-checked sections."""
    header, pos = unpack_header(data)
    r = _Reader(data)
    r.pos = pos
    (count,) = r.unpack("<H", "section count")
    if count > MAX_SECTIONS:
        raise BitstreamError(f"{count} sections (limit {MAX_SECTIONS})")
    sections = []
    for i in range(count):
        size, crc = r.unpack("<II", f"section {i} header")
        if size > MAX_SECTION_BYTES or r.pos + size > len(data):
            raise BitstreamError(f"section {i} claims {size} bytes beyond the end of the bitstream")
        payload = bytes(r.take(size, f"section {i}"))
        if zlib.crc32(payload) != crc:
            raise BitstreamError(f"section {i} CRC mismatch (corrupted bitstream)")
        sections.append(payload)
    if r.pos != len(data):
        raise BitstreamError(f"{len(data) - r.pos} trailing bytes after the last section")
    return header, sections


@dataclass
class EncodeResult:
    """An image codec's output: the header, the container sections and, for learned codecs, the coded
    integer symbols per tile (for verification; empty for classical codecs)."""

    header: Header
    sections: list[bytes]
    latents: list[dict[str, Any]]
