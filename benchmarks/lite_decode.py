"""Whole-process time of ``ncodec decode`` of kodim23 (768x512, default codec, quality 3) with and
without PyTorch (issue 20 item 3), and whether the pixels are the same.

Runs: the normal CLI (which takes the numpy decoder of codecs/lite.py for these streams even with torch
installed: the same pixels without importing torch), the float synthesis (torch), the CLI in a process
where importing torch fails, and optionally the CLI of a separate environment that has no
torch installed at all (``--python VENV/bin/python``, e.g. a venv with ``pip install -e .``). Medians of
``--repeats`` fresh processes after a warm-up. Writes results/bench-lite-decode.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BLOCK_TORCH = ("import sys; sys.modules['torch'] = None; from ncodec.cli import main; "
               "r = main(sys.argv[1:]); assert 'torch' not in [m.split('.')[0] for m in sys.modules if sys.modules[m]]; "
               "sys.exit(r)")


def timed(cmd: list[str], repeats: int, cwd: str) -> float:
    """Median wall time of fresh processes (run from ``cwd``: not the repository root, whose ncodec/
    folder would shadow an installed package of another environment)."""
    subprocess.run(cmd, check=True, capture_output=True, cwd=cwd)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=cwd)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    from ncodec.codecs.imageio import read_image
    from ncodec.datasets.images import data_root

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", default=str(data_root() / "kodak" / "kodim23.png"))
    p.add_argument("--quality", default="3")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--python", default=None, help="python of an environment without torch (optional)")
    p.add_argument("--out", default=str(ROOT / "results" / "bench-lite-decode.json"))
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stream = Path(tmp) / "x.ncd"
        subprocess.run([sys.executable, "-m", "ncodec", "encode", str(Path(a.image).resolve()), str(stream),
                        "--quality", a.quality], check=True, capture_output=True, cwd=tmp)
        runs = {"torch installed, default (numpy decoder)": [sys.executable, "-m", "ncodec", "decode"],
                "torch installed, --synthesis float": [sys.executable, "-m", "ncodec", "decode", "--synthesis", "float"],
                "torch import blocked (numpy decoder)": [sys.executable, "-c", BLOCK_TORCH, "decode"]}
        if a.python:
            runs["environment without torch"] = [a.python, "-m", "ncodec", "decode"]
        rows, images = {}, {}
        for name, cmd in runs.items():
            out = Path(tmp) / f"{len(rows)}.png"
            full = cmd + [str(stream), str(out), "--force"]
            rows[name] = timed(full, a.repeats, tmp)
            images[name] = read_image(out)
        first = next(iter(images.values()))
        same = all(np.array_equal(first, im) for name, im in images.items() if "float" not in name)
        size = stream.stat().st_size
    result = {"image": Path(a.image).name, "quality": a.quality, "bytes": size, "repeats": a.repeats,
              "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
              "process_s": rows, "identical_pixels": same}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    for name, t in rows.items():
        print(f"{name:42} {t:7.3f} s")
    print(f"identical pixels (integer paths): {same}; wrote {a.out}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
