"""Helpers shared by the benchmark scripts: timing an older commit next to the working tree.

A benchmark that compares the current code with an older commit of this repository extracts
that commit with ``git archive`` into a temporary folder (:func:`extract_commit`) and runs its
scripts with this interpreter and its packages, the package imported from the extracted
``src/`` (``PYTHONPATH``); both sides read the embedded MNIST digits
(:func:`embedded_data_env`).
"""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The working tree these scripts belong to."""


@dataclass(frozen=True)
class Checkout:
    """A tree of this repository to time: the working tree, or a commit extracted by git."""

    root: Path
    env: dict[str, str]


def children_cpu_seconds() -> float:
    """User plus system CPU seconds of the finished child processes (and theirs) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def is_commit(name: str) -> bool:
    """Whether ``name`` names a commit of this repository."""
    found = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"],
        capture_output=True,
    )  # fmt: skip
    return found.returncode == 0


def embedded_data_env(tmp: Path) -> dict[str, str]:
    """This process's environment with ``BACKDOOR_CURVES_DATA`` at an empty folder under ``tmp``.

    Both sides of a comparison then read the embedded digits, whatever data this checkout has.
    """
    (tmp / "no-data").mkdir()
    env = {**os.environ, "BACKDOOR_CURVES_DATA": str(tmp / "no-data")}
    env.pop("PYTHONPATH", None)
    return env


def extract_commit(commit: str, tmp: Path, env: dict[str, str]) -> Checkout:
    """Extract ``commit`` into ``tmp`` with ``git archive``; its package imports from there."""
    tree = tmp / "tree"
    tree.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    # pyproject maps the package backdoor_curves to src/.
    package = tmp / "package"
    package.mkdir()
    (package / "backdoor_curves").symlink_to(tree / "src")
    # The shell drivers use an active environment that provides the package.
    environment = {
        **env,
        "PYTHONPATH": str(package),
        "VIRTUAL_ENV": sys.prefix,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    }
    return Checkout(tree, environment)


def time_command(command: str, env: dict[str, str]) -> float:
    """Wall seconds of a shell command of the user's (``bash -c COMMAND``), output discarded.

    The benchmarks' ``--authors-command``: a command that runs another implementation of the
    same job (e.g. the authors' original code, in its own environment, which this repository
    neither contains nor builds) from a clean state, so that both are timed on this machine
    in one run.

    Raises
    ------
    SystemExit
        The command failed: the benchmark stops with one line naming its exit status.
    """
    start = time.perf_counter()
    done = subprocess.run(
        ["bash", "-c", command], env=env, check=False,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"--authors-command failed (exit status {done.returncode}): {command}")
    return time.perf_counter() - start
