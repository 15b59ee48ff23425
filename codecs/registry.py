"""Codec registry: names, modality, quality meaning, and how to load each codec.

The table below is plain data, so listing codecs, routing a path by the codec's modality or printing
``--help`` never imports torch; a codec's implementation module is imported only when ``load_codec``
asks for it (``tests/test_registry.py`` checks that each description equals its class's own).
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ncodec.errors import ModelMismatchError, UsageError

NO_WEIGHTS_NEEDED = "none needed"


@dataclass(frozen=True)
class CodecSpec:
    """What the registry knows about a codec without importing it."""

    name: str
    modality: str  # image, video, pointcloud, mesh, or task (decodes to labels)
    description: str
    quality: str  # what --quality means for this codec
    family: str  # learned-image, classical, pointcloud, learned-pointcloud, mesh, video, task
    needs_weights: bool = False


_LEARNED_IMAGE_QUALITY = "float in [1, levels of the weights] (shipped weights: 1-4), higher is better"
_BIT_DEPTH = "bit depth, integer 1-20"

REGISTRY: dict[str, CodecSpec] = {s.name: s for s in (
    CodecSpec("factorized", "image", "Ballé 2018 factorized prior, variable rate (gain vectors)",
              _LEARNED_IMAGE_QUALITY, "learned-image", True),
    CodecSpec("hyperprior", "image", "Ballé 2018 scale hyperprior, variable rate, fixed-point entropy path",
              _LEARNED_IMAGE_QUALITY, "learned-image", True),
    CodecSpec("mean-scale-hyperprior", "image",
              "Minnen 2018 mean-scale hyperprior, variable rate, fixed-point entropy path (default)",
              _LEARNED_IMAGE_QUALITY, "learned-image", True),
    CodecSpec("checkerboard-channel", "image",
              "parallel context model (channel slices + checkerboard, ELIC style), variable rate, "
              "fixed-point context nets, 2 decoding passes per slice", _LEARNED_IMAGE_QUALITY, "learned-image", True),
    CodecSpec("checkerboard-channel-gmm", "image",
              "the parallel context model with a 3-component Gaussian mixture per symbol (Cheng 2020 / ELIC "
              "style), mixture parameters from fixed-point nets, per-symbol CDFs by integer arithmetic",
              _LEARNED_IMAGE_QUALITY, "learned-image", True),
    CodecSpec("mcq", "image",
              "multi-codebook vector quantisation over 3 cascaded scales with a unified Gaussian-mixture prior "
              "(McQuic), integer code-frequency tables, no context model; rate points by dropping the finest "
              "stages and groups", "integer 1-5 (coded stages and groups), higher is better", "learned-image", True),
    CodecSpec("walloc", "image",
              "WaLLoC-style codec: CDF 9/7 wavelet packet transform (3 levels) around a shallow autoencoder "
              "(about 1,300 multiply-adds per pixel to encode), factorized entropy bottleneck, variable rate; "
              "its latents feed compressed-domain models", _LEARNED_IMAGE_QUALITY, "learned-image", True),
    CodecSpec("ocr-text", "image",
              "OCR-oriented text-page codec: luma-only factorized-prior autoencoder trained on generated text "
              "pages (fonts and text unlike the evaluation pages); decodes to a grey page, variable rate",
              _LEARNED_IMAGE_QUALITY, "learned-image", True),
    CodecSpec("task-fmnist", "task",
              "supervised compression for Fashion-MNIST classification (Entropic Student): encoder, entropy "
              "bottleneck and student head trained jointly; decodes 28x28 greyscale tiles to class labels",
              "integer 1-5 (rate level), higher is better", "task", True),
    CodecSpec("jpeg", "image", "JPEG baseline (Pillow / libjpeg-turbo, 4:2:0), integer quality 1-95",
              "integer 1-95, higher is better", "classical"),
    CodecSpec("webp", "image", "WebP lossy (Pillow / libwebp, method 6), integer quality 0-100",
              "integer 0-100, higher is better", "classical"),
    CodecSpec("avif", "image", "AVIF (Pillow / libavif, 4:4:4, speed 6), integer quality 0-100",
              "integer 0-100, higher is better", "classical"),
    CodecSpec("jpeg2000", "image", "JPEG 2000 (Pillow / OpenJPEG, 9/7 wavelet, colour transform), quality = "
              "target PSNR in dB (20-60)", "target PSNR in dB, integer 20-60", "classical"),
    CodecSpec("jpeg-xl", "image", "JPEG XL (libjxl via imagecodecs, effort 7), quality 1-99 as cjxl -q",
              "integer 1-99 as cjxl -q, higher is better", "classical"),
    CodecSpec("hevc-intra", "image", "HEVC intra (x265 via PyAV, 4:4:4, tune psnr, preset medium), quality = QP "
              "0-51 (lower is better)", "QP, integer 0-51, lower is better", "classical"),
    CodecSpec("png", "image", "PNG, lossless reference (Pillow / zlib), quality = zlib level 0-9",
              "zlib level 0-9 (lossless at every level)", "classical"),
    CodecSpec("webp-lossless", "image", "WebP lossless reference (Pillow / libwebp, method 6), quality = effort "
              "0-100", "effort 0-100 (lossless at every level)", "classical"),
    CodecSpec("octree-adaptive", "pointcloud", "octree occupancy, context-conditioned adaptive frequency model "
              "(G-PCC style neighbour contexts), lossless at the bit depth", _BIT_DEPTH, "pointcloud"),
    CodecSpec("draco", "pointcloud", "Draco point-cloud geometry (DracoPy, compression level 10) on the same "
              "voxel grid", _BIT_DEPTH, "pointcloud"),
    CodecSpec("octree-pc", "pointcloud", "octree occupancy, learned fixed-point context model (26-neighbour, "
              "sibling and decoded-neighbour features, 2 passes per level), lossless at the bit depth",
              _BIT_DEPTH, "learned-pointcloud", True),
    CodecSpec("octree-dense", "pointcloud", "dense-surface octree: binary child occupancy in 8 passes per level, "
              "learned integer MLP over 5x5x5 parent and decoded-child windows, lossless at the bit depth (up to 11 "
              "bits)",
              _BIT_DEPTH, "learned-pointcloud", True),
    CodecSpec("draco-mesh", "mesh", "Draco triangle-mesh coding (DracoPy, level 10); quality = position bits",
              "position bits, integer 1-20", "mesh"),
    CodecSpec("inr-video", "video", "INR video (NIRVANA-style patch networks per group of 16 frames, initialised "
              "from the previous group, quantisation-aware fitting, Laplace-coded weight changes); quality 1-5",
              "integer 1-5 (network size and weight precision), higher is better", "video"),
)}
DEFAULT_CODEC = "mean-scale-hyperprior"

# Where each family's implementation lives (imported on first use only).
_CLASSES = {"pointcloud": {"octree-adaptive": "OctreeAdaptiveCodec", "draco": "DracoCodec"},
            "mesh": {"draco-mesh": "DracoMeshCodec"}}

_cache: dict[Path, Any] = {}


def get_spec(name: str) -> CodecSpec:
    """The registry entry of ``name``; an unknown name is a usage error that suggests the right one."""
    spec = REGISTRY.get(name)
    if spec is not None:
        return spec
    by_lower = {n.lower(): n for n in REGISTRY}
    fixed = by_lower.get(str(name).lower().replace("_", "-"))
    if fixed is None:
        close = difflib.get_close_matches(str(name).lower(), list(REGISTRY), n=1)
        prefixed = [n for n in REGISTRY if n.startswith(str(name).lower())]
        fixed = close[0] if close else prefixed[0] if len(prefixed) == 1 else None
    hint = f"did you mean {fixed!r}? " if fixed else ""
    raise UsageError(f"unknown codec {name!r}; {hint}available: {', '.join(sorted(REGISTRY))} (see `ncodec models`)")


def modality_of(name: str | None) -> str | None:
    """The modality of a registered codec name; None for None or an unknown name."""
    spec = REGISTRY.get(name) if name is not None else None
    return None if spec is None else spec.modality


def load_codec(name: str, weights: str | Path | None = None, sha_prefix: str | None = None) -> Any:
    """Load a registered codec with explicit weights, or the shipped/NCODEC_WEIGHTS weights.

    ``sha_prefix`` is given when decoding: the bitstream names the codec, so an unknown name there is a
    ``ModelMismatchError`` (a stream this installation cannot decode), not a usage error.
    """
    if name not in REGISTRY and sha_prefix is not None:
        raise ModelMismatchError(f"the bitstream's codec {name!r} is not in this installation")
    spec = get_spec(name)
    if spec.family == "classical":
        from ncodec.codecs.classical import load_classical

        return load_classical(name)
    if spec.family == "video":
        from ncodec.codecs.video_inr import INRVideoCodec

        return INRVideoCodec()
    if spec.family in _CLASSES:
        module = importlib.import_module("ncodec.codecs.pointcloud")
        return getattr(module, _CLASSES[spec.family][name])()
    from ncodec.models.zoo import find_weights

    path = (Path(weights) if weights is not None else find_weights(name, sha_prefix)).resolve()
    if spec.family == "task":
        if path not in _cache:
            from ncodec.codecs.task import TaskClassifierCodec

            _cache[path] = TaskClassifierCodec(path)
        return _cache[path]
    if spec.family == "learned-pointcloud":
        if path not in _cache:
            from ncodec.codecs.pointcloud import OctreeDenseCodec, OctreeLearnedCodec

            cls = OctreeDenseCodec if name == OctreeDenseCodec.name else OctreeLearnedCodec
            _cache[path] = cls(str(path))
        return _cache[path]
    if path not in _cache:
        from ncodec.codecs.image import LearnedImageCodec

        _cache[path] = LearnedImageCodec.from_file(path)
    codec = _cache[path]
    if codec.name != name:
        raise ModelMismatchError(f"weight file {path.name} holds a {codec.name!r} model, not {name!r}")
    return codec


def list_codecs() -> list[dict[str, object]]:
    """Registered codecs with their shipped weights (if any) and what their quality means."""
    from ncodec.models.zoo import manifest

    shipped = {e["codec"]: e for e in manifest() if e.get("default")}
    return [{"name": s.name, "modality": s.modality, "description": s.description, "quality": s.quality,
             "weights": shipped.get(s.name, {}).get("file") if s.needs_weights else NO_WEIGHTS_NEEDED,
             "qualities": shipped.get(s.name, {}).get("qualities")}
            for s in REGISTRY.values()]
