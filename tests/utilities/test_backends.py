"""Faults of the backends: a dead worker, a lost or empty Dask cluster, a driver killed."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from backdoor_curves.utilities.backends import Backend, ExecutionConfig, WorkerLostError
from backdoor_curves.utilities.grid import run_grid
from backdoor_curves.utilities.store import ResultStore


@dataclasses.dataclass(frozen=True)
class Job:
    index: int
    seconds: float = 0.0


def rows_or_die(job: Job) -> list[dict]:
    """Rows of a job; job 3 kills its own worker process (as the OOM killer would)."""
    if job.index == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(job.seconds)
    return [{"index": job.index}]


@pytest.mark.slow
def test_a_killed_worker_is_one_error_and_keeps_the_finished_cells(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "out", ["index"])
    jobs = [Job(0), Job(1), Job(2, 0.5), Job(3, 0.5), Job(4)]
    config = ExecutionConfig(n_jobs=2, quiet=True)
    with pytest.raises(WorkerLostError, match=r"a worker process died \(killed, or out of memory"):
        run_grid(jobs, rows_or_die, store, config)
    kept = set(store.load()["index"])
    assert {0, 1} <= kept and 3 not in kept
    # The rerun computes what is missing (the dying job made harmless).
    report = run_grid([dataclasses.replace(j, index=j.index + 10 * (j.index == 3)) for j in jobs],
                      rows_or_die, store, config)  # fmt: skip
    assert report.n_computed == len(jobs) - len(kept)


@pytest.mark.processes
def test_a_dask_cluster_without_workers_is_an_error_after_the_worker_timeout(
    tmp_path: Path,
) -> None:
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        config = ExecutionConfig(
            backend=Backend.DASK, scheduler=cluster.scheduler_address, quiet=True,
            worker_timeout=1.0,
        )  # fmt: skip
        started = time.monotonic()
        with pytest.raises(
            WorkerLostError, match=r"has had no worker for 1 s \(--worker-timeout\)"
        ):
            run_grid([Job(0)], rows_or_die, ResultStore(tmp_path / "out", ["index"]), config)
        assert time.monotonic() - started < 30


@pytest.mark.slow
def test_a_lost_dask_scheduler_is_an_error_keeping_the_finished_cells(tmp_path: Path) -> None:
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    )
    store = ResultStore(tmp_path / "out", ["index"])
    config = ExecutionConfig(backend=Backend.DASK, scheduler=cluster.scheduler_address, quiet=True)
    closer = threading.Timer(1.5, cluster.close)
    closer.start()
    try:
        with pytest.raises(WorkerLostError, match="lost the Dask scheduler at .*connection"):
            run_grid([Job(0), Job(1, 0.2), Job(5, 3.0)], rows_or_die, store, config)
    finally:
        closer.join()
        cluster.close()
    assert set(store.load()["index"]) == {0, 1}


DRIVER = textwrap.dedent(
    """
    import dataclasses, os, sys, time
    from pathlib import Path
    from backdoor_curves.utilities.backends import ExecutionConfig
    from backdoor_curves.utilities.grid import run_grid
    from backdoor_curves.utilities.store import ResultStore

    @dataclasses.dataclass(frozen=True)
    class Slow:
        index: int

    def slow(task):
        Path(sys.argv[1], str(os.getpid())).touch()  # a worker announces itself
        time.sleep(120)
        return [{"index": task.index}]

    run_grid([Slow(i) for i in range(4)], slow, ResultStore(Path(sys.argv[1]) / "out", ["index"]),
             ExecutionConfig(n_jobs=2, quiet=True))
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.processes
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_workers_exit_when_their_driver_is_killed(tmp_path: Path) -> None:
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path)])
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("[0-9]*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = [int(path.name) for path in tmp_path.glob("[0-9]*")]
        assert len(workers) == 2, "the workers did not start"
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 10
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(_alive, workers)), "workers outlived their driver"
    finally:
        driver.kill()
        for path in tmp_path.glob("[0-9]*"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(path.name), signal.SIGKILL)
