"""Codec registry: names, modality, quality range, and how to load each codec's weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ncodec.codecs.classical import CLASSICAL, ClassicalImageCodec, load_classical
from ncodec.codecs.image import LearnedImageCodec
from ncodec.codecs.pointcloud import POINTCLOUD_CODECS, OctreeLearnedCodec
from ncodec.codecs.video_inr import INRVideoCodec
from ncodec.errors import ModelMismatchError
from ncodec.models.zoo import find_weights, manifest


@dataclass(frozen=True)
class CodecSpec:
    name: str
    modality: str
    description: str


REGISTRY: dict[str, CodecSpec] = {
    spec.name: spec for spec in (
        CodecSpec("factorized", "image", "Ballé 2018 factorized prior, variable rate (gain vectors)"),
        CodecSpec("hyperprior", "image", "Ballé 2018 scale hyperprior, variable rate, fixed-point entropy path"),
        CodecSpec("mean-scale-hyperprior", "image",
                  "Minnen 2018 mean-scale hyperprior, variable rate, fixed-point entropy path (default)"),
        CodecSpec("checkerboard-channel", "image",
                  "parallel context model (channel slices + checkerboard, ELIC style), variable rate, "
                  "fixed-point context nets, 2 decoding passes per slice"),
    )
} | {name: CodecSpec(name, "image", make().description) for name, make in CLASSICAL.items()} | {
    name: CodecSpec(name, cls.modality, cls.description) for name, cls in POINTCLOUD_CODECS.items()} | {
    INRVideoCodec.name: CodecSpec(INRVideoCodec.name, "video", INRVideoCodec.description)}
DEFAULT_CODEC = "mean-scale-hyperprior"

_cache: dict[Path, LearnedImageCodec | OctreeLearnedCodec] = {}


def load_codec(name: str, weights: str | Path | None = None,
               sha_prefix: str | None = None) -> LearnedImageCodec | ClassicalImageCodec:
    """Load a registered codec with explicit weights, or the shipped/NCODEC_WEIGHTS weights."""
    if name not in REGISTRY:
        raise ModelMismatchError(f"unknown codec {name!r}; available: {', '.join(sorted(REGISTRY))}")
    if name in CLASSICAL:
        return load_classical(name)
    if name == INRVideoCodec.name:
        return INRVideoCodec()
    if name in POINTCLOUD_CODECS:
        if POINTCLOUD_CODECS[name] is not OctreeLearnedCodec:
            return POINTCLOUD_CODECS[name]()
        path = (Path(weights) if weights is not None else find_weights(name, sha_prefix)).resolve()
        if path not in _cache:
            _cache[path] = OctreeLearnedCodec(str(path))
        return _cache[path]
    path = Path(weights) if weights is not None else find_weights(name, sha_prefix)
    path = path.resolve()
    if path not in _cache:
        _cache[path] = LearnedImageCodec.from_file(path)
    codec = _cache[path]
    if codec.name != name:
        raise ModelMismatchError(f"weight file {path.name} holds a {codec.name!r} model, not {name!r}")
    return codec


def list_codecs() -> list[dict[str, object]]:
    """Registered codecs with their shipped weights (if any)."""
    shipped = {e["codec"]: e for e in manifest() if e.get("default")}
    return [{"name": s.name, "modality": s.modality, "description": s.description,
             "weights": "none needed" if s.name in CLASSICAL or s.name in ("octree-adaptive", "draco", "draco-mesh", "inr-video") else shipped.get(s.name, {}).get("file"),
             "qualities": shipped.get(s.name, {}).get("qualities")}
            for s in REGISTRY.values()]
