"""Decode time of a 768x512 image for each learned image family, side by side in one process.

kodim23 at a middle rate point of each codec, the bitstream decoded from memory ``--repeats`` times
after a warm-up (parse, entropy decoding, synthesis), median reported, torch threads as given. Each
codec decodes as ``ncodec decode`` does by default (the integer synthesis where its weights ship one),
and, where that is the integer synthesis, also through its float synthesis. ``--mcq-weights`` times
another mcq weight file than the shipped one. Writes results/bench-decode-families.json and prints a
table.

    python benchmarks/decode_families.py [--mcq-weights runs/mcq/model.ncw] [--threads 2] [--repeats 9]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    from ncodec.codecs import container
    from ncodec.codecs.imageio import atomic_write_bytes, read_image
    from ncodec.codecs.registry import load_codec
    from ncodec.datasets.images import data_root
    from speed import cpu_model  # benchmarks/speed.py, beside this script

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default=str(data_root() / "kodak" / "kodim23.png"))
    p.add_argument("--mcq-weights", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    image = read_image(a.image)
    cases = [("mean-scale-hyperprior", None, 3.0), ("checkerboard-channel", None, 3.0),
             ("checkerboard-channel-gmm", None, 3.0), ("mcq", a.mcq_weights, 3.0)]
    rows = []
    for name, weights, q in cases:
        codec = load_codec(name, weights)
        enc = codec.compress(image, quality=q)
        header, sections = container.unpack(container.pack(enc.header, enc.sections))
        default = codec.synthesis_path("auto", 0.0, None)
        bpp = 8 * sum(len(s) for s in enc.sections) / (image.shape[0] * image.shape[1])
        for synthesis in dict.fromkeys([default, "float"]):
            codec.decompress(header, sections, synthesis=synthesis)  # warm-up
            times = []
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                codec.decompress(header, sections, synthesis=synthesis)
                times.append(time.perf_counter() - t0)
            rows.append({"codec": name, "quality": q, "bpp": round(bpp, 4), "synthesis": synthesis,
                         "default": synthesis == default, "decode_s": round(statistics.median(times), 4)})
            print(f"{name:<26} q={q:g} {bpp:.4f} bpp  {synthesis:<7}{' (default)' if synthesis == default else '          '}"
                  f"  decode {rows[-1]['decode_s']:.3f} s", flush=True)
    doc = {"image": Path(a.image).name, "threads": a.threads, "repeats": a.repeats, "results": rows,
           "machine": f"{platform.machine()} {cpu_model()}".strip(), "torch": torch.__version__}
    out = ROOT / "results" / "bench-decode-families.json"
    atomic_write_bytes(out, (json.dumps(doc, indent=1) + "\n").encode())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
