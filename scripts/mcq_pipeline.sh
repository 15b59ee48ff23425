#!/usr/bin/env bash
# From a finished mcq training run to shipped weights (issue 16): export, tune the encoder's rate
# weights on the held-out photos, Kodak RD + exactness + threads, fuzzing on both coders, decode
# speed beside the other families, then the weight zoo and its manifest. Every step writes its results
# under results/ or benchmarks/; read them before committing.
#
#   scripts/mcq_pipeline.sh RUN_DIR WEIGHT_NAME "TRAINING COMMAND" [SEED_WEIGHTS.ncw]
# (SEED_WEIGHTS: the shipped file whose transforms seeded the run, scripts/mcq_init_from_msh.py)
# The manifest entry takes its Kodak figures from results/kodak-mcq.json. The recipe it records is the
# training and tuning commands only; a seeded run also needs its seeding command in the manifest, so
# run 6 was shipped by hand with one --recipe per command (see its manifest entry).
#   e.g. scripts/mcq_pipeline.sh runs/mcq-ecvq-full mcq-vr-n64m64-ecvq.ncw "$(tail -1 runs/mcq-ecvq-full/RECIPE.txt)"
set -euo pipefail
RUN=${1:?run folder}
NAME=${2:?weight file name}
RECIPE=${3:?training command}
SEEDED=${4:-}
PY=.venv/bin/python
.venv/bin/ncodec export "$RUN/checkpoint.pt" "$RUN/model.ncw"
TUNE="$PY scripts/mcq_tune_rd.py --weights $RUN/model.ncw --out $RUN/tuned.ncw --relative"
$PY scripts/mcq_tune_rd.py --weights "$RUN/model.ncw" --out "$RUN/tuned.ncw" --relative
$PY scripts/mcq_kodak.py --weights "$RUN/tuned.ncw" --out results/kodak-mcq.json
$PY scripts/fuzz.py --codec mcq --weights "$RUN/tuned.ncw" --cases 20000
$PY scripts/fuzz.py --codec mcq --weights "$RUN/tuned.ncw" --cases 20000 --backend compressai
$PY benchmarks/decode_families.py --mcq-weights "$RUN/tuned.ncw"
$PY scripts/ship_weights.py "$RUN/checkpoint.pt" --tuned "$RUN/tuned.ncw" --name "$NAME" --qualities 1,2,3,4,5 \
    --recipe "$RECIPE" --recipe "$TUNE" --kodak results/kodak-mcq.json --default ${SEEDED:+--seeded-from "$SEEDED"}
