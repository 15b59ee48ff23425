#!/usr/bin/env bash
# Install ncodec and everything it needs into ./.venv (Python 3.11, x86_64).
# torch/torchvision are pinned in the same pip command as compressai (see DESIGN.md): otherwise pip
# swaps in another torch build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]" "torch==2.14.1" "torchvision==0.29.1" "compressai==1.2.8"
.venv/bin/python -c "import ncodec, torch, compressai, constriction; print('ncodec', ncodec.__version__, 'torch', torch.__version__, 'ready')"
