"""The weight zoo: shipped weight files, their manifest, and lookup by codec name or sha256 prefix.

Nothing is downloaded: weights are read from ``models/weights`` (shipped, listed in manifest.json)
and from the folders in ``NCODEC_WEIGHTS`` (os.pathsep-separated), e.g. the output of ``ncodec train``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ncodec.errors import MissingWeightsError
from ncodec.fileutil import sha256_file

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"


def manifest() -> list[dict[str, Any]]:
    """Entries of the shipped manifest (empty when no weights ship)."""
    if not MANIFEST.exists():
        return []
    return list(json.loads(MANIFEST.read_text())["models"])


def task_model_entry(name: str) -> dict[str, Any]:
    """The manifest entry of a shipped perception-task model (e.g. ``fmnist-cnn``)."""
    doc = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    for entry in doc.get("task_models", []):
        if entry["name"] == name:
            return dict(entry)
    raise MissingWeightsError(f"no shipped task model {name!r} in {MANIFEST}")


def realism_entries() -> list[dict[str, Any]]:
    """Shipped realism generators (``realism_models`` of the manifest), each bound to base weights."""
    doc = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    return list(doc.get("realism_models", []))


def integer_synthesis_entries() -> list[dict[str, Any]]:
    """Shipped integer syntheses (``integer_synthesis`` of the manifest), each bound to base weights."""
    doc = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    return list(doc.get("integer_synthesis", []))


def record_manifest_entry(section: str, entry: dict[str, Any], key: str = "file") -> None:
    """Add ``entry`` to the manifest's list ``section``, replacing the entry with the same ``key`` (the
    shipping scripts' last step)."""
    doc = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    doc[section] = [e for e in doc.get(section, []) if e.get(key) != entry[key]] + [entry]
    MANIFEST.write_text(json.dumps(doc, indent=2) + "\n")


def extra_dirs() -> list[Path]:
    env = os.environ.get("NCODEC_WEIGHTS", "")
    return [Path(p) for p in env.split(os.pathsep) if p]


def find_weights(codec: str, sha_prefix: str | None = None) -> Path:
    """Path of a weight file for ``codec`` (the shipped default, or the one whose sha256 starts with
    ``sha_prefix``); raises MissingWeightsError saying where it looked."""
    for entry in manifest():
        if entry["codec"] != codec:
            continue
        if sha_prefix is None and entry.get("default") or sha_prefix and entry["sha256"].startswith(sha_prefix):
            path = WEIGHTS_DIR / entry["file"]
            if path.exists():
                return path
    for folder in extra_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.ncw")):
            if path.name.endswith(".intsyn.ncw"):  # an integer synthesis beside its weights, not weights
                continue
            if sha_prefix is None or sha256_file(path).startswith(sha_prefix):
                return path
    want = f"weights {sha_prefix}…" if sha_prefix else "default weights"
    raise MissingWeightsError(
        f"no {want} for codec {codec!r}: looked in {WEIGHTS_DIR} and NCODEC_WEIGHTS; "
        f"train them with `ncodec train --codec {codec} --out RUN` and pass --weights RUN/model.ncw")
