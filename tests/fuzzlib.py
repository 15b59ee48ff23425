"""Structure-aware bitstream mutation for fuzzing the decoder (used by tests and scripts/fuzz.py).

Most mutations re-pack the stream with recomputed CRCs so that the payload parsers (coders, escape
decoder, latent checks, tile layout) are reached rather than stopped at a CRC check.
"""

from __future__ import annotations

import json
import random
import struct
import time
import zlib
from typing import Any, Callable

import numpy as np

from ncodec.codecs import container
from ncodec.errors import NcodecError


def raw_pack(f: dict[str, Any], sections: list[bytes]) -> bytes:
    """Serialise header fields as given (no validation), with correct CRCs."""
    name = f["name"]
    meta = f["meta"]
    body = bytearray(container.MAGIC)
    body += struct.pack("<BB", f["version"] & 0xFF, f["modality"] & 0xFF)
    body += struct.pack("<B", len(name) & 0xFF) + name + f["sha"]
    body += struct.pack("<BB", f["backend"] & 0xFF, len(f["bver"]) & 0xFF) + f["bver"]
    body += struct.pack("<HB", f["quality"] & 0xFFFF, len(f["shape"]) & 0xFF)
    body += b"".join(struct.pack("<I", d & 0xFFFFFFFF) for d in f["shape"])
    body += struct.pack("<H", len(meta) & 0xFFFF) + meta
    body += struct.pack("<I", zlib.crc32(body))
    body += struct.pack("<H", len(sections) & 0xFFFF)
    for s in sections:
        body += struct.pack("<II", len(s), zlib.crc32(s)) + s
    return bytes(body)


def fields_of(data: bytes) -> tuple[dict[str, Any], list[bytes]]:
    h, sections = container.unpack(data)
    meta = json.dumps(h.metadata, sort_keys=True, separators=(",", ":")).encode()
    return ({"version": h.version, "modality": container.MODALITY_IDS[h.modality], "name": h.codec.encode(),
             "sha": bytes.fromhex(h.weights_sha256), "backend": h.backend, "bver": h.backend_version.encode(),
             "quality": int(round(h.quality * 100)), "shape": list(h.shape), "meta": meta}, sections)


def _mutate_bytes(rng: random.Random, b: bytes) -> bytes:
    b = bytearray(b)
    op = rng.randrange(5)
    if op == 0 and b:  # bit flips
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif op == 1 and b:  # truncation
        del b[rng.randrange(len(b)):]
    elif op == 2:  # appended bytes
        b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif op == 3:  # random bytes of similar length
        b = bytearray(rng.randrange(256) for _ in range(rng.randint(0, max(8, 2 * len(b)))))
    elif b:  # overwrite a run with one value
        i = rng.randrange(len(b))
        v = rng.choice([0, 0xFF, rng.randrange(256)])
        for j in range(i, min(len(b), i + rng.randint(1, 16))):
            b[j] = v
    return bytes(b)


def mutate(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """One mutated variant of a valid bitstream and the name of the mutation."""
    f, sections = fields_of(data)
    kind = rng.choices(["section", "section", "section", "header", "raw", "random", "sections"],
                       k=1)[0]
    if kind == "section" and sections:
        i = rng.randrange(len(sections))
        sections = list(sections)
        sections[i] = _mutate_bytes(rng, sections[i])
        return f"section{i}", raw_pack(f, sections)
    if kind == "sections":
        sections = list(sections)
        op = rng.randrange(3)
        if op == 0 and sections:
            sections.pop(rng.randrange(len(sections)))
        elif op == 1:
            sections.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 40))))
        else:
            rng.shuffle(sections)
        return "section-list", raw_pack(f, sections)
    if kind == "header":
        field = rng.choice(["shape", "shape", "quality", "meta", "name", "sha", "backend", "version",
                            "modality", "ndims"])
        if field == "shape":
            i = rng.randrange(len(f["shape"]))
            f["shape"][i] = rng.choice([0, 1, 2, 3, rng.randint(1, 300), rng.randint(1, 1100), 100000, 2**32 - 1])
        elif field == "ndims":
            f["shape"] = f["shape"][: rng.randint(0, 3)] + [rng.randint(1, 64)] * rng.randint(0, 2)
        elif field == "quality":
            f["quality"] = rng.choice([0, 99, 100, 150, 400, 401, 65535, rng.randrange(65536)])
        elif field == "meta":
            f["meta"] = rng.choice([b"", b"{}", b"[]", b'{"tile":0}', b'{"tile":63}', b'{"tile":-64}',
                                    b'{"tile":true}', b'{"tile":1e308}', b'{"tile":"1024"}', b"\xff\xfe",
                                    b'{"tile":64}', b'{"tile":4096}', b"null", _mutate_bytes(rng, f["meta"])])
        elif field == "name":
            f["name"] = rng.choice([b"factorized", b"hyperprior", b"jpeg", b"webp", b"x", b"\xff", b"", b"a" * 70])
        elif field == "sha":
            f["sha"] = bytes(rng.randrange(256) for _ in range(8))
        elif field == "backend":
            f["backend"] = rng.choice([0, 1, 2, 3, 255])
        elif field == "version":
            f["version"] = rng.choice([0, 2, 255])
        else:
            f["modality"] = rng.choice([0, 2, 3, 9])
        return f"header-{field}", raw_pack(f, sections)
    if kind == "raw":  # byte-level damage without fixing CRCs: must be caught by the checks
        return "raw", _mutate_bytes(rng, data)
    return "random", bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))


def run_campaign(decode: Callable[[bytes], np.ndarray], seeds: list[bytes], cases: int, seed: int,
                 time_limit_s: float = 20.0) -> dict[str, Any]:
    """Decode ``cases`` mutants; every outcome must be an NcodecError or an image (or video) of the
    declared shape, or for point clouds finite (N, 3) positions."""
    rng = random.Random(seed)
    stats: dict[str, Any] = {"cases": 0, "errors": 0, "images": 0, "failures": [], "max_case_s": 0.0}
    for n in range(cases):
        kind, data = mutate(rng, rng.choice(seeds))
        t0 = time.perf_counter()
        try:
            out = decode(data)
            header, _ = container.unpack(data)
            if header.modality == "pointcloud":  # positions (N, 3), finite
                ok = isinstance(out, np.ndarray) and out.ndim == 2 and out.shape[1] == 3 and bool(np.isfinite(out).all())
            else:
                if header.modality == "video":
                    expected = tuple(header.shape)  # (T, H, W, 3)
                else:
                    c, h, w = header.shape
                    expected = (h, w) if c == 1 else (h, w, 3)
                ok = isinstance(out, np.ndarray) and out.shape == expected and out.dtype == np.uint8
            if not ok:
                stats["failures"].append(f"case {n} ({kind}): wrong output {getattr(out, 'shape', type(out))}")
            else:
                stats["images"] += 1
        except NcodecError:
            stats["errors"] += 1
        except BaseException as exc:  # noqa: BLE001 - anything else is a finding
            if isinstance(exc, KeyboardInterrupt):
                raise
            stats["failures"].append(f"case {n} ({kind}): {type(exc).__name__}: {exc}"[:300])
        dt = time.perf_counter() - t0
        stats["max_case_s"] = max(stats["max_case_s"], dt)
        if dt > time_limit_s:
            stats["failures"].append(f"case {n} ({kind}): took {dt:.1f} s")
        stats["cases"] += 1
    return stats
