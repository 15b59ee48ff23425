"""Quantisation-aware fine-tuning of the default codec's int8 encoder transform (issue 20;
training/intsynth.py ``run_intanalysis_training``).

    .venv/bin/python scripts/train_intanalysis.py --out runs/intanalysis --steps 1500 --threads 1

Starts from the analysis program of ``--intsynth`` (its calibration and g_a), trains g_a through the
int8 rounding points on the codec's RD loss with everything else frozen, and writes OUT/intsynth.ncw:
the same synthesis program with the tuned analysis program. OUT/checkpoint.pt resumes with --resume.
"""

from __future__ import annotations

import argparse
import sys

from ncodec.cli import run_reporting_errors


def main() -> int:
    from ncodec.training.intsynth import add_intanalysis_arguments, run_intanalysis_training

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_intanalysis_arguments(p)
    args = p.parse_args()
    path = run_intanalysis_training(args)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main))
