#!/usr/bin/env bash
# Run the test suite (fast tests by default; extra arguments go to pytest,
# e.g. ./run_tests.sh -m slow). Creates .venv on first use.
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
    echo "usage: ./run_tests.sh [PYTEST_ARGS...]"
    echo "Runs pytest on tests/ (slow tests excluded; add '-m slow' for them)."
    exit 0
fi
source scripts/bootstrap.sh
exec "$PYTHON" -m pytest -q "$@"
