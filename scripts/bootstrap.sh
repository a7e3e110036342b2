# shellcheck shell=bash
# Shared set-up for the shell drivers: source it, do not run it.
#
# Uses the active Python environment when it already provides `backdoor_curves`
# (a conda env from env.yml, a venv you activated yourself); otherwise creates
# `.venv` in the repository root on first use (python3 -m venv, pip install -e '.[dev]')
# and reuses it afterwards. Reinstalls when pyproject.toml changes.
# After sourcing, "$PYTHON" is the interpreter to use.

_bc_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_bc_has_package() {
    "$1" -c 'import sys, backdoor_curves; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

_bc_bootstrap() {
    local active
    active="$(command -v python || command -v python3 || true)"
    if [ -n "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ] && [ -n "$active" ] && _bc_has_package "$active"; then
        PYTHON="$active"
        return 0
    fi
    local venv="$_bc_root/.venv"
    local stamp="$venv/.backdoor-curves-installed"
    local want
    want="$(cksum < "$_bc_root/pyproject.toml")"
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        PYTHON="$venv/bin/python"
        return 0
    fi
    local base="${BACKDOOR_CURVES_PYTHON:-python3}"
    if ! "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "error: backdoor-curves needs Python >= 3.11; '$base' is $("$base" --version 2>&1)." \
             "Set BACKDOOR_CURVES_PYTHON to a newer interpreter." >&2
        return 1
    fi
    echo "[setup] creating $venv and installing backdoor-curves (first run only; torch is large)..." >&2
    [ -x "$venv/bin/python" ] || "$base" -m venv "$venv" || return 1
    "$venv/bin/python" -m pip install --quiet --upgrade pip >&2 || return 1
    "$venv/bin/python" -m pip install --quiet -e "$_bc_root[dev]" >&2 || return 1
    echo "$want" > "$stamp"
    PYTHON="$venv/bin/python"
}

_bc_bootstrap || { echo "error: environment set-up failed (see above)." >&2; exit 1; }
export PYTHON
