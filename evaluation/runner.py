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
from ncodec.entropy.ledger import RateLedger
from ncodec.errors import UnsupportedInputError
from ncodec.evaluation.metrics import ms_ssim_rgb, psnr_rgb, psnr_y, to_db

SCHEMA = "ncodec-eval/1"


def _aggregate(records: list[dict[str, Any]], qualities: list[float]) -> dict[str, list[float | None]]:
    keys = ("bpp", "psnr-rgb", "psnr-y", "ms-ssim-rgb", "ms-ssim-rgb-db", "encoding_time", "decoding_time",
            "estimated_bpp", "psnr-yuv-y", "psnr-yuv-u", "psnr-yuv-v")
    out: dict[str, list[float | None]] = {k: [] for k in keys}
    for q in qualities:
        rows = [r for r in records if r["quality"] == q]
        for k in keys:
            vals = [r[k] for r in rows if r.get(k) is not None]
            out[k].append(float(np.mean(vals)) if vals and len(vals) == len(rows) else None)
    for k in ("estimated_bpp", "psnr-yuv-y", "psnr-yuv-u", "psnr-yuv-v"):
        if all(r.get(k) is None for r in records):  # classical codecs: no estimate; RGB files: no YUV planes
            del out[k]
    return out


RATE_GAP_WARNING = 0.05  # |real / estimated - 1| above this on an image is reported


