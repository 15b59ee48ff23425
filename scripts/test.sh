#!/usr/bin/env bash
# Run the test suite (unit, property, round-trip, golden-bitstream and fuzz tests).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest tests "$@"
