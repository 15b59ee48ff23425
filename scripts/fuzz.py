"""Acceptance fuzzing: N mutated bitstreams per coder backend through a decoder.

Every case must end in an NcodecError or an output of the declared shape (no other exception, crash
or hang). ``--modality image`` (default) fuzzes the default image codec; ``--modality video`` fuzzes
inr-video streams of the shipped test clip (two groups, so the weight-change path is exercised).
Writes results/fuzz-<backend>.json or results/fuzz-video-<backend>.json.

    .venv/bin/python scripts/fuzz.py --backend constriction --cases 20000
    .venv/bin/python scripts/fuzz.py --modality video --cases 2000
    .venv/bin/python scripts/fuzz.py --codec checkerboard-channel-gmm --weights W.ncw --cases 20000

``--codec`` (with ``--weights`` where the codec ships none) fuzzes another image codec's decoder and
writes results/fuzz-<codec>-<backend>.json. ``--modality pointcloud --codec octree-dense`` fuzzes a
point-cloud decoder with streams of the dense surface of tests/assets/pig.off at 4, 6 and 7 bits.
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


def _video_seeds(clip: Path, backend: str) -> list[bytes]:
    """inr-video streams at two quality levels, 4-frame groups, short fits (the parser is what is fuzzed)."""
    from ncodec.codecs import container
    from ncodec.codecs.video_inr import INRVideoCodec
    from ncodec.codecs.videoio import read_video

    frames = read_video(clip)[:, :48, :72]
    codec = INRVideoCodec()
    out = []
    for q in (1, 2):
        r = codec.compress(frames, quality=q, backend=backend, steps_scale=0.01, group_frames=4)
        out.append(container.pack(r.header, r.sections))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--backend", default="constriction", choices=["constriction", "compressai"])
    p.add_argument("--cases", type=int, default=20000)
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--modality", default="image", choices=["image", "video", "pointcloud"])
    p.add_argument("--codec", default=None, help="image codec to fuzz (default: the default codec)")
    p.add_argument("--weights", default=None, help="its weight file, where it ships none")
    a = p.parse_args()
    assets = ROOT / "tests" / "assets"
    if a.modality == "video":
        seeds = _video_seeds(assets / "cockatoo_96x64_8f.mkv", a.backend)
    elif a.modality == "pointcloud":
        seeds = [api.encode(assets / "pig.off", codec=a.codec or "octree-dense", weights=a.weights, quality=q,
                            backend=a.backend, surface_voxels=True) for q in (4, 6, 7)]
    else:
        seeds = [api.encode(assets / name, codec=a.codec, weights=a.weights, quality=q, backend=a.backend)
                 for name in ("kodim21_64x64.png", "kodim05_96x80.ppm", "kodim15_grey_160x120.png")
                 for q in (1.0, 2.5, 4.0)]
    t0 = time.perf_counter()
    stats = run_campaign(lambda data: api.decode(data, weights=a.weights), seeds, a.cases, a.seed)
    stats.update({"backend": a.backend, "seed": a.seed, "wall_s": time.perf_counter() - t0,
                  "seed_streams": len(seeds), "passed": not stats["failures"]})
    stats["modality"] = a.modality
    if a.codec:
        stats.update({"codec": a.codec, "weights": Path(a.weights).name if a.weights else "shipped"})
    name = f"fuzz-{a.backend}.json" if a.modality == "image" else f"fuzz-video-{a.backend}.json"
    out = ROOT / "results" / (f"fuzz-{a.codec}-{a.backend}.json" if a.codec else name)
    out.write_text(json.dumps(stats, indent=2) + "\n")
    print(f"{a.backend}: {stats['cases']} cases, {stats['errors']} NcodecError, {stats['images']} images, "
          f"{len(stats['failures'])} failures, max {stats['max_case_s']:.2f} s/case, {stats['wall_s']:.0f} s")
    return 0 if stats["passed"] else 1


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
