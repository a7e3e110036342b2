"""A driver run with worker processes leaves no process behind when it exits.

The driver runs in a subprocess that leads a fresh process group (session); after it exits,
no member of that group may survive (``killpg(pgid, 0)`` finds none).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")


def group_members_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_no_process_survives(argv: list[str], cwd: Path) -> None:
    process = subprocess.Popen(
        argv, cwd=cwd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        _, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, err.decode()
    # Orphaned loky workers notice their parent is gone only after ~2-3 s and then exit, so
    # the check must come sooner than that: with the pool shut down before the driver
    # exits, no member is left at all.
    deadline = time.monotonic() + 0.3
    while group_members_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = group_members_alive(process.pid)
    if alive:
        os.killpg(process.pid, signal.SIGKILL)
    assert not alive, "worker processes outlived the driver"


@pytest.mark.slow  # worker start-up makes it take tens of seconds
def test_slope_driver_leaves_no_worker_behind(tmp_path: Path, data_dir: Path) -> None:
    argv = [
        sys.executable, "-m", "backdoor_curves.experiments.binary.slope",
        "--profile", "smoke", "-clf", "svm,ridge", "--n-jobs", "2", "--quiet",
        "--data-dir", str(data_dir), "--out-dir", str(tmp_path / "out"),
    ]  # fmt: skip
    assert_no_process_survives(argv, tmp_path)


@pytest.mark.slow
def test_incremental_curves_leaves_no_worker_behind(tmp_path: Path, data_dir: Path) -> None:
    argv = [
        sys.executable, str(REPO_ROOT / "incremental_curves.py"),
        "--profile", "smoke", "--n-jobs", "2", "--quiet", "--no-figures",
        "--data-dir", str(data_dir), "--out-dir", str(tmp_path / "out"),
    ]  # fmt: skip
    assert_no_process_survives(argv, tmp_path)
