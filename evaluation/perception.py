"""``ncodec perception``: what compression does to a downstream model, at every rate.

Every item of a task is compressed with real bitstreams (``.ncd`` bytes, decoded back), the task's
model runs on the original and on each decoded version, and the task metric is written against bpp
(with PSNR) per quality, per item and aggregated. The JSON keeps the ``ncodec eval`` layout
(``results`` with one list per metric), so ``ncodec plot`` and ``ncodec bdrate --metric METRIC`` read
it; ``original`` holds the metric on the uncompressed inputs.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ncodec.codecs.imageio import atomic_write_bytes
from ncodec.codecs.registry import load_codec
from ncodec.evaluation.runner import code_for_task, code_image, default_qualities
from ncodec.errors import UsageError
from ncodec.evaluation.tasks.base import Task

SCHEMA = "ncodec-perception/1"


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals and len(vals) == len(values) else None


def run_perception(task: Task, codec_name: str, data: str, out: str | Path, qualities: list[float] | None = None,
                   weights: str | None = None, backend: str = "constriction",
                   progress: Callable[[str], None] | None = None, realism: float = 0.0,
                   realism_weights: str | None = None) -> dict[str, Any]:
    """Run ``task`` on ``data`` through ``codec_name`` at each quality; write and return the result JSON.

    ``progress`` receives one line per item as it is done: first the task model on every original, then
    every (quality, item) coded, decoded and run through the model, each with its count of the total.
    ``realism`` R > 0 decodes the same streams with the realism generator (learned image codecs)."""
    codec = load_codec(codec_name, weights)
    if getattr(codec, "modality", None) == "task" and (task.name != "classify" or not data.startswith("fashion-mnist")):
        raise UsageError(f"{codec_name} decodes Fashion-MNIST classes: use it with the classify task on fashion-mnist")
    decode_options: dict[str, Any] = {}
    label = codec_name
    if realism:
        from ncodec.codecs.realism import realism_decoder_for

        decoder = realism_decoder_for(codec, realism, realism_weights)
        decode_options = {"realism": realism, "realism_decoder": decoder}
        label = f"{codec_name} realism {realism:g}"
    qualities = [float(q) for q in (qualities or default_qualities(codec))]
    items = task.items(data)
    t_start = time.perf_counter()
    originals, targets, original_scores = [], [], []
    for k, item in enumerate(items, 1):
        pred = task.predict(item.image)
        target = task.target(item, pred)
        originals.append(task.record(pred))
        targets.append(target)
        original_scores.append(task.score(pred, target))
        if progress:
            progress(f"original [{k}/{len(items)}] {item.name}: {task.metric} "
                     f"{task.aggregate([original_scores[-1]]):.4f}")
    per_item: list[dict[str, Any]] = []
    original = task.aggregates(original_scores)
    results: dict[str, list[Any]] = {"bpp": []} | {k: [] for k in original} | {
        "psnr-rgb": [], "psnr-y": [], "encoding_time": [], "decoding_time": []}
    runs, done = len(qualities) * len(items), 0
    for q in qualities:
        scores, records = [], []
        for item, target in zip(items, targets):
            if getattr(codec, "modality", None) == "task":  # the stream decodes to the task's output
                record, labels = code_for_task(codec, item.image, q, backend)
                prediction = [int(v) for v in labels.reshape(-1)]
            else:
                record, decoded = code_image(codec, item.image, q, backend, decode_options)
                prediction = task.predict(decoded)
            score = task.score(prediction, target)
            scores.append(score)
            records.append(record)
            per_item.append({"item": item.name, "quality": q, "bpp": record["bpp"], "bytes": record["bytes"],
                             "psnr-rgb": record["psnr-rgb"], "exact": record["exact"]} | score | item.info
                            | task.record(prediction))
            done += 1
            if progress:
                progress(f"{label} q={q:g} [{done}/{runs}] {item.name}: {record['bpp']:.4f} bpp, "
                         f"{task.metric} {task.aggregate([score]):.4f}")
        # bpp over all pixels of the set (items may differ in size), like the rate of one long stream
        pixels = sum(it.image.shape[0] * it.image.shape[1] for it in items)
        results["bpp"].append(8.0 * sum(r["bytes"] for r in records) / pixels)
        for key, value in task.aggregates(scores).items():
            results[key].append(value)
        for key in ("psnr-rgb", "psnr-y", "encoding_time", "decoding_time"):
            results[key].append(_mean([r[key] for r in records]))
    if getattr(codec, "modality", None) == "task":  # no pixels: no pixel metrics (nor a "lossless" look)
        for key in ("psnr-rgb", "psnr-y"):
            results.pop(key)
    doc = {
        "schema": SCHEMA,
        "name": f"{label} ({task.name})",
        "description": f"{task.name} through {label} on {data}: {task.metric} vs bpp over {len(items)} items",
        "codec": codec_name, "weights_sha256": getattr(codec, "sha256", None), "backend": backend,
        "realism": realism, "realism_sha256": decode_options["realism_decoder"].sha256 if realism else None,
        "data": str(data), "items": len(items), "qualities": qualities,
        "task": task.describe(), "note": task.note,
        "original": original | {"items": len(items)},
        "results": results,
        "per_item": per_item,
        "original_per_item": [{"item": it.name} | s | o for it, s, o in zip(items, original_scores, originals)],
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "threads": torch.get_num_threads(),
                    "torch": torch.__version__},
        "wall_s": time.perf_counter() - t_start,
    }
    atomic_write_bytes(out, (json.dumps(doc, indent=1) + "\n").encode())
    return doc
