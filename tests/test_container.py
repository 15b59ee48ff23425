"""The .ncd container: round trip, CRCs and limits checked before allocation."""

from __future__ import annotations

import struct
import zlib

import pytest

from ncodec.codecs import container
from ncodec.codecs.container import Header
from ncodec.errors import BitstreamError, ModelMismatchError


def _header(**kw) -> Header:
    base = dict(codec="mean-scale-hyperprior", modality="image", weights_sha256="0123456789abcdef",
                backend=1, backend_version="0.5.0", quality=2.5, shape=(3, 512, 768), metadata={"tile": 1024})
    base.update(kw)
    return Header(**base)


def test_round_trip():
    sections = [b"abc", b"", bytes(range(256)) * 10]
    data = container.pack(_header(), sections)
    header, out = container.unpack(data)
    assert out == sections
    assert header == _header()


def _forge_shape(data: bytes, shape: tuple[int, ...]) -> bytes:
    """Rewrite the shape field and recompute the header CRC (a forged but CRC-valid header)."""
    name_len = data[6]
    pos = 7 + name_len + 8
    pos += 2 + data[pos + 1]
    ndims = data[pos + 2]
    start = pos + 3
    end = start + 4 * ndims
    rest = data[end:]
    mlen = struct.unpack_from("<H", rest, 0)[0]
    meta = rest[: 2 + mlen]
    head = data[:pos + 2] + struct.pack("<B", len(shape)) + struct.pack(f"<{len(shape)}I", *shape) + meta
    tail = rest[2 + mlen + 4:]
    return head + struct.pack("<I", zlib.crc32(head)) + tail


@pytest.mark.parametrize("shape", [(3, 100000, 100000), (3, 0, 5), (3, 70000, 2), (3,) * 9])
def test_shape_limits(shape):
    data = container.pack(_header(), [b"x"])
    with pytest.raises(BitstreamError):
        container.unpack(_forge_shape(data, shape))


def test_every_truncation_and_corruption_is_a_bitstream_error():
    data = container.pack(_header(), [b"hello", b"world" * 7])
    for n in range(len(data)):
        with pytest.raises(BitstreamError):
            container.unpack(data[:n])
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x10
        with pytest.raises((BitstreamError, ModelMismatchError)):
            container.unpack(bytes(bad))
    with pytest.raises(BitstreamError):
        container.unpack(data + b"\0")


def test_section_size_checked_before_reading():
    data = container.pack(_header(), [b"abc"])
    bad = bytearray(data)
    # the first section's size field sits 3 + 8 bytes before the end
    struct.pack_into("<I", bad, len(data) - 3 - 8, 0xFFFFFFF0)
    with pytest.raises(BitstreamError, match="beyond the end"):
        container.unpack(bytes(bad))


def test_unknown_version_is_a_model_mismatch():
    data = bytearray(container.pack(_header(), []))
    data[4] = 99
    with pytest.raises(ModelMismatchError):
        container.unpack(bytes(data))
