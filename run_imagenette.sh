#!/usr/bin/env bash
# Backdoor learning slope on Imagenette AlexNet features: ./run_imagenette.sh {all|imagenette_60|imagenette_25|imagenette_09|imagenette_full}
DATASET=imagenette
RESULTS="${BACKDOOR_CURVES_RESULTS:-runs}/imagenette"
declare -A JOBS=(
    [imagenette_60]="-pair 6-0"
    [imagenette_25]="-pair 2-5"
    [imagenette_09]="-pair 0-9"
    [imagenette_full]="--double-trigger"
)
ALL_RUNS="-pair 6-0,2-5,0-9 --also-double-trigger 6-0,2-5,0-9"
HELP="usage: ./run_imagenette.sh {all|imagenette_60|imagenette_25|imagenette_09|imagenette_full} [DRIVER FLAGS...]

Backdoor learning slope sweeps on Imagenette class pairs (invisible trigger 75/255; in 'all'
also the faint 10/255 trigger on the three pairs) on frozen AlexNet fc7 features, over the paper's grids
(linear C in geomspace(1e-5, 100, 10), RBF C in geomspace(0.1, 1e3, 10) x gamma in
geomspace(1e-5, 1e-3, 5), seeds 1,10,11,100,101, 10% poisons), then figures F3-F5.
imagenette_full: the network experiment (ResNet18/50 fine-tuned with beta-weighted poisons
into runs/imagenette/nn; flags: see backdoor-curves nn --help).
Needs imagenette2-320 (torchvision's Imagenette or an ImageFolder tree: train/ and val/ with
the ten WordNet-id folders) under --data-dir (or \$BACKDOOR_CURVES_DATA, else ./data), or
--download; and AlexNet's ImageNet weights: alexnet-owt-7be5be79.pth in the torch hub cache
(\$TORCH_HOME/hub/checkpoints), --weights PATH, or --download. Features are extracted once
(--device auto|cpu|cuda) into DATA_DIR/features (--feature-cache DIR) before the grid runs.
Tables: runs/imagenette/slope/<pair>_<trigger>/results.csv; figures: runs/imagenette/figures/.
--profile smoke: one pair, 20 train / 10 test images, a tiny grid (seconds on CPU).
Extra flags go to the driver: backdoor-curves slope --help (or python -m backdoor_curves slope --help)"
if [ "${1:-}" = imagenette_full ]; then
    # The paper's network experiment (docs/networks.md): ResNet18/50 fine-tuned on 10-class Imagenette.
    set -euo pipefail
    shift
    cd "$(dirname "$0")"
    source scripts/bootstrap.sh
    exec "$PYTHON" -m backdoor_curves nn --profile paper \
        --out-dir "$RESULTS/nn" "$@"
fi
source "$(dirname "$0")/scripts/slope_driver.sh"
