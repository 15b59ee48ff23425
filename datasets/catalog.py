"""Named image datasets (Kodak, CLIC, the shared training photographs) with manifests and checksums.

A manifest lists each file of a split with its size and sha256. ``dataset_files`` resolves a name to
its folder under the data root, checks that the files the manifest names are present (the error names
the missing ones and where they were expected) and, with ``verify=True``, that their checksums match.
Nothing is ever downloaded. Kodak's manifest ships with ncodec; CLIC's cannot (its files were not
available offline to hash), so for CLIC the layout is checked and ``ncodec dataset manifest`` writes a
manifest of a local copy that later runs verify against.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ncodec.datasets.images import data_root, list_images
from ncodec.errors import UnsupportedInputError
from ncodec.fileutil import sha256_file

MANIFESTS = Path(__file__).resolve().parent / "manifests"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    splits: dict[str, str]  # split -> folder relative to the data root
    manifest: str | None  # shipped manifest file name, if any
    note: str


DATASETS = {
    "kodak": DatasetSpec("kodak", {"test": "kodak"}, "kodak.json",
                         "Kodak Lossless True Color Image Suite, 24 images; benchmark only, never train on it"),
    "clic": DatasetSpec("clic", {"train": "clic/train", "valid": "clic/valid", "test": "clic/test"}, None,
                        "CLIC (Challenge on Learned Image Compression) professional/mobile images; put the "
                        "unpacked train/valid/test folders under $NCODEC_DATA/clic/"),
    "photos-train": DatasetSpec("photos-train", {"train": "photos-train"}, "photos-train.json",
                                "39 Wikimedia Commons photographs, downsampled; attributions in photos-train/SOURCES.md beside "
                                "the images; training and validation only"),
}


# Data read by the video and 3D readers (``datasets/video.py``, ``codecs/pointio.py``): folder under the
# data root and what it holds. Listed by ``ncodec dataset list``; the README's Data section says where
# each comes from.
OTHER_DATA = {
    "uvg": ("uvg", "UVG raw 4:2:0 clips, *_1920x1080_120fps_420_8bit_YUV.yuv (video benchmark)"),
    "vimeo90k": ("vimeo_septuplet", "Vimeo-90k septuplets with sep_trainlist.txt / sep_testlist.txt (video training)"),
    "video": ("video", "clips in any container PyAV reads (mp4, mkv, avi, mpg, y4m, ...)"),
    "3d": ("3d", "meshes and point clouds (off, ply, pcd, obj, stl, xyz); 3d/train for training 3D models"),
}


def build_manifest(folder: str | os.PathLike[str]) -> dict:
    """Manifest of every image of a folder: {"files": {name: {"bytes": n, "sha256": hex}}}."""
    files = list_images(folder)
    return {"files": {p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in files}}


def load_manifest(path: str | os.PathLike[str]) -> dict:
    try:
        doc = json.loads(Path(path).read_text())
        if not isinstance(doc.get("files"), dict):
            raise ValueError("no 'files' object")
        return doc
    except (OSError, ValueError, AttributeError) as exc:
        raise UnsupportedInputError(f"cannot read manifest {path}: {exc}") from None


def verify_folder(folder: Path, manifest: dict, checksums: bool = True) -> list[Path]:
    """Files of ``folder`` named by ``manifest`` after checking presence, sizes and (optionally) sha256."""
    entries = manifest["files"]
    missing = [name for name in entries if not (folder / name).is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise UnsupportedInputError(f"{len(missing)} of {len(entries)} files missing in {folder}: {shown}")
    for name, entry in entries.items():
        path = folder / name
        if path.stat().st_size != entry["bytes"] or (checksums and sha256_file(path) != entry["sha256"]):
            raise UnsupportedInputError(f"{path} differs from the manifest (size or sha256): a different file")
    return [folder / name for name in sorted(entries)]


def dataset_files(name: str, split: str | None = None, root: str | os.PathLike[str] | None = None,
                  verify: bool = False, manifest: str | os.PathLike[str] | None = None) -> list[Path]:
    """Image files of a named dataset split, checked against its manifest (shipped or given)."""
    if name not in DATASETS:
        raise UnsupportedInputError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    split = split or next(iter(spec.splits))
    if split not in spec.splits:
        raise UnsupportedInputError(f"{name} has splits {', '.join(spec.splits)}, not {split!r}")
    folder = Path(root) if root is not None else data_root()
    folder = folder / spec.splits[split]
    if not folder.is_dir():
        raise UnsupportedInputError(f"{name} {split} not found at {folder} ({spec.note}; nothing is downloaded: "
                                    "set NCODEC_DATA to the data root, see the README's Data section)")
    doc = load_manifest(manifest) if manifest else (
        load_manifest(MANIFESTS / spec.manifest) if spec.manifest else None)
    if doc is None:
        return list_images(folder)
    return verify_folder(folder, doc, checksums=verify)


def resolve_data(spec: str) -> list[Path]:
    """``NAME:SPLIT`` (e.g. ``clic:train``) or a folder path -> image files."""
    if ":" in spec and not Path(spec).exists():
        name, split = spec.split(":", 1)
        if name == "kodak":
            raise UnsupportedInputError("Kodak is the benchmark: ncodec does not train on it")
        return dataset_files(name, split)
    return list_images(spec)


def training_split(data: str | None, val_count: int) -> tuple[list[Path], list[Path]]:
    """(training files, the last ``val_count`` held out) of ``--data`` (default photos-train); a
    one-line error when too few images remain."""
    files = resolve_data(data) if data else dataset_files("photos-train")
    if len(files) <= val_count:
        raise UnsupportedInputError(f"need more than {val_count} training images, found {len(files)}")
    return files[: len(files) - val_count], files[len(files) - val_count:]
