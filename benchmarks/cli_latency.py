"""Wall time of whole ``ncodec`` processes as a user runs them, next to the tools users already know.

Each command is a fresh process (interpreter start, imports, work, exit), run ``--repeats`` times after
one warm-up run; the median is reported. Commands: ``ncodec --help``, ``models``, ``info``, ``bdrate``,
``plot``, ``encode``/``decode`` of kodim23 with the default learned codec and with ``jpeg``, and as the
users' habit Pillow one-liners (JPEG at quality 75 and PNG decode) and ``cjxl``/``djxl`` when installed.
Writes results/bench-cli-latency.json and prints a table. Run it with nothing else busy.

    python benchmarks/cli_latency.py [--image PATH] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 0.5  # issue 15: --help, info and the classical paths answer in under half a second


def _data_root() -> Path:
    env = os.environ.get("NCODEC_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def _time(argv: list[str], cwd: Path, repeats: int) -> float:
    """Median wall time of ``argv`` as a fresh process (after one warm-up); raises if it fails."""
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {(r.stderr or r.stdout).strip()[-300:]}")
        if i:
            times.append(elapsed)
    return statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default=None, help="image to code (default: Kodak kodim23 from the data root)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--output", default=str(ROOT / "results" / "bench-cli-latency.json"))
    a = p.parse_args()
    from ncodec.errors import UnsupportedInputError

    image = Path(a.image) if a.image else _data_root() / "kodak" / "kodim23.png"
    if not image.is_file():
        raise UnsupportedInputError(f"image not found: {image} (set NCODEC_DATA or give --image)")
    ncodec = str(Path(sys.executable).parent / "ncodec")
    py = sys.executable
    jpeg_cmd = "from PIL import Image; import sys; Image.open(sys.argv[1]).save(sys.argv[2], quality=75)"
    png_cmd = "from PIL import Image; import sys; Image.open(sys.argv[1]).save(sys.argv[2])"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = work / image.name
        shutil.copyfile(image, src)
        rows: list[tuple[str, str, list[str]]] = [
            ("ncodec", "ncodec --help", [ncodec, "--help"]),
            ("ncodec", "ncodec models", [ncodec, "models"]),
            ("ncodec", "ncodec encode (jpeg, quality 75)", [ncodec, "encode", src.name, "j.ncd", "--codec", "jpeg",
                                                          "--quality", "75", "--force"]),
            ("ncodec", "ncodec decode (jpeg)", [ncodec, "decode", "j.ncd", "j.png", "--force"]),
            ("ncodec", "ncodec info", [ncodec, "info", "j.ncd"]),
            ("ncodec", "ncodec encode (default mean-scale-hyperprior, quality 4)",
             [ncodec, "encode", src.name, "m.ncd", "--quality", "4", "--force"]),
            ("ncodec", "ncodec decode (default mean-scale-hyperprior)", [ncodec, "decode", "m.ncd", "m.png", "--force"]),
            ("ncodec", "ncodec bdrate (two Kodak result files)",
             [ncodec, "bdrate", "anchor:kodak/vtm", str(ROOT / "results" / "kodak" / "jpeg.json")]),
            ("ncodec", "ncodec plot (two Kodak result files)",
             [ncodec, "plot", str(ROOT / "results" / "kodak" / "jpeg.json"), "-o", "rd.png"]),
            ("habit", "python -c Pillow: PNG -> JPEG quality 75", [py, "-c", jpeg_cmd, src.name, "p.jpg"]),
            ("habit", "python -c Pillow: JPEG -> PNG", [py, "-c", png_cmd, "p.jpg", "p.png"]),
        ]
        if shutil.which("cjxl") and shutil.which("djxl"):
            rows += [("habit", "cjxl -q 75 (libjxl)", ["cjxl", "-q", "75", src.name, "c.jxl", "--quiet"]),
                     ("habit", "djxl (libjxl)", ["djxl", "c.jxl", "c.png"])]
        results = []
        for kind, label, argv in rows:
            seconds = _time(argv, work, a.repeats)
            results.append({"kind": kind, "command": label, "median_s": round(seconds, 4)})
            print(f"{label:<58} {seconds:7.3f} s", flush=True)
    doc = {"image": image.name, "repeats": a.repeats, "goal_s": GOAL_S,
           "machine": f"{platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
                      f"Python {platform.python_version()}".strip(),
           "results": results}
    from ncodec.codecs.imageio import atomic_write_bytes

    atomic_write_bytes(a.output, (json.dumps(doc, indent=1) + "\n").encode())
    print(f"wrote {a.output}")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
