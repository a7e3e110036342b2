# shellcheck shell=bash
# Shared body of run_mnist.sh, run_cifar.sh and run_imagenette.sh: source it after setting
#   DATASET  dataset name for --dataset and results/<dir>
#   RESULTS  results folder (results/mnist, ...; the root "results" can be moved with the
#            BACKDOOR_CURVES_RESULTS environment variable)
#   JOBS     associative array: job name -> slope-driver arguments
#   ALL_RUNS the driver argument lists that "all" runs, in order (pairs of one trigger share
#            one invocation, so the worker pool and its caches are reused)
#   HELP     text printed by --help
# It bootstraps the environment, runs the job(s) with the slope driver, then draws the figures
# of the tables the runs just wrote: the figure step is the slope driver again with the same
# extra flags and --figures-only, so --out-dir, --profile, --n-train/--n-test/--data-seed (the
# results-folder suffix) and --run-name select the tables and the figures folder exactly as they
# selected where the tables went.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

_usage() {
    printf '%s\n' "$HELP"
}

job="${1:-}"
if [ -z "$job" ]; then
    _usage >&2
    exit 2
fi
shift
case "$job" in
    -h|--help) _usage; exit 0 ;;
esac
if [ "$job" != all ] && [ -z "${JOBS[$job]+set}" ]; then
    echo "error: unknown job '$job'; valid jobs: all ${!JOBS[*]}" >&2
    exit 2
fi

source scripts/bootstrap.sh

# Extra arguments (e.g. --data-dir, --n-jobs 4, --force, --quiet) go to every run; the
# driver runs one worker per core unless told otherwise.
_run_slope() {
    local job_args="$1"
    shift
    # shellcheck disable=SC2086  # job arguments are word lists on purpose
    "$PYTHON" -m backdoor_curves.experiments.binary.slope --dataset "$DATASET" \
        --out-dir "$RESULTS" $job_args "$@"
}

if [ "$job" = all ]; then
    for run in "${ALL_RUNS[@]}"; do
        _run_slope "$run" "$@"
    done
else
    _run_slope "${JOBS[$job]}" "$@"
fi
"$PYTHON" -m backdoor_curves.experiments.binary.slope --dataset "$DATASET" --out-dir "$RESULTS" \
    --figures-only "$@"
