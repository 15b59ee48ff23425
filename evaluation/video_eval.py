"""``ncodec eval`` on video: inr-video, x264/x265 and any image codec applied frame by frame, on the same
decoded RGB frames, with real bitstreams.

Per quality: bpp = bits / (W·H·frames), PSNR-RGB and PSNR-Y (BT.601 luma) per frame and their mean,
encode and decode frames per second. With several clips the curve is the mean over clips (as for an
image set) and every clip's rows are kept. The JSON layout is the image one (``results`` lists per
quality), so ``ncodec plot`` and ``ncodec bdrate`` read it.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ncodec.codecs import container
from ncodec.errors import UnsupportedInputError
from ncodec.evaluation.video_baselines import evaluate, quality_row

from ncodec.evaluation.routing import VIDEO_BASELINES

MAX_CRF = 51.0  # x264/x265 at 8 bits

DEFAULT_CRFS = [22.0, 27.0, 32.0, 37.0, 42.0]


def evaluate_inr(frames: np.ndarray, qualities: list[float], fit_effort: float = 1.0,
                 backend: str = "constriction", on_quality: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Fit, code and decode inr-video at each quality level; encode time is the fitting cost.
    ``on_quality(q)`` is called once each quality level is done."""
    from ncodec.codecs.video_inr import INRVideoCodec

    codec = INRVideoCodec()
    rows = []
    for q in qualities:
        t0 = time.perf_counter()
        result = codec.compress(frames, quality=q, backend=backend, steps_scale=fit_effort)
        data = container.pack(result.header, result.sections)
        t1 = time.perf_counter()
        header, sections = container.unpack(data)
        out = codec.decompress(header, sections)
        t2 = time.perf_counter()
        row = quality_row(frames, out, len(data), t1 - t0, t2 - t1)
        row.update(quality=q, fit_s=t1 - t0, group_bytes=[len(s) for s in sections[1:]],
                   params_per_group=result.stats["params_per_group"], fit_steps=result.stats["fit_steps"])
        rows.append(row)
        if on_quality is not None:
            on_quality(q)
    return _doc("inr-video", "inr-video", frames, qualities, rows)


def evaluate_per_frame(frames: np.ndarray, name: str, qualities: list[float], backend: str = "constriction",
                       on_quality: Callable[[float], None] | None = None) -> dict[str, Any]:
    """A registered image codec applied to every frame independently (rate: the sum of its .ncd files).
    ``on_quality(q)`` is called once each quality level is done."""
    from ncodec.codecs.registry import load_codec

    codec = load_codec(name)
    rows = []
    for q in qualities:
        size, out, enc_s, dec_s = 0, [], 0.0, 0.0
        for frame in frames:
            t0 = time.perf_counter()
            enc = codec.compress(frame, quality=q, backend=backend)
            data = container.pack(enc.header, enc.sections)
            t1 = time.perf_counter()
            header, sections = container.unpack(data)
            out.append(codec.decompress(header, sections))
            dec_s += time.perf_counter() - t1
            enc_s += t1 - t0
            size += len(data)
        row = quality_row(frames, np.stack(out), size, enc_s, dec_s)
        row["quality"] = q
        rows.append(row)
        if on_quality is not None:
            on_quality(q)
    return _doc(f"{name} (per frame)", name, frames, qualities, rows)


def _doc(name: str, codec: str, frames: np.ndarray, qualities: list[float], rows: list[dict]) -> dict[str, Any]:
    t, h, w, _ = frames.shape
    return {"name": name, "codec": codec, "frames": t, "width": w, "height": h, "qualities": qualities, "rows": rows,
            "results": {k: [r[k] for r in rows] for k in ("bpp", "psnr-rgb", "psnr-y", "encode_fps", "decode_fps")}}


def default_video_qualities(codec: str) -> list[float]:
    """The quality grid ``ncodec eval`` uses for ``codec`` on video when none is given."""
    from ncodec.codecs.registry import modality_of

    if codec in VIDEO_BASELINES:
        return list(DEFAULT_CRFS)
    if codec == "inr-video":
        from ncodec.codecs.video_inr import QUALITY_LEVELS

        return [float(q) for q in QUALITY_LEVELS]
    if modality_of(codec) == "image":
        return [1.0, 2.0, 3.0, 4.0]
    raise UnsupportedInputError(f"codec {codec!r} cannot code video; use inr-video, x264, x265 or an image codec")


