# shellcheck shell=bash
# Shared body of run_mnist.sh, run_cifar.sh and run_imagenette.sh: source it after setting
#   DATASET  dataset name for --dataset and results/<dir>
#   RESULTS  results folder (results/mnist, ...; the root "results" can be moved with the
#            BACKDOOR_CURVES_RESULTS environment variable)
#   JOBS     associative array: job name -> slope-driver arguments
#   ALL_RUNS the driver arguments of "all": one invocation, so its pairs and triggers share one
#            worker pool, its caches and one stream of tasks (--also-double-trigger adds the
#            double-trigger runs)
#   HELP     text printed by --help
# It bootstraps the environment and runs the job with the slope driver, which ends by drawing
# the figures of the tables of its data variant (--out-dir, --profile, --n-train/--n-test/
# --data-seed and --run-name select the tables and the figures folder exactly as they selected
# where the tables went; --no-figures skips them).

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
    "$PYTHON" -m backdoor_curves slope --dataset "$DATASET" \
        --out-dir "$RESULTS" $job_args "$@"
}

if [ "$job" = all ]; then
    _run_slope "$ALL_RUNS" "$@"
else
    _run_slope "${JOBS[$job]}" "$@"
fi
