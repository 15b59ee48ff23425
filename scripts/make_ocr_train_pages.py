"""Write the OCR codec's training pages into a work folder (default runs/ocr-train-pages): generated text
pages whose fonts, text, sizes and backgrounds all differ from the evaluation pages of
``scripts/make_perception_data.py`` (see ``ncodec.datasets.textpages``)."""

from __future__ import annotations

import argparse
import sys

from ncodec.datasets.textpages import generate_training_pages, training_fonts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/ocr-train-pages")
    p.add_argument("--pages", type=int, default=120)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    pages = generate_training_pages(a.out, count=a.pages, seed=a.seed)
    print(f"{len(pages)} training pages in {len(training_fonts())} fonts -> {a.out}")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
