#!/usr/bin/env bash
# GPU device check (run from anywhere; it works on the repo this script lives in):
#   1. CUDA kernel tests (tests/test_rans_cuda.py)   2. GPU<->CPU bit-exactness of every shipped learned
#   image codec x every coder backend   3. entropy-coding GPU benchmark   4. short `ncodec train --device
#   cuda --amp` run; each step time-boxed, a failed step does not stop the next. Details: scripts/device_check.py.
#
#   bash scripts/device_check.sh [OUTDIR] [--dry-run-cpu] [--only kernels,bitexact,bench,train] [--budget S]
#
# Output folder: $OUT if set, else OUTDIR, else runs/device-check/ (device-check.json, device-check.log,
# bench-entropy-coding.json, train-log.csv). Python: .venv/bin/python when it imports torch, else python3
# (a bare GPU machine: ncodec is then built into a scratch folder, wheels in .whl/ are installed there too).
# Exit status: 0 pass, 1 a step failed, 2 usage, 3 no usable CUDA GPU (one line on stderr, nothing run).
set -u
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

out="${OUT:-}"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then  # a first argument that is not an option: the output folder
    [ -z "$out" ] && out="$1"
    shift
fi
out="${out:-$REPO/runs/device-check}"

py=""
note=""
if [ -x "$REPO/.venv/bin/python" ]; then
    if "$REPO/.venv/bin/python" -c "import torch" >/dev/null 2>&1; then
        py="$REPO/.venv/bin/python"
        note="$py (the project's .venv)"
    else
        note="$REPO/.venv/bin/python is present but cannot import torch; "
    fi
else
    note="no .venv in $REPO; "
fi
if [ -z "$py" ]; then
    if command -v python3 >/dev/null 2>&1; then
        py="$(command -v python3)"
        note="${note}using $py"
    else
        echo "device_check: no Python: ${note}and no python3 on PATH" >&2
        exit 2
    fi
fi
export DEVICE_CHECK_PYTHON_NOTE="$note"
exec "$py" "$REPO/scripts/device_check.py" --out "$out" "$@"
