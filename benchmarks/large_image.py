"""Peak memory and time to encode and decode a 4000x3000 photo with the default codec (tiled).

The photo is a real training photograph upscaled to 4000x3000 (bicubic), so the content is natural.
Peak resident memory is read from the kernel (ru_maxrss) of a fresh child process per step.
Writes results/bench-large-image.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_GIB = 4.0

CHILD = r"""
import resource, sys, time
import ncodec
t0 = time.perf_counter()
if sys.argv[1] == "encode":
    ncodec.encode(sys.argv[2], sys.argv[3], force=True)
else:
    ncodec.decode(sys.argv[2], sys.argv[3], force=True)
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def main() -> int:
    from PIL import Image

    from ncodec.datasets.images import data_root, list_images

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--source", default=None, help="image to upscale (default: first photos-train image)")
    p.add_argument("--out", default=str(ROOT / "results" / "bench-large-image.json"))
    a = p.parse_args()
    src = Path(a.source) if a.source else list_images(data_root() / "photos-train")[0]
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.png"
        Image.open(src).convert("RGB").resize((4000, 3000), Image.BICUBIC).save(big)
        steps = {}
        for step, args in (("encode", [str(big), str(Path(tmp) / "big.ncd")]),
                           ("decode", [str(Path(tmp) / "big.ncd"), str(Path(tmp) / "dec.png")])):
            r = subprocess.run([sys.executable, "-c", CHILD, step, *args], capture_output=True, text=True)
            if r.returncode:
                print(r.stderr, file=sys.stderr)
                return 1
            secs, rss_kib = r.stdout.split()[-2:]
            steps[step] = {"seconds": float(secs), "peak_rss_gib": int(rss_kib) / 2**20}
        size = (Path(tmp) / "big.ncd").stat().st_size
    result = {"source": src.name, "size": [4000, 3000], "bytes": size, "bpp": 8 * size / 12e6, **steps,
              "limit_gib": LIMIT_GIB,
              "within_limit": all(s["peak_rss_gib"] <= LIMIT_GIB for s in steps.values())}
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    for k in ("encode", "decode"):
        print(f"{k}: {steps[k]['seconds']:.1f} s, peak RSS {steps[k]['peak_rss_gib']:.2f} GiB")
    print(f"wrote {a.out}")
    return 0 if result["within_limit"] else 1


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
