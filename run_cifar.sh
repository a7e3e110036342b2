#!/usr/bin/env bash
# Backdoor learning slope on CIFAR-10 AlexNet features: ./run_cifar.sh {all|cifar_60|cifar_25|cifar_09|double_trigger}
DATASET=cifar10
RESULTS="${BACKDOOR_CURVES_RESULTS:-results}/cifar"
declare -A JOBS=(
    [cifar_60]="-pair 6-0"
    [cifar_25]="-pair 2-5"
    [cifar_09]="-pair 0-9"
    [double_trigger]="-pair 6-0 --double-trigger"
)
ALL_RUNS=("-pair 6-0,2-5,0-9" "${JOBS[double_trigger]}")
HELP="usage: ./run_cifar.sh {all|cifar_60|cifar_25|cifar_09|double_trigger} [DRIVER FLAGS...]

Backdoor learning slope sweeps on CIFAR-10 class pairs (badnet 8x8; double_trigger: 16x16 on
6-0) on frozen AlexNet fc7 features. Needs CIFAR-10 (python batches) under --data-dir, or
--download. NOTE: the AlexNet feature extractor is not part of this release yet; the driver
stops with a clear message until it is."
source "$(dirname "$0")/scripts/slope_driver.sh"
