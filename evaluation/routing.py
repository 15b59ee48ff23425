"""Which evaluation ``ncodec eval`` runs: decided by the codec's modality first, then by the files.

Kept free of torch and of the evaluators themselves, so a wrong codec name fails at once.
"""

from __future__ import annotations

import os
from pathlib import Path

from ncodec.errors import UsageError

# Video codecs that exist for evaluation only (PyAV's x264/x265; no .ncd bitstream of their own).
VIDEO_BASELINES = ("x264", "x265")


def eval_route(dataset: str | os.PathLike, codec: str) -> str:
    """``"image"``, ``"video"`` or ``"pointcloud"`` for ``ncodec eval DATASET --codec CODEC``.

    Video and 3D codecs always get their evaluator. An image codec evaluates the images of a folder
    (clips beside them are ignored); it codes frame by frame only when given a clip, or a folder that
    holds clips and no images (a folder of single-frame ``.y4m`` files holds 4:2:0 stills: images).
    """
    if codec in VIDEO_BASELINES:
        return "video"
    from ncodec.codecs.registry import REGISTRY, get_spec

    if codec not in REGISTRY and str(codec).lower() in VIDEO_BASELINES:
        raise UsageError(f"unknown codec {codec!r}; did you mean {str(codec).lower()!r}?")

    modality = get_spec(codec).modality
    if modality == "mesh":
        raise UsageError(f"{codec} codes triangle meshes; `ncodec eval` measures point clouds "
                         "(use octree-pc, octree-adaptive or draco)")
    if modality != "image":
        return modality
    from ncodec.codecs.imageio import IMAGE_SUFFIXES
    from ncodec.codecs.videoio import VIDEO_SUFFIXES

    path = Path(dataset)
    from ncodec.codecs.pointio import POINT_SUFFIXES

    if path.is_file() and path.suffix.lower() in POINT_SUFFIXES:
        raise UsageError(f"{codec} codes images, and {path.name} is a 3D file; use octree-pc, octree-adaptive or draco")
    if path.is_file():
        return "video" if path.suffix.lower() in VIDEO_SUFFIXES | {".yuv"} else "image"
    if not path.is_dir():
        return "image"  # the image evaluator names the missing folder
    suffixes = {f.suffix.lower() for f in path.iterdir() if f.is_file()}
    if suffixes & set(IMAGE_SUFFIXES):
        return "image"
    from ncodec.codecs.yuvstill import is_y4m_still

    if ".y4m" in suffixes and all(is_y4m_still(f) for f in path.iterdir() if f.suffix.lower() == ".y4m"):
        return "image"  # a folder of 4:2:0 stills (single-frame y4m), measured with PSNR-Y/U/V
    return "video" if suffixes & (VIDEO_SUFFIXES | {".yuv"}) else "image"
