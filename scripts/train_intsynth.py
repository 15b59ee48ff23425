"""Quantisation-aware fine-tuning of the default codec's integer synthesis (issue 20; training/intsynth.py).

    .venv/bin/python scripts/train_intsynth.py --out runs/intsynth --steps 2000 --threads 2

Writes OUT/checkpoint.pt (resumable with --resume), OUT/log.csv and OUT/intsynth.ncw (the integer
program, keyed by the base weight file's sha256).
"""

from __future__ import annotations

import argparse
import sys

from ncodec.cli import run_reporting_errors


def main() -> int:
    from ncodec.training.intsynth import add_intsynth_arguments, run_intsynth_training

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_intsynth_arguments(p)
    args = p.parse_args()
    path = run_intsynth_training(args)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main))
