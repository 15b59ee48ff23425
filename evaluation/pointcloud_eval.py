"""``ncodec eval`` for point-cloud codecs: every 3D file of a folder at every bit depth.

Each file is coded to a real bitstream and decoded; rate is bits per input point, distortion D1/D2
PSNR against the input points (peak: the file's bounding-cube side) and Chamfer distance. The JSON has
the layout of image evaluations (``results`` lists per quality, averaged over files, plus per-item
records), with ``bits_per_point`` in place of ``bpp``, so ``ncodec plot`` and ``ncodec bdrate`` take it.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ncodec.errors import UnsupportedInputError

DEFAULT_DEPTHS = [8, 9, 10, 11, 12, 13, 14]
METRICS = ("bits_per_point", "d1_psnr", "d2_psnr", "chamfer")


def point_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The 3D files of a folder, or a single 3D file."""
    from ncodec.codecs.pointio import POINT_SUFFIXES

    root = Path(folder)
    if root.is_file() and root.suffix.lower() in POINT_SUFFIXES:
        return [root]
    if not root.is_dir():
        raise UnsupportedInputError(f"3D file or folder not found: {root}")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in POINT_SUFFIXES)
    if not files:
        raise UnsupportedInputError(f"no 3D files ({', '.join(sorted(POINT_SUFFIXES))}) in {root}")
    return files


def run_pointcloud_eval(folder: str | os.PathLike[str], codec_name: str, depths: list[float] | None,
                        output: str | os.PathLike[str], weights: str | None = None,
                        backend: str = "constriction", progress: bool = True) -> dict[str, Any]:
    """Evaluate a point-cloud codec on a folder; writes and returns the result document.
    ``progress`` shows a bar on stderr over the (file, bit depth) runs."""
    from ncodec.codecs import container
    from ncodec.codecs.imageio import atomic_write_bytes
    from ncodec.codecs.pointio import read_points
    from ncodec.codecs.registry import load_codec
    from ncodec.evaluation.metrics3d import estimate_normals, geometry_metrics

    files = point_files(folder)
    depths = [int(d) for d in (depths or DEFAULT_DEPTHS)]
    codec = load_codec(codec_name, weights)
    items = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(files) * len(depths), unit="run", desc=f"eval {codec_name}", file=sys.stderr,
                   dynamic_ncols=True)
    try:
        for path in files:
            if bar is not None:
                bar.set_postfix_str(path.name)
            cloud = read_points(path)
            normals = cloud.normals if cloud.normals is not None else estimate_normals(cloud.points)
            for bits in depths:
                t0 = time.perf_counter()
                enc = codec.compress(cloud, quality=bits, backend=backend, color_step=0)
                data = container.pack(enc.header, enc.sections)
                t1 = time.perf_counter()
                header, sections = container.unpack(data)
                decoded = codec.decompress(header, sections).positions()
                t2 = time.perf_counter()
                m = geometry_metrics(cloud.points, decoded, enc.voxels.side, original_normals=normals)
                items.append({"file": path.name, "bits": bits, "points": len(cloud), "bytes": len(data),
                              "bits_per_point": 8 * len(data) / len(cloud), "encode_s": t1 - t0, "decode_s": t2 - t1,
                              **{k: m[k] for k in ("d1_psnr", "d2_psnr", "chamfer", "d1_mse")}})
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    results = {k: [_mean([r[k] for r in items if r["bits"] == b]) for b in depths] for k in METRICS}
    doc = {"name": codec_name, "description": f"{codec_name} on {Path(folder).name} ({len(files)} files)",
           "modality": "pointcloud", "qualities": depths, "results": results, "per_item": items,
           "note": ("rate: bits per input point; D1/D2 PSNR = 10 log10(3 peak^2 / max MSE of both directions), "
                    "peak = each file's bounding-cube side; averages over files"),
           "machine": {"platform": platform.platform()}}
    atomic_write_bytes(output, (json.dumps(doc, indent=1) + "\n").encode())
    return doc


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else None