def evaluate_clip(frames: np.ndarray, codec: str, qualities: list[float] | None, pix_fmt: str = "yuv420p",
                  fit_effort: float = 1.0, backend: str = "constriction",
                  on_quality: Callable[[float], None] | None = None) -> dict[str, Any]:
    """One clip through ``codec``: ``inr-video``, ``x264``/``x265`` (qualities = CRFs) or an image codec.
    ``on_quality(q)`` is called once each quality level is done."""
    default = default_video_qualities(codec)  # also refuses codecs that cannot code video
    qualities = qualities or default
    if codec in VIDEO_BASELINES:
        return evaluate(frames, codec, qualities, pix_fmt, on_quality=on_quality)
    if codec == "inr-video":
        return evaluate_inr(frames, qualities, fit_effort, backend, on_quality=on_quality)
    return evaluate_per_frame(frames, codec, qualities, backend, on_quality=on_quality)


def check_video_qualities(codec: str, qualities: list[float]) -> None:
    """Every quality must be one the codec takes, checked before any clip is read or coded."""
    from ncodec.errors import UsageError

    for q in qualities:
        if codec in VIDEO_BASELINES:
            if not (math.isfinite(q) and 0 <= q <= MAX_CRF):
                raise UsageError(f"{codec} quality is the CRF, 0-{MAX_CRF:g} (lower is better), got {q:g}")
        elif codec == "inr-video":
            from ncodec.codecs.video_inr import quality_level

            quality_level(q)
        else:
            from ncodec.codecs.registry import load_codec

            load_codec(codec).check_quality(q)


def run_video_eval(source: str | os.PathLike, codec: str, qualities: list[float] | None,
                   output: str | os.PathLike, frames: int | None = None, size: tuple[int, int] | None = None,
                   pix_fmt: str = "yuv420p", fit_effort: float = 1.0, backend: str = "constriction",
                   progress: bool = True) -> dict[str, Any]:
    """Evaluate a clip (file, UVG raw file or frame folder) or every clip of a folder; write ``output``.
    ``progress`` shows a bar on stderr over the (clip, quality) runs."""
    from ncodec.codecs.imageio import atomic_write_bytes
    from ncodec.datasets.video import FRAME_SUFFIXES, read_source, video_sources

    if frames is not None and frames < 1:
        raise UnsupportedInputError("--frames must be at least 1")
    if pix_fmt not in ("yuv420p", "yuv444p"):
        raise UnsupportedInputError("--pix-fmt must be yuv420p or yuv444p")
    p = Path(source)
    if not p.exists():
        raise UnsupportedInputError(f"video dataset not found: {p}")
    image_frames = p.is_dir() and any(f.suffix.lower() in FRAME_SUFFIXES for f in p.iterdir())
    sources = [p] if p.is_file() or image_frames else video_sources(p)
    default = default_video_qualities(codec)  # refuses codecs that cannot code video before any reading
    grid = qualities or default
    check_video_qualities(codec, grid)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(sources) * len(grid), unit="run", desc=f"eval {codec}", file=sys.stderr,
                   dynamic_ncols=True)
    clips = []
    try:
        for src in sources:
            if bar is not None:
                bar.set_postfix_str(src.name)
            clip = read_source(src, frames=frames, size=size)
            doc = evaluate_clip(clip, codec, grid, pix_fmt, fit_effort, backend,
                                on_quality=None if bar is None else lambda q: bar.update(1))
            doc["clip"] = src.name
            clips.append(doc)
    finally:
        if bar is not None:
            bar.close()
    first = clips[0]
    merged = {k: [float(np.mean([c["results"][k][i] for c in clips])) for i in range(len(first["qualities"]))]
              for k in first["results"]}
    doc = {"name": first["name"], "codec": codec, "dataset": str(p), "clips": [c["clip"] for c in clips],
           "qualities": first["qualities"], "results": merged, "per_clip": clips,
           "note": "mean over clips of bpp = bits/(W*H*frames) and of the mean per-frame PSNR"}
    atomic_write_bytes(output, (json.dumps(doc, indent=1) + "\n").encode())
    return doc
