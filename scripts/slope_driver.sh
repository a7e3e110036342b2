# shellcheck shell=bash
# Shared body of run_mnist.sh, run_cifar.sh and run_imagenette.sh: source it after setting
#   DATASET  dataset name for --dataset and results/<dir>
#   RESULTS  results folder (results/mnist, ...)
#   JOBS     associative array: job name -> slope-driver arguments ("" for the special job "all")
#   ALL_JOBS the jobs "all" runs, in order
#   HELP     text printed by --help
# It bootstraps the environment, runs the job(s) with the slope driver, then draws the figures.

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
# default runs one worker per core.
default_jobs="$(nproc 2>/dev/null || echo 1)"
_run_job() {
    local name="$1"
    shift
    echo "[$DATASET] job $name" >&2
    # shellcheck disable=SC2086  # JOBS entries are word lists on purpose
    "$PYTHON" -m backdoor_curves.experiments.binary.slope --dataset "$DATASET" \
        --n-jobs "$default_jobs" ${JOBS[$name]} "$@"
}

if [ "$job" = all ]; then
    for name in "${ALL_JOBS[@]}"; do
        _run_job "$name" "$@"
    done
else
    _run_job "$job" "$@"
fi
"$PYTHON" -m backdoor_curves.plots "$RESULTS" --only slope
