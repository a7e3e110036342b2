"""Provenance of a result: the package versions and the git commit of the code that made it."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

__all__ = ["VERSIONED_PACKAGES", "git_state", "package_versions"]

VERSIONED_PACKAGES = (
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "torch",
    "torchvision",
    "joblib",
    "dask",
    "distributed",
    "backdoor-curves",
)
"""Distributions whose versions go into every manifest; a missing one is recorded as None."""


def package_versions() -> dict[str, str | None]:
    """Versions of Python and the packages that shape the numbers (None if not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        # Read metadata only: importing torch here would cost seconds for a JSON file.
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _git_output(args: Sequence[str], cwd: Path) -> str | None:
    """Run a git command and return its stripped stdout, or None if git is unavailable."""
    try:
        completed = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def git_state(source: Path | None = None) -> dict[str, str | bool | None]:
    """Commit and dirty flag of the git checkout holding ``source`` (this package by default).

    Parameters
    ----------
    source : Path or None
        A path inside the checkout; defaults to this module's folder.

    Returns
    -------
    dict
        ``{"git_commit": sha or None, "git_dirty": bool or None}``; both are None when
        ``source`` is not in a git checkout (e.g. an installed wheel) or git is missing.
        Dirty means tracked files differ from the commit (untracked files do not count).
    """
    folder = Path(source) if source is not None else Path(__file__).resolve().parent
    commit = _git_output(["rev-parse", "HEAD"], folder)
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    status = _git_output(["status", "--porcelain", "--untracked-files=no"], folder)
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}
