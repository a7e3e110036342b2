#!/usr/bin/env bash
# Backdoor learning slope on Imagenette AlexNet features: ./run_imagenette.sh {all|imagenette_60|imagenette_25|imagenette_09|imagenette_full}
DATASET=imagenette
RESULTS="${BACKDOOR_CURVES_RESULTS:-results}/imagenette"
declare -A JOBS=(
    [imagenette_60]="-pair 6-0"
    [imagenette_25]="-pair 2-5"
    [imagenette_09]="-pair 0-9"
    [imagenette_full]="--double-trigger"
)
ALL_RUNS=("-pair 6-0,2-5,0-9" "${JOBS[imagenette_full]}")
HELP="usage: ./run_imagenette.sh {all|imagenette_60|imagenette_25|imagenette_09|imagenette_full} [DRIVER FLAGS...]

Backdoor learning slope sweeps on Imagenette class pairs (invisible trigger 75/255) on
frozen AlexNet fc7 features. imagenette_full: the network experiment (ResNet18/50 fine-tuned
with beta-weighted poisons into results/imagenette/nn; flags: see
python src/experiments/nn/backdoor_slope.py --help).
Needs imagenette2-320 under --data-dir, or --download. NOTE: the AlexNet feature extractor is
not part of this release yet; the driver stops with a clear message until it is."
if [ "${1:-}" = imagenette_full ]; then
    # The paper's network experiment (SPEC 5.6): ResNet18/50 fine-tuned on 10-class Imagenette.
    set -euo pipefail
    shift
    cd "$(dirname "$0")"
    source scripts/bootstrap.sh
    exec "$PYTHON" src/experiments/nn/backdoor_slope.py --profile paper \
        --out-dir "$RESULTS/nn" "$@"
fi
source "$(dirname "$0")/scripts/slope_driver.sh"
