"""Acceptance: decoded latents (or code indices) equal the encoder's on every Kodak image at every rate
point, and 1 vs 2 torch threads write identical bytes (issue 16).

For each image and quality: encode with 2 threads, encode again with 1 thread (the bytes must be equal),
pack, unpack and decode the integer latents (they must equal the encoder's), all through the real
coder. Writes results/latent-exactness-<codec>.json and prints one line per codec.

    python scripts/latent_exactness.py --codec checkerboard-channel-gmm [--weights W.ncw] [--qualities 1,2,3,4]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    from ncodec.codecs import container
    from ncodec.codecs.imageio import atomic_write_bytes, read_image
    from ncodec.codecs.registry import load_codec
    from ncodec.datasets.catalog import dataset_files

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--codec", required=True)
    p.add_argument("--weights", default=None)
    p.add_argument("--qualities", default="1,2,3,4")
    p.add_argument("--backend", default="constriction")
    p.add_argument("--limit", type=int, default=0, help="first N images only (0: all 24)")
    a = p.parse_args()
    codec = load_codec(a.codec, a.weights)
    qualities = [float(q) for q in a.qualities.split(",")]
    for q in qualities:
        codec.check_quality(q)
    files = dataset_files("kodak")[: a.limit or None]
    cases, mismatched_latents, mismatched_bytes = 0, [], []
    t0 = time.perf_counter()
    for f in files:
        image = read_image(f)
        for q in qualities:
            torch.set_num_threads(2)
            enc = codec.compress(image, quality=q, backend=a.backend)
            torch.set_num_threads(1)
            one = codec.compress(image, quality=q, backend=a.backend)
            torch.set_num_threads(2)
            if one.sections != enc.sections:
                mismatched_bytes.append(f"{f.name}@{q:g}")
            header, sections = container.unpack(container.pack(enc.header, enc.sections))
            decoded, _, _ = codec.decompress_latents(header, sections)
            same = all(np.array_equal(d[k], e[k]) for d, e in zip(decoded, enc.latents) for k in e)
            if not same:
                mismatched_latents.append(f"{f.name}@{q:g}")
            cases += 1
    doc = {"codec": a.codec, "weights_sha256": codec.sha256, "backend": a.backend, "images": len(files),
           "qualities": qualities, "cases": cases, "latents_exact": cases - len(mismatched_latents),
           "bytes_equal_1_vs_2_threads": cases - len(mismatched_bytes),
           "mismatched_latents": mismatched_latents, "mismatched_bytes": mismatched_bytes,
           "wall_s": round(time.perf_counter() - t0, 1),
           "machine": f"{platform.machine()} {platform.processor()}".strip()}
    out = ROOT / "results" / f"latent-exactness-{a.codec}.json"
    atomic_write_bytes(out, (json.dumps(doc, indent=1) + "\n").encode())
    print(f"{a.codec}: {doc['latents_exact']}/{cases} exact latents, {doc['bytes_equal_1_vs_2_threads']}/{cases} "
          f"identical bytes at 1 vs 2 threads ({doc['wall_s']} s) -> {out}")
    return 0 if not mismatched_latents and not mismatched_bytes else 1


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
