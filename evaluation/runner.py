"""``ncodec eval``: real encode -> container -> decode of every image of a folder at several qualities.

The rate is the size of the real ``.ncd`` file. The output JSON keeps CompressAI's layout
(``name``, ``description``, ``results`` with one list per metric, averaged over images, one entry
per quality) and adds ``per_image`` records, ``qualities`` and machine/version information. Runs are
resumable: (image, quality) pairs already in the output file are not coded again.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ncodec.codecs import container
from ncodec.codecs.imageio import atomic_write_bytes, read_image
from ncodec.codecs.registry import load_codec
from ncodec.datasets.images import list_images
from ncodec.errors import UnsupportedInputError
from ncodec.evaluation.metrics import ms_ssim_rgb, psnr_rgb, psnr_y, to_db

SCHEMA = "ncodec-eval/1"


def _aggregate(records: list[dict[str, Any]], qualities: list[float]) -> dict[str, list[float | None]]:
    keys = ("bpp", "psnr-rgb", "psnr-y", "ms-ssim-rgb", "ms-ssim-rgb-db", "encoding_time", "decoding_time")
    out: dict[str, list[float | None]] = {k: [] for k in keys}
    for q in qualities:
        rows = [r for r in records if r["quality"] == q]
        for k in keys:
            vals = [r[k] for r in rows if r.get(k) is not None]
            out[k].append(float(np.mean(vals)) if vals and len(vals) == len(rows) else None)
    return out


def run_eval(folder: str | os.PathLike[str], codec_name: str, qualities: list[float], out_path: str | os.PathLike[str],
             weights: str | None = None, backend: str = "constriction", progress: bool = True) -> dict[str, Any]:
    """Evaluate ``codec_name`` on every image of ``folder``; writes (and returns) the result JSON."""
    files = list_images(folder)
    codec = load_codec(codec_name, weights)
    out = Path(out_path)
    records: list[dict[str, Any]] = []
    if out.exists():
        try:
            prev = json.loads(out.read_text())
        except ValueError:
            raise UnsupportedInputError(f"{out} exists but is not a result file (remove it or choose another)") from None
        if prev.get("schema") != SCHEMA or prev.get("codec") != codec_name or prev.get("weights_sha256") != codec.sha256:
            raise UnsupportedInputError(f"{out} holds results of another codec or weights; choose another output")
        records = list(prev.get("per_image", []))
    done = {(r["image"], r["quality"]) for r in records}
    pending = [(f, q) for q in qualities for f in files if (f.name, q) not in done]
    bar = None
    if progress and pending:
        from tqdm import tqdm

        bar = tqdm(total=len(pending), unit="img", desc=f"eval {codec_name}")
    images: dict[Path, np.ndarray] = {}
    for f, q in pending:
        img = images.setdefault(f, read_image(f))
        t0 = time.perf_counter()
        enc = codec.compress(img, quality=q, backend=backend)
        data = container.pack(enc.header, enc.sections)
        t1 = time.perf_counter()
        header, sections = container.unpack(data)
        rec = codec.decompress(header, sections)
        t2 = time.perf_counter()
        pixels = img.shape[0] * img.shape[1]
        ms = ms_ssim_rgb(img, rec)
        records.append({"image": f.name, "quality": q, "bytes": len(data),
                        "payload_bytes": sum(len(s) for s in enc.sections), "bpp": 8 * len(data) / pixels,
                        "psnr-rgb": psnr_rgb(img, rec), "psnr-y": psnr_y(img, rec), "ms-ssim-rgb": ms,
                        "ms-ssim-rgb-db": None if ms is None else to_db(ms),
                        "encoding_time": t1 - t0, "decoding_time": t2 - t1})
        if bar is not None:
            bar.update(1)
        _write(out, codec_name, codec.sha256, folder, qualities, records)
    if bar is not None:
        bar.close()
    return _write(out, codec_name, codec.sha256, folder, qualities, records)


def _write(out: Path, codec_name: str, sha: str, folder, qualities: list[float],
           records: list[dict[str, Any]]) -> dict[str, Any]:
    from ncodec import __version__

    doc = {"schema": SCHEMA, "name": codec_name, "codec": codec_name, "weights_sha256": sha,
           "description": f"ncodec {__version__} eval of {codec_name} on {Path(folder).name}: real .ncd sizes",
           "dataset": str(folder), "qualities": qualities,
           "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                       "torch": torch.__version__, "threads": torch.get_num_threads()},
           "results": _aggregate(records, qualities), "per_image": records}
    atomic_write_bytes(out, (json.dumps(doc, indent=1) + "\n").encode())
    return doc