def rate_gap_summary(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Totals over every record with an estimate: estimated and real bits, the gap, its parts (bytes)
    and the images whose gap exceeds ``RATE_GAP_WARNING``; None without estimates."""
    rows = [r for r in records if r.get("estimated_bits") is not None]
    if not rows:
        return None
    estimated = sum(r["estimated_bits"] for r in rows)
    real = sum(8 * r["bytes"] for r in rows)
    parts = {k: sum(r["gap_bytes"][k] for r in rows) for k in rows[0]["gap_bytes"]}
    over = [f"{r['image']}@{r['quality']:g}" for r in rows if r["rate_gap"] is not None
            and abs(r["rate_gap"]) > RATE_GAP_WARNING]
    return {"estimated_bits": estimated, "real_bits": real, "gap": real / estimated - 1.0,
            "gap_bytes": parts, "threshold": RATE_GAP_WARNING, "over_threshold": over}


def default_qualities(codec: Any) -> list[float]:
    """The codec's evaluation grid: every trained level of a learned codec, a classical codec's grid."""
    grid = getattr(codec, "eval_qualities", None)
    return [float(q) for q in (grid if grid is not None else range(1, codec.levels + 1))]


def code_image(codec: Any, img: np.ndarray, quality: float, backend: str,
               decode_options: dict[str, Any] | None = None) -> tuple[dict[str, Any], np.ndarray]:
    """One real encode -> ``.ncd`` bytes -> decode of one image: (record with metrics and times, decoded
    image). ``decode_options`` go to the decoder (e.g. a realism R and its generator)."""
    learned = hasattr(codec, "estimate_bits")
    ledger = RateLedger() if learned else None
    t0 = time.perf_counter()
    enc = (codec.compress(img, quality=quality, backend=backend, ledger=ledger) if learned
           else codec.compress(img, quality=quality, backend=backend))
    data = container.pack(enc.header, enc.sections)
    t1 = time.perf_counter()
    header, sections = container.unpack(data)
    rec = codec.decompress(header, sections, **(decode_options or {}))
    t2 = time.perf_counter()
    pixels = img.shape[0] * img.shape[1]
    exact = bool(np.array_equal(img, rec))
    ms = None if exact else ms_ssim_rgb(img, rec)
    return {"quality": quality, "bytes": len(data),
            "payload_bytes": sum(len(s) for s in enc.sections), "bpp": 8 * len(data) / pixels, "exact": exact,
            # A lossless result has no finite PSNR; it is null (and "exact": true), never Infinity.
            "psnr-rgb": None if exact else psnr_rgb(img, rec), "psnr-y": None if exact else psnr_y(img, rec),
            "ms-ssim-rgb": 1.0 if exact else ms, "ms-ssim-rgb-db": None if exact or ms is None else to_db(ms),
            "encoding_time": t1 - t0, "decoding_time": t2 - t1,
            **(rate_breakdown(codec, img, quality, enc, data, ledger) if ledger is not None else {})}, rec


def code_for_task(codec: Any, img: np.ndarray, quality: float, backend: str) -> tuple[dict[str, Any], np.ndarray]:
    """``code_image`` for a task codec, whose stream decodes to labels (one per tile), not pixels: the
    record has the rate and times and no pixel metrics."""
    t0 = time.perf_counter()
    enc = codec.compress(img, quality=quality, backend=backend)
    data = container.pack(enc.header, enc.sections)
    t1 = time.perf_counter()
    header, sections = container.unpack(data)
    labels = codec.decompress(header, sections)
    t2 = time.perf_counter()
    return {"quality": quality, "bytes": len(data), "payload_bytes": sum(len(s) for s in enc.sections),
            "bpp": 8 * len(data) / (img.shape[0] * img.shape[1]), "exact": False, "psnr-rgb": None,
            "psnr-y": None, "encoding_time": t1 - t0, "decoding_time": t2 - t1}, labels


def rate_breakdown(codec: Any, img: np.ndarray, quality: float, enc: Any, data: bytes,
                   ledger: RateLedger) -> dict[str, Any]:
    """Estimated vs real rate of one learned encode: the model's -log2 p (``estimate_bits``), the ideal
    code length under the integer tables, and the bytes of escapes, coder overhead, latent-codec
    framing inside the sections and the container (header + section table)."""
    estimated = codec.estimate_bits(img, quality)
    pixels = img.shape[0] * img.shape[1]
    section_bytes = sum(len(s) for s in enc.sections)
    return {"estimated_bits": estimated, "estimated_bpp": estimated / pixels,
            "rate_gap": 8 * len(data) / estimated - 1.0 if estimated > 0 else None,
            "gap_bytes": {"tables": ledger.table_bits / 8.0 - estimated / 8.0,
                          "escapes": ledger.escape_bytes, "coder": ledger.coder_overhead_bytes,
                          "latent_framing": section_bytes - ledger.coded_bytes,
                          "container": len(data) - section_bytes}}


def code_one(codec: Any, path: Path, quality: float, backend: str) -> dict[str, Any]:
    """``code_image`` of one image file; the record names the image. A 4:2:0 still (``.y4m``) also
    gets PSNR of its Y, U and V planes (``codecs.yuvstill.psnr_yuv``)."""
    if path.suffix.lower() == ".y4m":
        from ncodec.codecs.yuvstill import psnr_yuv, read_y4m_planes, yuv420_to_rgb

        planes = read_y4m_planes(path)
        record, decoded = code_image(codec, yuv420_to_rgb(*planes), quality, backend)
        yuv = psnr_yuv(planes, decoded)
        return {"image": path.name} | record | {f"psnr-yuv-{k}": v for k, v in yuv.items()}
    record, _ = code_image(codec, read_image(path), quality, backend)
    return {"image": path.name} | record


_worker_state: dict[str, Any] = {}  # per worker process: the codec it loaded once in _init_worker


def _init_worker(codec_name: str, weights: str | None, threads: int) -> None:
    torch.set_num_threads(threads)
    _worker_state["codec"] = load_codec(codec_name, weights)


def _worker_code(path: Path, quality: float, backend: str) -> dict[str, Any]:
    return code_one(_worker_state["codec"], path, quality, backend)


def run_eval(folder: str | os.PathLike[str], codec_name: str, qualities: list[float] | None,
             out_path: str | os.PathLike[str], weights: str | None = None, backend: str = "constriction",
             progress: bool = True, workers: int = 1) -> dict[str, Any]:
    """Evaluate ``codec_name`` on every image of ``folder``; writes (and returns) the result JSON.

    ``qualities=None`` uses the codec's default grid. With ``workers > 1`` images are coded in that
    many processes (each with ``cpus // workers`` torch threads); results are identical, only the
    recorded times reflect the shared CPU.
    """
    files = list_images(folder)
    codec = load_codec(codec_name, weights)
    if qualities is None:
        qualities = default_qualities(codec)
    if workers < 1:
        raise UnsupportedInputError(f"--workers must be at least 1, got {workers}")
    for q in qualities:  # a quality outside the codec's range fails here, before any work
        codec.check_quality(q)
    out = Path(out_path)
    records: list[dict[str, Any]] = []
    if out.exists():
        try:
            prev = json.loads(out.read_text())
        except ValueError:
            raise UnsupportedInputError(f"{out} exists but is not a result file (remove it or choose another)") from None
        if not isinstance(prev, dict) or prev.get("schema") != SCHEMA or prev.get("codec") != codec_name \
                or prev.get("weights_sha256") != codec.sha256:
            raise UnsupportedInputError(f"{out} holds results of another codec or weights; choose another output")
        records = list(prev.get("per_image", []))
    default_paths = getattr(codec, "default_paths", None)  # learned image codecs: integer or float transforms
    pipeline = default_paths() if default_paths is not None else None
    if records and pipeline is not None:
        if prev.get("pipeline") is None:  # written before pipelines were recorded: which ran is unknown
            pipeline = None
        elif prev["pipeline"] != pipeline:
            raise UnsupportedInputError(f"{out} was coded with {prev['pipeline']} and this machine runs {pipeline}: "
                                        "choose another output to compare them")
    done = {(r["image"], r["quality"]) for r in records}
    pending = [(f, q) for q in qualities for f in files if (f.name, q) not in done]
    bar = None
    if progress and pending:
        from tqdm import tqdm

        bar = tqdm(total=len(pending), unit="img", desc=f"eval {codec_name}")

    def finished(record: dict[str, Any]) -> None:
        records.append(record)
        if bar is not None:
            bar.update(1)
        _write(out, codec_name, codec.sha256, folder, qualities, records, workers, pipeline)

    if workers == 1 or len(pending) <= 1:
        for f, q in pending:
            finished(code_one(codec, f, q, backend))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker, initargs=(codec_name, weights, threads)) as pool:
            futures = [pool.submit(_worker_code, f, q, backend) for f, q in pending]
            for fut in as_completed(futures):
                finished(fut.result())
    if bar is not None:
        bar.close()
    return _write(out, codec_name, codec.sha256, folder, qualities, records, workers, pipeline)


def _write(out: Path, codec_name: str, sha: str, folder, qualities: list[float],
           records: list[dict[str, Any]], workers: int, pipeline: dict[str, str] | None = None) -> dict[str, Any]:
    from ncodec import __version__

    order = {q: i for i, q in enumerate(qualities)}
    records.sort(key=lambda r: (order.get(r["quality"], len(order)), r["quality"], r["image"]))
    doc = {"schema": SCHEMA, "name": codec_name, "codec": codec_name, "weights_sha256": sha,
           "description": f"ncodec {__version__} eval of {codec_name} on {Path(folder).name}: real .ncd sizes",
           "dataset": str(folder), "qualities": qualities,
           "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                       "torch": torch.__version__, "threads": torch.get_num_threads(), "workers": workers},
           "results": _aggregate(records, qualities), "per_image": records}
    if pipeline is not None:  # which transforms the default encoder and decoder ran here
        doc["pipeline"] = pipeline
    gap = rate_gap_summary(records)
    if gap is not None:
        doc["rate_estimate"] = gap
    atomic_write_bytes(out, (json.dumps(doc, indent=1) + "\n").encode())
    return doc
