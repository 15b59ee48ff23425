"""Public Python API: ``encode``, ``decode``, ``info`` and ``open`` on paths, arrays and bytes."""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ncodec.errors import (BitstreamError, MissingWeightsError, ModelMismatchError, OutputExistsError,
                           UnsupportedInputError, UsageError)

PathLike = str | os.PathLike


@dataclass
class Bitstream:
    """A parsed ``.ncd`` bitstream: header, sections and size, decodable with ``decode()``."""

    header: Any
    sections: list[bytes]
    size: int
    stats: dict[str, float] = field(default_factory=dict)

    def decode(self, weights: PathLike | None = None, device: str = "cpu", realism: float = 0.0,
               realism_weights: PathLike | None = None, synthesis: str = "auto") -> np.ndarray:
        """Decode to pixels; ``realism`` R in (0, 1] runs the generative decoder (learned image codecs);
        ``synthesis`` "integer" / "float" / "auto" picks a learned image codec's synthesis path."""
        from ncodec.codecs.registry import get_spec, load_codec

        if synthesis not in ("auto", "integer", "float"):
            raise UsageError(f"synthesis must be auto, integer or float, got {synthesis!r}")

        if self.header.modality == "image" and get_spec(self.header.codec).family == "learned-image":
            if not torch_available():
                return _decode_without_torch(self, weights, realism, synthesis)
            if device == "cpu" and realism == 0.0 and synthesis != "float" and _lite_decodes(self.header, weights):
                # the same pixels as torch's integer synthesis, without the seconds of `import torch`
                from ncodec.codecs.lite import lite_decoder_for

                try:
                    lite = lite_decoder_for(self.header, weights)
                except (ModelMismatchError, MissingWeightsError):
                    lite = None  # e.g. a foreign X.intsyn.ncw beside X.ncw: torch decides below
                if lite is not None:
                    return lite.decode(self.header, self.sections)
        codec = load_codec(self.header.codec, weights, sha_prefix=None if weights else self.header.weights_sha256)
        if weights is not None and hasattr(codec, "attach_integer_synthesis"):
            sibling = Path(weights).with_suffix(".intsyn.ncw")  # the lite path reads it too: the same pixels
            if sibling.is_file():
                codec.attach_integer_synthesis(sibling)
        if synthesis != "auto" and not hasattr(codec, "synthesis_path"):
            raise UsageError(f"--synthesis applies to learned image codecs, not {self.header.codec}")
        if realism == 0.0:
            if synthesis == "auto":
                return codec.decompress(self.header, self.sections, device=device)
            return codec.decompress(self.header, self.sections, device=device, synthesis=synthesis)
        from ncodec.codecs.realism import realism_decoder_for

        decoder = realism_decoder_for(codec, realism, realism_weights)
        return codec.decompress(self.header, self.sections, device=device, realism=realism,
                                realism_decoder=decoder, synthesis=synthesis)


def torch_available() -> bool:
    """Whether PyTorch can be imported here (``NCODEC_NO_TORCH=1`` answers no, to test that path)."""
    if os.environ.get("NCODEC_NO_TORCH") == "1":
        return False
    import importlib.util

    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def _lite_decodes(header: Any, weights: PathLike | None) -> bool:
    """Whether the numpy decoder (codecs/lite.py) covers this stream: the default codec's family with a
    shipped integer synthesis for its weights (or X.intsyn.ncw beside --weights X.ncw), a torch-free coder."""
    from ncodec.codecs.lite import LITE_KINDS, lite_decoder_available

    return header.codec in LITE_KINDS and lite_decoder_available(header, weights)


def _decode_without_torch(stream: Bitstream, weights: PathLike | None, realism: float, synthesis: str) -> np.ndarray:
    """Learned image streams where torch is missing: the numpy decoder of ``codecs/lite.py``."""
    from ncodec.codecs.lite import lite_decoder_for

    if realism or synthesis == "float":
        raise UsageError("--realism and --synthesis float need PyTorch; without it only the integer synthesis runs")
    return lite_decoder_for(stream.header, weights).decode(stream.header, stream.sections)


