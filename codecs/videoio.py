"""Video in and out through PyAV: clips (mp4, mkv, avi, mpg, y4m, …), raw YUV 4:2:0 files, frame folders.

Frames are uint8 RGB arrays (T, H, W, 3). ``read_video`` takes a frame range and an optional size: the
frames are scaled to cover the size and centre-cropped (aspect kept), which is how clips are brought to
the multiples a model needs. Writers: lossless RGB mp4 (libx264rgb, qp 0) or mkv (ffv1), y4m (YUV 4:4:4,
so within 2 levels of the RGB frames), or a folder of PNG frames; every writer goes through a temporary
file or folder, then a rename.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ncodec.errors import UnsupportedInputError

VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mpg", ".mpeg", ".mov", ".webm", ".y4m"}
MAX_FRAMES = 100_000


def resize_cover(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``frame`` to cover (width, height) with its aspect kept (Lanczos), then centre-crop."""
    from PIL import Image

    h, w = frame.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    img = Image.fromarray(frame).resize((new_w, new_h), Image.Resampling.LANCZOS) if (new_w, new_h) != (w, h) \
        else Image.fromarray(frame)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    return np.asarray(img.crop((left, top, left + width, top + height)))


def read_video(path: str | os.PathLike, frames: int | None = None, start: int = 0,
               size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode ``frames`` frames from ``start`` (all when None) as uint8 RGB (T, H, W, 3)."""
    p = Path(path)
    if p.is_dir():
        return _read_frame_folder(p, frames, start, size)
    if not p.is_file():
        raise UnsupportedInputError(f"input file not found: {p}")
    if p.stat().st_size == 0:
        raise UnsupportedInputError(f"input file is empty: {p}")
    import av

    out = []
    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                raise UnsupportedInputError(f"{p.name} has no video stream")
            for i, frame in enumerate(container.decode(video=0)):
                if i < start:
                    continue
                if frames is not None and len(out) >= frames:
                    break
                rgb = frame.to_ndarray(format="rgb24")
                out.append(resize_cover(rgb, *size) if size else rgb)
                if len(out) > MAX_FRAMES:
                    raise UnsupportedInputError(f"{p.name} has more than {MAX_FRAMES} frames")
    except UnsupportedInputError:
        raise
    except Exception as exc:  # PyAV raises its own error types for unreadable files
        raise UnsupportedInputError(f"{p.name} is not a readable video ({type(exc).__name__})") from None
    if not out:
        raise UnsupportedInputError(f"no frames in {p.name} from frame {start}")
    return np.stack(out)


def read_yuv420(path: str | os.PathLike, width: int, height: int, frames: int | None = None,
                start: int = 0, bits: int = 8) -> np.ndarray:
    """Raw planar YUV 4:2:0 (as UVG ships it, 8 or 10 bit little-endian) to uint8 RGB (BT.709)."""
    p = Path(path)
    if not p.is_file():
        raise UnsupportedInputError(f"input file not found: {p}")
    if width % 2 or height % 2 or width <= 0 or height <= 0:
        raise UnsupportedInputError("raw YUV 4:2:0 needs even, positive width and height")
    sample = 2 if bits > 8 else 1
    frame_bytes = width * height * 3 // 2 * sample
    total = p.stat().st_size // frame_bytes
    if total == 0:
        raise UnsupportedInputError(f"{p.name} is smaller than one {width}x{height} frame")
    count = total - start if frames is None else min(frames, total - start)
    if count <= 0:
        raise UnsupportedInputError(f"{p.name} has {total} frames; start {start} is past the end")
    dtype = "<u2" if sample == 2 else np.uint8
    raw = np.fromfile(p, dtype=dtype, count=count * frame_bytes // sample, offset=start * frame_bytes)
    raw = raw.reshape(count, -1).astype(np.float64) / ((1 << bits) - 1)
    y = raw[:, : width * height].reshape(count, height, width)
    u = raw[:, width * height: width * height * 5 // 4].reshape(count, height // 2, width // 2)
    v = raw[:, width * height * 5 // 4:].reshape(count, height // 2, width // 2)
    u, v = (np.repeat(np.repeat(c, 2, axis=1), 2, axis=2) - 0.5 for c in (u, v))
    # limited range BT.709
    y = (y - 16 / 255) * (255 / 219)
    u, v = u * (255 / 224), v * (255 / 224)
    rgb = np.stack([y + 1.5748 * v, y - 0.1873 * u - 0.4681 * v, y + 1.8556 * u], axis=-1)
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def _read_frame_folder(folder: Path, frames: int | None, start: int, size: tuple[int, int] | None) -> np.ndarray:
    from ncodec.codecs.imageio import read_image

    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in {".png", ".jpg", ".jpeg", ".ppm", ".bmp"})
    files = files[start:] if frames is None else files[start:start + frames]
    if not files:
        raise UnsupportedInputError(f"no image frames in {folder}")
    out = []
    for f in files:
        img = read_image(f)
        img = np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img
        out.append(resize_cover(img, *size) if size else img)
    if len({a.shape for a in out}) != 1:
        raise UnsupportedInputError(f"frames in {folder} differ in size; give a size")
    return np.stack(out)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 25) -> None:
    """Lossless RGB .mp4 (libx264rgb qp 0) or .mkv (ffv1), .y4m (YUV 4:4:4), or a folder of PNGs (no suffix)."""
    p = Path(path)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError("frames must be uint8 (T, H, W, 3)")
    suffix = p.suffix.lower()
    if suffix == "":
        _write_frame_folder(p, frames)
        return
    if suffix not in {".mp4", ".mkv", ".y4m"}:
        raise UnsupportedInputError(f"cannot write video as {suffix!r}; use .mp4, .mkv, .y4m or a folder")
    import av

    fd, tmp = tempfile.mkstemp(prefix=f".{p.stem}.", suffix=suffix, dir=p.parent if str(p.parent) else ".")
    os.close(fd)
    try:
        with av.open(tmp, "w") as container:
            if suffix == ".mp4":
                stream = container.add_stream("libx264rgb", rate=fps, options={"qp": "0", "preset": "medium"})
                stream.pix_fmt = "rgb24"
            elif suffix == ".mkv":
                stream = container.add_stream("ffv1", rate=fps)
                stream.pix_fmt = "bgr0"
            else:
                stream = container.add_stream("rawvideo", rate=fps)
                stream.pix_fmt = "yuv444p"
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            for arr in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        from ncodec.codecs.imageio import publish_tmp

        publish_tmp(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_frame_folder(folder: Path, frames: np.ndarray) -> None:
    from PIL import Image

    if folder.exists():
        raise UnsupportedInputError(f"output folder exists: {folder}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent if str(folder.parent) else "."))
    try:
        for i, arr in enumerate(frames):
            Image.fromarray(arr).save(tmp / f"frame{i:05d}.png")
        from ncodec.codecs.imageio import publish_tmp

        publish_tmp(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
