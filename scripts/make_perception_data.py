"""Write the generated perception data sets into a work folder (default runs/perception-data):
OCR pages (``pages/``: PNG + ground-truth .txt) and the face set (``faces/``: Kodak + composites)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ncodec.datasets.facesets import generate_face_set
from ncodec.datasets.textpages import generate_pages


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/perception-data")
    p.add_argument("--pages", type=int, default=10)
    p.add_argument("--composites", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    # The face set is cut from Kodak: check the data is there before writing anything.
    from ncodec.datasets.catalog import dataset_files

    dataset_files("kodak")
    pages = generate_pages(Path(a.out) / "pages", count=a.pages, seed=a.seed)
    chars = sum(len(" ".join(path.with_suffix(".txt").read_text(encoding="utf-8").split())) for path in pages)
    print(f"{len(pages)} pages, {chars} characters -> {Path(a.out) / 'pages'}")
    faces = generate_face_set(Path(a.out) / "faces", composites=a.composites, seed=a.seed)
    print(f"{len(faces)} face-set images -> {Path(a.out) / 'faces'}")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