def _read_input_image(src: PathLike | np.ndarray | bytes, notes: list[str] | None = None,
                      size: tuple[int, int] | None = None) -> np.ndarray:
    from ncodec.codecs.imageio import image_from_pil, read_image

    if isinstance(src, (str, os.PathLike)) and Path(src).suffix.lower() == ".yuv":
        from ncodec.codecs.yuvstill import read_yuv_planes, yuv420_to_rgb

        if size is None:
            raise UsageError("a raw .yuv still needs its size: --size WIDTHxHEIGHT (8-bit planar 4:2:0)")
        planes = read_yuv_planes(src, size[0], size[1], notes)
        if notes is not None:
            notes.append("Y'CbCr 4:2:0 input: coded as RGB (BT.709 limited range, chroma repeated 2x2)")
        return yuv420_to_rgb(*planes)

    if isinstance(src, np.ndarray):
        if src.dtype != np.uint8 or not (src.ndim == 2 or (src.ndim == 3 and src.shape[2] in (1, 3))):
            raise UnsupportedInputError("array input must be uint8 of shape (H, W), (H, W, 1) or (H, W, 3)")
        arr = src[:, :, 0] if src.ndim == 3 and src.shape[2] == 1 else src
        from ncodec.codecs.imageio import check_image_size

        check_image_size(arr.shape[1], arr.shape[0])
        return np.ascontiguousarray(arr)
    if isinstance(src, (bytes, bytearray, memoryview)):
        from PIL import Image

        if len(src) == 0:
            raise UnsupportedInputError("input bytes are empty")
        try:
            with Image.open(io.BytesIO(bytes(src))) as im:
                from ncodec.codecs.imageio import check_image_size

                check_image_size(*im.size)
                from ncodec.codecs.imageio import read_16bit, sixteen_bit

                if sixteen_bit(bytes(src[:26]), im):
                    return read_16bit(bytes(src), notes)
                im.load()
                return image_from_pil(im, notes)
        except UnsupportedInputError:
            raise
        except Exception as exc:
            raise UnsupportedInputError(f"input bytes are not a readable image ({type(exc).__name__})") from None
    return read_image(src, notes)


def _check_output(dst: PathLike, force: bool) -> None:
    p = Path(dst)
    if p.exists() and not force:
        raise OutputExistsError(f"output exists: {p} (use --force / force=True to overwrite)")
    check_output_folder(p)


def check_output_folder(dst: PathLike) -> None:
    """The folder an output goes to must exist: checked before any work starts."""
    parent = Path(dst).parent
    if str(parent) and not parent.is_dir():
        raise UsageError(f"output folder does not exist: {parent}")


# Suffixes of files that are not ``.ncd`` bitstreams: an encoder output named so would mislead.
MEDIA_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp", ".avif", ".jxl",
                  ".jp2", ".gif", ".mp4", ".mkv", ".avi", ".mov", ".webm", ".y4m", ".yuv", ".ply", ".pcd", ".xyz",
                  ".off", ".obj", ".stl"}


def _check_encode_output(dst: PathLike) -> None:
    suffix = Path(dst).suffix.lower()
    if suffix in MEDIA_SUFFIXES:
        raise UsageError(f"{Path(dst).name}: the encoder writes an .ncd bitstream, not a {suffix[1:]} file; "
                         f"name the output .ncd (decode it with `ncodec decode X.ncd OUT{suffix}`)")


def _check_decode_output(modality: str, dst: PathLike) -> None:
    """Refuse an output name whose extension contradicts what the bitstream decodes to, before decoding."""
    from ncodec.codecs.imageio import IMAGE_WRITE_FORMATS

    suffix = Path(dst).suffix.lower()
    allowed = {"image": sorted(IMAGE_WRITE_FORMATS), "video": ["(none: a frame folder)", ".mp4", ".mkv", ".y4m"],
               "pointcloud": [".ply"], "mesh": [".ply", ".obj", ".off", ".stl"], "task": [".json"]}.get(modality)
    if allowed is None:
        return
    ok = suffix in allowed or (modality == "video" and suffix == "")
    if not ok:
        article = "an" if modality[0] in "aeiou" else "a"
        raise UsageError(f"{article} {modality} bitstream decodes to {', '.join(allowed)}, not {Path(dst).name!r}")


