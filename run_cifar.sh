#!/usr/bin/env bash
# Backdoor learning slope on CIFAR-10 AlexNet features (docs/drivers.md, docs/data.md): ./run_cifar.sh {all|cifar_60|cifar_25|cifar_09|double_trigger}
DATASET=cifar10
RESULTS="${BACKDOOR_CURVES_RESULTS:-runs}/cifar"
declare -A JOBS=(
    [cifar_60]="-pair 6-0"
    [cifar_25]="-pair 2-5"
    [cifar_09]="-pair 0-9"
    [double_trigger]="-pair 6-0 --double-trigger"
)
ALL_RUNS="-pair 6-0,2-5,0-9 --also-double-trigger 6-0"
HELP="usage: ./run_cifar.sh {all|cifar_60|cifar_25|cifar_09|double_trigger} [DRIVER FLAGS...]

Backdoor learning slope sweeps on CIFAR-10 class pairs (badnet 8x8; double_trigger: 16x16 on
6-0) on frozen AlexNet fc7 features (4096-d), over the paper's grids (linear C in
geomspace(1e-4, 100, 10), RBF C in geomspace(0.1, 100, 10) x gamma in geomspace(1e-4, 1e-2, 5),
seeds 1,10,11,100,101, 10% poisons, 1,500 train / 500 test per pair), then figures F3-F5.
Needs CIFAR-10 (torchvision's cifar-10-batches-py) under --data-dir (or \$BACKDOOR_CURVES_DATA,
else ./data), or --download; and AlexNet's ImageNet weights: torchvision's
alexnet-owt-7be5be79.pth in the torch hub cache (\$TORCH_HOME/hub/checkpoints), --weights PATH,
or --download. Features are extracted once (--device auto|cpu|cuda) into DATA_DIR/features
(--feature-cache DIR) before the grid runs; re-runs and other drivers reuse them.
Tables: runs/cifar/slope/<pair>_<trigger>/results.csv (+ manifest.json with the weights'
SHA-256); figures: runs/cifar/figures/ (BACKDOOR_CURVES_RESULTS or --out-dir move them).
--profile smoke: one pair, 20 train / 10 test images, a tiny grid (seconds on CPU).
Extra flags go to the driver: backdoor-curves slope --help (or python -m backdoor_curves slope --help)"
source "$(dirname "$0")/scripts/slope_driver.sh"
