"""A driver run with worker processes leaves no process behind when it exits.

The driver runs in a subprocess that leads a fresh process group (session); after it exits,
no worker process of that group may survive (the group's members are read from ``/proc``).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="needs POSIX process groups and /proc"
)


def group_members(pgid: int) -> list[str]:
    """Command lines of the live processes of process group ``pgid`` (from ``/proc``)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            state, group = fields[0], int(fields[2])
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        # An empty command line is a process in the middle of exiting (its memory is already
        # released, it is not a zombie yet): it is on its way out, not a survivor.
        if group == pgid and state not in ("Z", "X") and cmdline:
            members.append(cmdline)
    return members


def surviving_workers(pgid: int) -> list[str]:
    """Members of the group other than the resource trackers of loky and multiprocessing.

    The trackers exit on their own once they have cleaned up the shared-memory folders that
    joblib releases at interpreter exit; the workers are what a driver must stop itself.
    """
    return [cmd for cmd in group_members(pgid) if "resource_tracker" not in cmd]


def assert_no_process_survives(argv: list[str], cwd: Path) -> None:
    # Output goes to a file, not a pipe: reading a pipe to its end would also wait for every
    # leftover child holding it, so the check would run only after the leak had ended.
    log = cwd / "driver.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=cwd, start_new_session=True, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            process.wait(timeout=300)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, log.read_text(errors="replace")
    # Orphaned loky workers notice their parent is gone only after ~2-3 s and then exit, so
    # the check must come sooner than that: with the pool shut down before the driver
    # exits, no worker is left at all.
    deadline = time.monotonic() + 0.3
    while surviving_workers(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = surviving_workers(process.pid)
    # The trackers finish their clean-up and exit by themselves (well under a second here).
    deadline = time.monotonic() + 3.0
    while group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    lingering = group_members(process.pid)
    if survivors or lingering:
        os.killpg(process.pid, signal.SIGKILL)
    assert not survivors, f"processes outlived the driver: {survivors}"
    assert not lingering, f"processes outlived the driver by 3 s: {lingering}"


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


@pytest.mark.slow  # a check of the check; the default suite runs the check itself
def test_the_check_catches_a_child_that_outlives_its_parent(tmp_path: Path) -> None:
    # The drivers' shut-down cannot be broken on purpose from outside (loky also joins its
    # workers at interpreter exit), so the check itself is shown to fail on a real leak.
    leaking = [sys.executable, "-c", "import subprocess; subprocess.Popen(['sleep', '5'])"]
    with pytest.raises(AssertionError, match="outlived the driver"):
        assert_no_process_survives(leaking, tmp_path)


def test_the_check_passes_when_the_children_are_waited_for(tmp_path: Path) -> None:
    waiting = [sys.executable, "-c", "import subprocess; subprocess.run(['sleep', '0.1'])"]
    assert_no_process_survives(waiting, tmp_path)