def encode(src: PathLike | np.ndarray | bytes, dst: PathLike | None = None, *, codec: str | None = None,
           quality: float | None = None, backend: str = "constriction", device: str = "cpu",
           weights: PathLike | None = None, force: bool = False, color_step: float | None = None,
           frames: int | None = None, size: tuple[int, int] | None = None, progress: bool = False,
           fit_effort: float = 1.0, group_frames: int | None = None, target_size: int | None = None,
           target_bpp: float | None = None, quality_map: PathLike | np.ndarray | None = None,
           roi: list[str] | None = None, effort: str = "default", analysis: str = "auto",
           voxel_grid: str = "cube", surface_voxels: bool = False) -> bytes:
    """Encode an image (path, uint8 array or encoded image bytes), a video or a 3D file to ``.ncd``
    bytes; write ``dst`` if given. For point clouds ``quality`` is the bit depth and ``color_step`` the
    colour quantisation step (default 8; 0 drops the colours). For videos (a clip, a raw ``.yuv`` file, a
    folder of frames, or a uint8 (T, H, W, 3) array with ``codec="inr-video"``) ``frames`` limits the
    frame count and ``size`` (width, height) scales and centre-crops the frames (for ``.yuv`` it is the
    raw size); ``progress`` shows the fit's progress bar, ``fit_effort`` scales its steps and ``group_frames`` sets the
    frames per network (default 16). A stopped video fit resumes from ``dst.fit``.

    Images may also be 16-bit PNG/TIFF (rounded to 8 bits), RGBA with an opaque alpha (dropped),
    single-frame 8-bit 4:2:0 ``.y4m`` files or, with an image ``codec`` and ``size``, raw 4:2:0 ``.yuv``
    frames (coded as BT.709 RGB); each such change is noted in ``encode.last_stats["notes"]``.

    Region of interest (gain-based learned image codecs): ``quality_map`` (a greyscale image of the
    input's size, grey 0..255 -> quality 1..levels, or an (H, W) array of qualities) or ``roi``
    rectangles ``"x,y,w,h:Q"`` over a background of ``quality`` (default 1) vary the quality over the
    image; the map travels in the bitstream (``codecs/qualitymap.py``).

    ``effort`` (images): ``fast``, ``default`` or ``best``; ``best`` refines the latents of the
    gain-based learned codecs at the encoder (about 70-130x the encode time; ``codecs/refine.py``) and
    selects the slowest setting of a classical codec's library. ``analysis`` (learned image codecs):
    "integer" runs the weights' int8 encoder transform, "float" the trained g_a, "auto" the int8 one
    where the weights make it the default.

    Images only: ``target_size`` (bytes of the whole ``.ncd`` file) or ``target_bpp`` replaces
    ``quality``: real trial encodes search the codec's quality grid for the largest file at or under
    the target (``codecs.ratecontrol``); ``encode.last_stats["target"]`` says how it landed.

    3D only: ``voxel_grid="identity"`` codes a cloud whose coordinates are voxel indices at the bit depth
    (integers in [0, 2**bits)) as they are, instead of re-voxelising it in its bounding cube;
    ``surface_voxels`` turns a mesh into the dense cloud of every voxel its surface passes through
    (``pointio.surface_voxels``, the voxels of ``../shared/tools/dense_voxels.py``) and codes that.

    Returns the bitstream bytes. Timings and sizes are in ``encode.last_stats``.
    """
    from ncodec.codecs import container
    from ncodec.codecs.imageio import atomic_write_bytes
    from ncodec.codecs.registry import DEFAULT_CODEC, load_codec
    from ncodec.entropy.coders import BACKENDS

    if backend not in BACKENDS:
        raise UnsupportedInputError(f"unknown coder backend {backend!r}; choose from {', '.join(sorted(BACKENDS))}")
    if codec is not None:
        from ncodec.codecs.registry import get_spec

        get_spec(codec)  # an unknown or mis-cased name fails before any work, with a suggestion
    if dst is not None:
        _check_output(dst, force)
        _check_encode_output(dst)
    from ncodec.codecs.refine import check_effort

    check_effort(effort)
    targeted = target_size is not None or target_bpp is not None
    if targeted and quality is not None:
        raise UsageError("give either a quality or a target size/bpp, not both")
    spatial = quality_map is not None or bool(roi)
    if spatial and targeted:
        raise UsageError("a quality map or --roi sets the qualities itself: no target size with it")
    if quality_map is not None and roi:
        raise UsageError("give either a quality map or --roi rectangles, not both")
    t0 = time.perf_counter()
    if targeted and (_is_video_input(src, codec) or _is_point_input(src, codec)):
        raise UsageError("--target-size/--target-bpp apply to images: a video or 3D trial encode is a full "
                         "fit or octree pass per try (inr-video fits minutes per group), so give --quality")
    if analysis not in ("auto", "integer", "float"):
        raise UsageError(f"analysis must be auto, integer or float, got {analysis!r}")
    if (effort != "default" or spatial or analysis != "auto") and (_is_video_input(src, codec)
                                                                  or _is_point_input(src, codec)):
        raise UsageError("--effort, --analysis, --quality-map and --roi apply to images (inr-video: --fit-effort)")
    if (voxel_grid != "cube" or surface_voxels) and not _is_point_input(src, codec):
        raise UsageError("--voxel-grid and --surface-voxels apply to point clouds and meshes")
    if _is_video_input(src, codec):
        return _encode_video(src, dst, codec=codec, quality=quality, backend=backend, device=device,
                             frames=frames, size=size, progress=progress, fit_effort=fit_effort,
                             group_frames=group_frames)
    if _is_point_input(src, codec):
        return _encode_points(src, dst, codec=codec, quality=quality, backend=backend, device=device,
                              voxel_grid=voxel_grid, surface_voxels=surface_voxels,
                              weights=weights, color_step=color_step)
    notes: list[str] = []
    image = _read_input_image(src, notes, size)
    model = load_codec(codec or DEFAULT_CODEC, weights)
    if getattr(model, "modality", None) == "task" and (targeted or spatial or effort != "default"):
        raise UsageError(f"{model.name} has one rate per level: no --target-size/--target-bpp, quality map, "
                         "--roi or --effort")
    options = {"effort": effort}
    if analysis != "auto":
        if not hasattr(model, "integer_analysis"):
            raise UsageError(f"--analysis applies to learned image codecs, not {model.name}")
        options["analysis"] = analysis
    t1 = time.perf_counter()
    target: dict[str, Any] | None = None
    if targeted:
        from ncodec.codecs.ratecontrol import describe, encode_to_size, target_bytes_for

        budget = target_bytes_for(target_size, target_bpp, image.shape[0] * image.shape[1])
        outcome = encode_to_size(model, image, budget, backend=backend, device=device, effort=effort,
                                 analysis=analysis)
        result, data = outcome.result, outcome.data
        target = {**describe(outcome), "explain": outcome.explain()}
    elif spatial:
        from ncodec.codecs import qualitymap

        if not hasattr(model, "estimate_bits"):  # classical codecs have one quality per image
            raise UsageError(f"{model.name} has no spatial quality: quality maps and --roi need a learned codec")
        h, w = image.shape[:2]
        if roi:
            qmap = qualitymap.roi_map(roi, h, w, 1.0 if quality is None else float(quality), model.levels)
        elif isinstance(quality_map, np.ndarray):
            qmap = quality_map
        else:
            qmap = qualitymap.read_quality_map(quality_map, h, w, model.levels)
        result = model.compress(image, backend=backend, device=device, quality_map=qmap, **options)
        data = container.pack(result.header, result.sections)
    else:
        result = model.compress(image, quality=quality, backend=backend, device=device, **options)
        data = container.pack(result.header, result.sections)
    t2 = time.perf_counter()
    if dst is not None:
        atomic_write_bytes(dst, data)
    pixels = image.shape[0] * image.shape[1]
    encode.last_stats = {"bytes": len(data), "bpp": 8 * len(data) / pixels, "load_s": t1 - t0,
                         "encode_s": t2 - t1, "quality": result.header.quality, "codec": result.header.codec}
    if target is not None:
        encode.last_stats["target"] = target
    if notes:
        encode.last_stats["notes"] = notes
    return data


