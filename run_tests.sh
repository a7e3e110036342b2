#!/usr/bin/env bash
# Run the test suite: every test but the slow ones, on one pytest-xdist worker per core (one
# BLAS thread each).
#   ./run_tests.sh              what CI runs (.ci/run)
#   ./run_tests.sh --unit       the unit tests only (no end-to-end driver runs, no tests that
#                               start processes or import torch): the edit loop
#   ./run_tests.sh -m slow      the slow tests; any other arguments go to pytest
# Creates .venv on first use.
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
    echo "usage: ./run_tests.sh [--unit] [PYTEST_ARGS...]"
    echo "Runs pytest on tests/ with one worker per core (slow tests excluded; '-m slow' runs"
    echo "them; --unit also leaves out the end-to-end tests, those that start processes and"
    echo "those that import torch)."
    exit 0
fi
markers=()
if [ "${1:-}" = "--unit" ]; then
    shift
    markers=(-m "not slow and not e2e and not processes and not torch")
fi
source scripts/bootstrap.sh
# The xdist workers already fill the cores: one BLAS / OpenMP thread each (as the drivers'
# workers run), unless the caller chose otherwise. Threads on top of workers oversubscribe.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" \
    MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
exec "$PYTHON" -m pytest -q -n "${BACKDOOR_CURVES_TEST_WORKERS:-auto}" --dist worksteal "${markers[@]}" "$@"
