"""Classical video baselines: x264 and x265 through PyAV on the same RGB frames the learned codecs get.

Frames are converted to yuv420p or yuv444p, encoded at a CRF with ``tune=psnr`` (medium preset), and
the elementary stream is decoded again. Rate is the size of the coded stream (the sum of its packets,
no container) over W·H·frames; quality is PSNR-RGB and PSNR-Y (BT.601, as for images) of the decoded
RGB frames against the input frames, per frame and averaged (the mean of per-frame PSNRs).
"""

from __future__ import annotations

import math
import time
from fractions import Fraction
from typing import Any, Callable

import numpy as np

ENCODERS = {"x264": ("libx264", "h264"), "x265": ("libx265", "hevc")}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def luma(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def quality_row(frames: np.ndarray, out: np.ndarray, size: int, encode_s: float, decode_s: float) -> dict:
    """One rate point: bpp = bits/(W·H·frames), PSNR-RGB and PSNR-Y per frame and their means, speeds."""
    t, h, w, _ = frames.shape
    rgb = [_psnr(a, b) for a, b in zip(frames, out)]
    y = [_psnr(a, b) for a, b in zip(luma(frames), luma(out))]
    return {"bytes": size, "bpp": 8 * size / (w * h * t), "psnr-rgb": float(np.mean(rgb)), "psnr-y": float(np.mean(y)),
            "psnr-rgb-per-frame": rgb, "psnr-y-per-frame": y, "encode_fps": t / encode_s, "decode_fps": t / decode_s}


def code_frames(frames: np.ndarray, codec: str, crf: float, pix_fmt: str = "yuv420p",
                fps: int = 25) -> tuple[int, np.ndarray, dict[str, float]]:
    """Encode (T, H, W, 3) uint8 RGB with x264/x265 at ``crf``; returns (bytes, decoded frames, timings)."""
    import av

    encoder, decoder = ENCODERS[codec]
    t, h, w, _ = frames.shape
    enc = av.CodecContext.create(encoder, "w")
    enc.width, enc.height, enc.pix_fmt = w, h, pix_fmt
    enc.time_base = Fraction(1, fps)
    enc.framerate = Fraction(fps, 1)
    enc.options = {"crf": str(crf), "tune": "psnr", "preset": "medium"}
    if codec == "x265":
        enc.options = {**enc.options, "x265-params": "log-level=error"}
    t0 = time.perf_counter()
    packets = []
    for i, arr in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(arr, format="rgb24").reformat(format=pix_fmt)
        frame.pts = i
        packets.extend(enc.encode(frame))
    packets.extend(enc.encode(None))
    t1 = time.perf_counter()
    size = sum(p.size for p in packets)
    dec = av.CodecContext.create(decoder, "r")
    decoded = []
    for p in packets:
        decoded.extend(dec.decode(p))
    decoded.extend(dec.decode(None))
    t2 = time.perf_counter()
    out = np.stack([f.to_ndarray(format="rgb24") for f in decoded])
    if out.shape != frames.shape:
        raise RuntimeError(f"{codec} decoded {out.shape}, expected {frames.shape}")
    return size, out, {"encode_s": t1 - t0, "decode_s": t2 - t1}


def evaluate(frames: np.ndarray, codec: str, crfs: list[float], pix_fmt: str = "yuv420p",
             on_quality: Callable[[float], None] | None = None) -> dict[str, Any]:
    """RD points of one baseline on one clip (ncodec eval layout: results lists per quality);
    ``on_quality(crf)`` is called once each CRF is done."""
    t, h, w, _ = frames.shape
    rows = []
    for crf in crfs:
        size, out, timing = code_frames(frames, codec, crf, pix_fmt)
        rows.append({"crf": crf, **quality_row(frames, out, size, timing["encode_s"], timing["decode_s"])})
        if on_quality is not None:
            on_quality(crf)
    return {"name": f"{codec}-{pix_fmt}", "codec": codec, "pix_fmt": pix_fmt, "frames": t, "width": w, "height": h,
            "qualities": crfs, "rows": rows,
            "results": {k: [r[k] for r in rows] for k in ("bpp", "psnr-rgb", "psnr-y", "encode_fps", "decode_fps")}}