encode.last_stats = {}  # type: ignore[attr-defined]


def _encode_mesh(src: PathLike, dst: PathLike | None, name: str, quality: float | None) -> bytes:
    """Triangle meshes (Draco): quality is the position quantisation in bits."""
    from ncodec.codecs import container
    from ncodec.codecs.imageio import atomic_write_bytes
    from ncodec.codecs.pointio import read_mesh
    from ncodec.codecs.registry import load_codec

    t0 = time.perf_counter()
    mesh = read_mesh(src)
    header, sections = load_codec(name).compress_mesh(mesh, quality)
    data = container.pack(header, sections)
    if dst is not None:
        atomic_write_bytes(dst, data)
    encode.last_stats = {"bytes": len(data), "points": len(mesh.vertices), "faces": len(mesh.faces),
                         "encode_s": time.perf_counter() - t0, "quality": header.quality, "codec": name}
    return data


def _is_video_input(src: PathLike | np.ndarray | bytes, codec: str | None) -> bool:
    from ncodec.codecs.registry import modality_of
    from ncodec.codecs.videoio import VIDEO_SUFFIXES

    if modality_of(codec) is not None:
        return modality_of(codec) == "video"
    if not isinstance(src, (str, os.PathLike)):
        return False
    p = Path(src)
    from ncodec.codecs.yuvstill import is_y4m_still

    if is_y4m_still(p):  # one frame: a still image for the default image codec
        return False
    return p.suffix.lower() in VIDEO_SUFFIXES | {".yuv"} or p.is_dir()


