"""Train a realism generator on a frozen MSE codec (issue 17 item 1; see training/realism.py).

    .venv/bin/python scripts/train_realism.py --base models/weights/msh-vr-n64m96.ncw --out runs/realism \
        --steps 4000 --threads 1

Writes OUT/checkpoint.pt (resumable with --resume), OUT/log.csv and OUT/realism.ncw, which
``ncodec decode --realism R --realism-weights OUT/realism.ncw`` reads.
"""

from __future__ import annotations

import argparse
import sys

from ncodec.cli import run_reporting_errors


def main() -> int:
    from ncodec.training.realism import add_realism_arguments, run_realism_training

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_realism_arguments(p)
    args = p.parse_args()
    path = run_realism_training(args)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main))
