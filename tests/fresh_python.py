"""Running statements in a fresh interpreter, to check what they import."""

from __future__ import annotations

import subprocess
import sys


def run_without_torch(*statements: str, then: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``statements`` in a new interpreter and fail the test if they imported torch.

    ``then`` runs after the check (e.g. printing a help text, which exits). Returns the
    finished process (its output captured as text).
    """
    code = "\n".join(
        ["import sys", *statements, "assert 'torch' not in sys.modules, 'torch was imported'", then]
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done
