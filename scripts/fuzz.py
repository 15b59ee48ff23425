"""Acceptance fuzzing: N mutated bitstreams per coder backend through the default codec's decoder.

Every case must end in an NcodecError or an image of the declared shape (no other exception, crash
or hang). Writes results/fuzz-<backend>.json.

    .venv/bin/python scripts/fuzz.py --backend constriction --cases 20000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fuzzlib import run_campaign  # noqa: E402

from ncodec import api  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--backend", default="constriction", choices=["constriction", "compressai"])
    p.add_argument("--cases", type=int, default=20000)
    p.add_argument("--seed", type=int, default=12345)
    a = p.parse_args()
    assets = ROOT / "tests" / "assets"
    seeds = [api.encode(assets / name, quality=q, backend=a.backend)
             for name in ("kodim21_64x64.png", "kodim05_96x80.ppm", "kodim15_grey_160x120.png")
             for q in (1.0, 2.5, 4.0)]
    t0 = time.perf_counter()
    stats = run_campaign(lambda data: api.decode(data), seeds, a.cases, a.seed)
    stats.update({"backend": a.backend, "seed": a.seed, "wall_s": time.perf_counter() - t0,
                  "seed_streams": len(seeds), "passed": not stats["failures"]})
    out = ROOT / "results" / f"fuzz-{a.backend}.json"
    out.write_text(json.dumps(stats, indent=2) + "\n")
    print(f"{a.backend}: {stats['cases']} cases, {stats['errors']} NcodecError, {stats['images']} images, "
          f"{len(stats['failures'])} failures, max {stats['max_case_s']:.2f} s/case, {stats['wall_s']:.0f} s")
    return 0 if stats["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