def read_video_input(src: PathLike | np.ndarray, frames: int | None = None,
                     size: tuple[int, int] | None = None) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 of a clip, a raw 4:2:0 ``.yuv`` file (``size`` is its size unless the
    name is UVG's, which states it), a frame folder or an array."""
    from ncodec.codecs.videoio import read_yuv420
    from ncodec.datasets.video import UVG_NAME, read_source

    if isinstance(src, np.ndarray):
        if src.dtype != np.uint8 or src.ndim != 4 or src.shape[3] != 3:
            raise UnsupportedInputError("video array input must be uint8 of shape (T, H, W, 3)")
        return np.ascontiguousarray(src[:frames] if frames else src)
    if not isinstance(src, (str, os.PathLike)):
        raise UnsupportedInputError("videos are read from files, frame folders or (T, H, W, 3) arrays")
    if Path(src).suffix.lower() == ".yuv" and not UVG_NAME.match(Path(src).name):
        if size is None:
            raise UnsupportedInputError("a raw .yuv input needs its size (--size WxH)")
        return read_yuv420(src, size[0], size[1], frames=frames)
    return read_source(src, frames=frames, size=size)


def _encode_video(src: PathLike | np.ndarray, dst: PathLike | None, *, codec: str | None,
                  quality: float | None, backend: str, device: str, frames: int | None,
                  size: tuple[int, int] | None, progress: bool, fit_effort: float,
                  group_frames: int | None) -> bytes:
    """Videos: fit the INR codec group by group (checkpointed beside ``dst``), then write the bitstream."""
    from ncodec.codecs import container
    from ncodec.codecs.imageio import atomic_write_bytes
    from ncodec.codecs.registry import load_codec, modality_of

    name = codec or "inr-video"
    if modality_of(name) != "video":
        raise UnsupportedInputError(f"codec {name!r} does not code video; use inr-video")
    if not 0.001 <= fit_effort <= 100:  # also refuses NaN
        raise UnsupportedInputError("fit effort must be in 0.001..100")
    if frames is not None and frames < 1:
        raise UnsupportedInputError("--frames must be at least 1")
    from ncodec.codecs.video_inr import MAX_FRAMES

    limit = MAX_FRAMES + 1 if frames is None else frames  # never read more than the codec can take
    t0 = time.perf_counter()
    clip = read_video_input(src, limit, size)
    if len(clip) > MAX_FRAMES:
        raise UnsupportedInputError(f"inr-video codes at most {MAX_FRAMES} frames; give --frames")
    model = load_codec(name)
    checkpoint = None if dst is None else Path(str(dst) + ".fit")
    t1 = time.perf_counter()
    try:
        result = model.compress(clip, quality=quality, backend=backend, device=device, progress=progress,
                                checkpoint=checkpoint, steps_scale=fit_effort,
                                **({} if group_frames is None else {"group_frames": group_frames}))
    except KeyboardInterrupt as exc:
        if checkpoint is None:
            raise
        from ncodec.codecs.video_inr import SNAPSHOT_SECONDS

        if checkpoint.is_file():  # written atomically every SNAPSHOT_SECONDS of a fit and after each group
            raise KeyboardInterrupt(f"interrupted; the fit is saved in {checkpoint}: "
                                    "run the same command again to resume") from exc
        raise KeyboardInterrupt(f"interrupted; nothing saved yet (the fit is saved in {checkpoint} "
                                f"every {SNAPSHOT_SECONDS:g} s and after each group)") from exc
    data = container.pack(result.header, result.sections)
    t2 = time.perf_counter()
    if dst is not None:
        atomic_write_bytes(dst, data)
        checkpoint.unlink(missing_ok=True)
    t, h, w, _ = clip.shape
    encode.last_stats = {"bytes": len(data), "bpp": 8 * len(data) / (t * h * w), "frames": t, "load_s": t1 - t0,
                         "encode_s": t2 - t1, "fps": t / (t2 - t1), "quality": result.header.quality,
                         "codec": result.header.codec}
    return data


def _is_point_input(src: PathLike | np.ndarray | bytes, codec: str | None) -> bool:
    from ncodec.codecs.pointio import POINT_SUFFIXES
    from ncodec.codecs.registry import modality_of

    if modality_of(codec) in ("pointcloud", "mesh"):
        return True
    return isinstance(src, (str, os.PathLike)) and Path(src).suffix.lower() in POINT_SUFFIXES


def _encode_points(src: PathLike, dst: PathLike | None, *, codec: str | None, quality: float | None,
                   backend: str, device: str, weights: PathLike | None = None,
                   color_step: float | None = None, voxel_grid: str = "cube", surface_voxels: bool = False) -> bytes:
    """Point clouds and mesh vertices: voxelise at the bit depth (quality) and code the voxel set; a
    mesh's dense surface voxels with ``surface_voxels``."""
    from ncodec.codecs import container
    from ncodec.codecs.imageio import atomic_write_bytes
    from ncodec.codecs.pointcloud import bit_depth
    from ncodec.codecs.pointio import PointCloud, read_mesh, read_points
    from ncodec.codecs.pointio import surface_voxels as mesh_surface_voxels
    from ncodec.codecs.registry import load_codec, modality_of

    if not isinstance(src, (str, os.PathLike)):
        raise UnsupportedInputError("point clouds are read from files (ply, pcd, xyz, off, obj, stl)")
    name = codec or "octree-pc"
    if modality_of(name) == "mesh":
        return _encode_mesh(src, dst, name, quality)
    if modality_of(name) != "pointcloud":
        raise UnsupportedInputError(f"codec {name!r} does not code point clouds; use octree-pc, octree-adaptive or draco")
    t0 = time.perf_counter()
    if surface_voxels:  # read_mesh refuses what is not a triangle mesh, bit_depth a bad quality
        if voxel_grid != "cube":
            raise UsageError("--surface-voxels makes its own voxel grid: leave out --voxel-grid")
        cloud = PointCloud(mesh_surface_voxels(read_mesh(src), bit_depth(quality)).astype(np.float64))
        voxel_grid = "identity"
    else:
        cloud = read_points(src)
    model = load_codec(name, weights)
    t1 = time.perf_counter()
    result = model.compress(cloud, quality=quality, backend=backend, device=device, color_step=color_step,
                            grid=voxel_grid)
    data = container.pack(result.header, result.sections)
    t2 = time.perf_counter()
    if dst is not None:
        atomic_write_bytes(dst, data)
    encode.last_stats = {"bytes": len(data), "points": len(cloud), "voxels": len(result.voxels.coords),
                         "bits_per_input_point": 8 * len(data) / len(cloud), "load_s": t1 - t0,
                         "encode_s": t2 - t1, "quality": result.header.quality, "codec": result.header.codec}
    return data


def open(src: PathLike | bytes) -> Bitstream:  # noqa: A001 - mirrors PIL.Image.open
    """Parse a ``.ncd`` file or bytes (header and CRC-checked sections) without decoding it."""
    from ncodec.codecs import container

    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    else:
        p = Path(src)
        if not p.is_file():
            raise UnsupportedInputError(f"input file not found: {p}")
        if p.stat().st_size > container.MAX_SECTION_BYTES * 2:
            raise BitstreamError("bitstream file is larger than any valid bitstream")
        data = p.read_bytes()
    if not data:
        raise BitstreamError("bitstream is empty")
    try:
        header, sections = container.unpack(data)
    except BitstreamError as exc:
        if isinstance(src, (bytes, bytearray, memoryview)):
            raise
        raise BitstreamError(f"{Path(src).name}: {exc}") from None
    return Bitstream(header, sections, len(data))


def decode(src: PathLike | bytes, dst: PathLike | None = None, *, weights: PathLike | None = None,
           device: str = "cpu", force: bool = False, realism: float = 0.0,
           realism_weights: PathLike | None = None, synthesis: str = "auto") -> np.ndarray:
    """Decode ``.ncd`` (path or bytes) to a uint8 image array; write ``dst`` (PNG, PPM, …) if given.

    ``realism`` R in [0, 1] (learned image streams): 0 is the MSE decoder; R > 0 runs the realism
    generator (``realism_weights``, default the shipped one for the stream's weights). ``synthesis``
    (learned image streams): "integer" gives the same pixels on every machine and thread count,
    "float" runs the trained float g_s, "auto" the integer one where the weights ship it."""
    from ncodec.codecs.imageio import write_image

    if dst is not None:
        _check_output(dst, force)
    t0 = time.perf_counter()
    stream = open(src)
    _check_modality(stream.header)
    if dst is not None:
        _check_decode_output(stream.header.modality, dst)
    if stream.header.modality == "mesh":
        return _decode_mesh(stream, dst, t0)
    if stream.header.modality == "pointcloud":
        return _decode_points(stream, dst, device, t0, weights)
    if stream.header.modality == "video":
        return _decode_video(stream, dst, device, t0)
    if stream.header.modality == "task":
        if realism or synthesis != "auto":
            raise UsageError("--realism and --synthesis apply to learned image streams, not a task stream")
        return _decode_task(stream, dst, weights, t0)
    if realism and stream.header.modality != "image":
        raise UsageError(f"--realism applies to learned image streams, not a {stream.header.modality}")
    if synthesis != "auto" and stream.header.modality != "image":
        raise UsageError(f"--synthesis applies to learned image streams, not a {stream.header.modality}")
    image = stream.decode(weights=weights, device=device, realism=realism, realism_weights=realism_weights,
                          synthesis=synthesis)
    t1 = time.perf_counter()
    if dst is not None:
        write_image(dst, image)
    decode.last_stats = {"bytes": stream.size, "bpp": 8 * stream.size / (image.shape[0] * image.shape[1]),
                         "decode_s": t1 - t0, "codec": stream.header.codec}
    return image


decode.last_stats = {}  # type: ignore[attr-defined]


def _decode_task(stream: Bitstream, dst: PathLike | None, weights: PathLike | None, t0: float) -> np.ndarray:
    """A task-codec stream -> int64 class labels (rows, cols), one per 28x28 tile; ``dst`` gets JSON."""
    import json

    from ncodec.codecs.imageio import atomic_write_bytes
    from ncodec.codecs.registry import load_codec

    codec = load_codec(stream.header.codec, weights, sha_prefix=None if weights else stream.header.weights_sha256)
    labels = codec.decompress(stream.header, stream.sections)
    if dst is not None:
        names = getattr(codec, "class_names", None)
        doc = {"codec": stream.header.codec, "tiles": list(labels.shape), "labels": labels.tolist()}
        if names:
            doc["names"] = [[names[v] for v in row] for row in labels.tolist()]
        atomic_write_bytes(dst, (json.dumps(doc) + "\n").encode())
    decode.last_stats = {"bytes": stream.size, "bits_per_tile": 8 * stream.size / labels.size,
                         "decode_s": time.perf_counter() - t0, "codec": stream.header.codec}
    return labels


def _check_modality(header: Any) -> None:
    """The header's modality must be the one its codec codes (else a crafted header could route a
    stream to the wrong output path)."""
    from ncodec.codecs.registry import modality_of

    modality = modality_of(header.codec)
    if modality is None:
        raise ModelMismatchError(f"the bitstream's codec {header.codec!r} is not in this installation "
                                 "(see `ncodec models`)")
    if modality != header.modality:
        raise BitstreamError(f"codec {header.codec!r} codes {modality}, but the header says {header.modality}")


def _decode_video(stream: Bitstream, dst: PathLike | None, device: str, t0: float) -> np.ndarray:
    """Video bitstreams decode to uint8 frames (T, H, W, 3); ``dst``: .mp4/.mkv (lossless), .y4m or a
    folder of PNG frames (a path without a suffix)."""
    from ncodec.codecs.videoio import write_video

    if dst is not None and Path(dst).suffix.lower() not in ("", ".mp4", ".mkv", ".y4m"):
        raise UnsupportedInputError("a video bitstream decodes to .mp4, .mkv, .y4m or a frame folder")
    clip = stream.decode(device=device)
    t1 = time.perf_counter()
    if dst is not None:
        write_video(dst, clip)
    t, h, w, _ = clip.shape
    decode.last_stats = {"bytes": stream.size, "bpp": 8 * stream.size / (t * h * w), "frames": t,
                         "decode_s": time.perf_counter() - t0, "fps": t / max(t1 - t0, 1e-9),
                         "codec": stream.header.codec}
    return clip


def _decode_mesh(stream: Bitstream, dst: PathLike | None, t0: float) -> np.ndarray:
    """Mesh bitstreams decode to vertices (V, 3); ``dst`` (.ply, .obj, .off or .stl) gets the mesh."""
    from ncodec.codecs.pointio import write_mesh
    from ncodec.codecs.registry import load_codec

    if dst is not None and Path(dst).suffix.lower() not in (".ply", ".obj", ".off", ".stl"):
        raise UnsupportedInputError("a mesh bitstream decodes to a .ply, .obj, .off or .stl file")
    mesh = load_codec(stream.header.codec).decompress_mesh(stream.header, stream.sections)
    if dst is not None:
        write_mesh(dst, mesh)
    decode.last_stats = {"bytes": stream.size, "points": len(mesh.vertices), "faces": len(mesh.faces),
                         "decode_s": time.perf_counter() - t0, "codec": stream.header.codec}
    return mesh.vertices


def _decode_points(stream: Bitstream, dst: PathLike | None, device: str, t0: float,
                   weights: PathLike | None = None) -> np.ndarray:
    """Point-cloud bitstreams decode to float64 positions (N, 3); ``dst`` must be a .ply file."""
    from ncodec.codecs.pointio import write_ply
    from ncodec.codecs.registry import load_codec

    if dst is not None and Path(dst).suffix.lower() != ".ply":
        raise UnsupportedInputError("a point-cloud bitstream decodes to a .ply file")
    codec = load_codec(stream.header.codec, weights,
                       sha_prefix=None if weights or stream.header.weights_sha256 == "0" * 16 else stream.header.weights_sha256)
    voxels = codec.decompress(stream.header, stream.sections, device=device)
    points = voxels.positions()
    if dst is not None:
        write_ply(dst, points, voxels.colors)
    decode.last_stats = {"bytes": stream.size, "points": len(points), "decode_s": time.perf_counter() - t0,
                         "codec": stream.header.codec}
    return points


def info(src: PathLike | bytes) -> dict[str, Any]:
    """Header fields and section sizes of a ``.ncd`` bitstream."""
    from ncodec.entropy.coders import BACKEND_IDS

    s = open(src)
    h = s.header
    c, height, width = (h.shape + (0, 0, 0))[:3] if h.modality == "image" else (None, None, None)
    out = {"format_version": h.version, "codec": h.codec, "modality": h.modality, "shape": list(h.shape),
           "quality": h.quality, "weights_sha256_prefix": h.weights_sha256,
           "coder": BACKEND_IDS.get(h.backend, "none (the codec's own payload)" if h.backend == 0 else f"unknown({h.backend})"),
           "coder_version": h.backend_version,
           "metadata": h.metadata, "bytes": s.size, "sections": [len(x) for x in s.sections]}
    if h.modality == "image" and height and width:
        out["bpp"] = 8 * s.size / (height * width)
    if h.modality == "pointcloud":
        voxels = _voxel_count(h.codec, s.sections)
        if voxels:
            out["points"] = voxels
            out["bits_per_point"] = 8 * s.size / voxels
    if h.modality == "video" and len(h.shape) == 4:
        frames, height, width = h.shape[:3]
        out["frames"] = frames
        out["bpp"] = 8 * s.size / (frames * height * width)
    return out


def _voxel_count(codec: str, sections: list[bytes]) -> int | None:
    """Decoded point count of a point-cloud stream, read from its geometry parameters (octree codecs)
    or from the Draco payload's header, without decoding the geometry; None if it cannot be read."""
    import struct

    layouts = {"octree-adaptive": ("<3ddBIB", 5), "octree-pc": ("<3ddBI", 5), "octree-dense": ("<3ddBI", 5)}
    if codec in layouts and sections:
        layout, field = layouts[codec]
        if len(sections[0]) == struct.calcsize(layout):
            return int(struct.unpack(layout, sections[0])[field])
    if codec == "draco" and len(sections) == 2:
        try:
            import DracoPy

            return len(DracoPy.decode(sections[1]).points)
        except Exception:  # info never fails on a payload it cannot read
            return None
    return None
