"""Grid engine and result store: resume, force, backends, determinism, atomic files."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import threadpoolctl

from backdoor_curves.experiments.flags import add_execution_arguments, execution_config_from_args
from backdoor_curves.utilities.atomic import atomic_write_text, check_writable
from backdoor_curves.utilities.backends import Backend, ExecutionConfig, shared_workers
from backdoor_curves.utilities.grid import Grid, ManifestInfo, run_grid, run_grids
from backdoor_curves.utilities.provenance import git_state
from backdoor_curves.utilities.store import ResultStore
from backdoor_curves.utilities.tasks import TaskFailedError, task_key

COLUMNS = ("index", "seed", "value", "label")
N_TASKS = 5


@dataclasses.dataclass(frozen=True)
class SquareTask:
    index: int
    scale: float
    log_dir: str
    delay: float = 0.0


def square_rows(task: SquareTask) -> list[dict]:
    """Two rows per task (one per seed); leaves one file per call to count calls."""
    Path(task.log_dir, f"{task.index}.{uuid.uuid4().hex}").touch()
    time.sleep(task.delay)
    return [
        {
            "index": task.index,
            "seed": seed,
            "value": task.scale * task.index**2 + seed / 3,
            "label": f"t{task.index}",
        }
        for seed in (0, 1)
    ]


def interrupt_at_two(task: SquareTask) -> list[dict]:
    if task.index == 2:
        raise KeyboardInterrupt
    return square_rows(task)


def fail_at_three(task: SquareTask) -> list[dict]:
    if task.index == 3:
        raise ArithmeticError("boom")
    return square_rows(task)


def thread_limit_rows(task: SquareTask) -> list[dict]:
    return [{"omp": os.environ.get("OMP_NUM_THREADS", "unset")}]


def blas_thread_rows(task: SquareTask) -> list[dict]:
    """The largest BLAS thread count of the process running the task."""
    return [{"threads": max(pool["num_threads"] for pool in _blas_pools())}]


def pid_rows(task: SquareTask) -> list[dict]:
    return [{"pid": os.getpid()}]


def _blas_pools() -> list[dict]:
    return [pool for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]


def make_tasks(log_dir: Path, n: int = N_TASKS, delays: bool = False) -> list[SquareTask]:
    log_dir.mkdir(exist_ok=True)
    # Later tasks finish first under parallel execution when delays are on.
    return [
        SquareTask(i, 0.1, str(log_dir), delay=0.02 * (n - i) if delays else 0.0) for i in range(n)
    ]


def calls_per_index(log_dir: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for path in log_dir.iterdir():
        index = int(path.name.split(".")[0])
        counts[index] = counts.get(index, 0) + 1
    return counts


def run(tasks, fn, directory: Path, **config) -> tuple:
    store = ResultStore(directory, COLUMNS)
    report = run_grid(tasks, fn, store, ExecutionConfig(quiet=True, **config))
    return report, store


@pytest.fixture
def reference_csv(tmp_path: Path) -> tuple[list[SquareTask], bytes]:
    """Tasks and the bytes of an uninterrupted in-process run over them."""
    tasks = make_tasks(tmp_path / "calls")
    _, store = run(tasks, square_rows, tmp_path / "reference")
    shutil.rmtree(tmp_path / "calls")
    (tmp_path / "calls").mkdir()
    return tasks, store.results_path.read_bytes()


# ------------------------------------------------------------------ resume and force


def test_resume_after_interrupt_computes_only_missing_tasks(tmp_path, reference_csv):
    tasks, expected = reference_csv
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run(tasks, interrupt_at_two, out)
    store = ResultStore(out, COLUMNS)
    assert not store.journal_path.exists()
    assert store.finished_keys() == {task_key(t) for t in tasks[:2]}

    report, store = run(tasks, square_rows, out)
    assert (report.n_total, report.n_skipped, report.n_computed) == (5, 2, 3)
    assert calls_per_index(tmp_path / "calls") == dict.fromkeys(range(N_TASKS), 1)
    assert store.results_path.read_bytes() == expected


@pytest.mark.processes
def test_resume_from_journal_left_by_a_killed_run(tmp_path, reference_csv):
    tasks, expected = reference_csv
    store = ResultStore(tmp_path / "out", COLUMNS)
    store.directory.mkdir()
    # A killed run leaves journal lines but never consolidates; record out of order.
    for task in (tasks[3], tasks[0]):
        store.record(task_key(task), square_rows(task))

    report, _ = run(tasks, square_rows, store.directory, n_jobs=2)
    assert (report.n_skipped, report.n_computed) == (2, 3)
    assert calls_per_index(tmp_path / "calls") == dict.fromkeys(range(N_TASKS), 1)
    assert store.results_path.read_bytes() == expected
    assert not store.journal_path.exists()


def test_rerun_of_finished_grid_computes_nothing(tmp_path, reference_csv):
    tasks, expected = reference_csv
    run(tasks, square_rows, tmp_path / "out")
    report, store = run(tasks, square_rows, tmp_path / "out")
    assert (report.n_skipped, report.n_computed) == (N_TASKS, 0)
    assert sum(calls_per_index(tmp_path / "calls").values()) == N_TASKS
    assert store.results_path.read_bytes() == expected


def test_force_recomputes_all_and_replaces_old_rows(tmp_path, reference_csv):
    tasks, expected = reference_csv
    store = ResultStore(tmp_path / "out", COLUMNS)
    store.directory.mkdir()
    stale = [{"index": -1, "seed": 0, "value": -1.0, "label": "stale"}]
    store.record(task_key(tasks[1]), stale)
    store.consolidate()

    report, _ = run(tasks, square_rows, store.directory, force=True)
    assert (report.n_skipped, report.n_computed) == (0, N_TASKS)
    assert calls_per_index(tmp_path / "calls") == dict.fromkeys(range(N_TASKS), 1)
    assert store.results_path.read_bytes() == expected


def test_failed_task_keeps_finished_rows_and_names_the_task(tmp_path):
    tasks = make_tasks(tmp_path / "calls")
    with pytest.raises(TaskFailedError, match="index=3") as info:
        run(tasks, fail_at_three, tmp_path / "out")
    assert isinstance(info.value.__cause__, ArithmeticError)
    assert info.value.key == task_key(tasks[3])
    table = ResultStore(tmp_path / "out", COLUMNS).load()
    assert sorted(set(table["index"])) == [0, 1, 2]


@pytest.mark.processes
def test_failed_task_in_worker_process_names_the_task(tmp_path):
    tasks = make_tasks(tmp_path / "calls")
    with pytest.raises(TaskFailedError, match="index=3.*ArithmeticError: boom"):
        run(tasks, fail_at_three, tmp_path / "out", n_jobs=2)
    assert (tmp_path / "out" / "results.csv").exists()


# ------------------------------------------------------------------ several grids, one stream


def _two_grids(tmp_path: Path, n=(3, 4), manifest: bool = False) -> list[Grid]:
    return [
        Grid(
            make_tasks(tmp_path / f"calls_{name}", n=count),
            ResultStore(tmp_path / name, COLUMNS),
            ManifestInfo({"grid": name}, f"source {name}") if manifest else None,
        )
        for name, count in zip("ab", n, strict=True)
    ]


@pytest.mark.parametrize("n_jobs", [1, pytest.param(2, marks=pytest.mark.processes)])
def test_run_grids_writes_each_grid_as_run_grid_would(tmp_path, n_jobs):
    grids = _two_grids(tmp_path, manifest=True)
    config = ExecutionConfig(n_jobs=n_jobs, quiet=True)
    reports = run_grids(grids, square_rows, config, group_by=lambda task: task.index // 2)
    for name, grid, report in zip("ab", grids, reports, strict=True):
        alone = ResultStore(tmp_path / f"{name}_alone", COLUMNS)
        expected = run_grid(grid.tasks, square_rows, alone, ExecutionConfig(quiet=True))
        assert grid.store.results_path.read_bytes() == alone.results_path.read_bytes()
        assert report.table.equals(expected.table)
        n = len(grid.tasks)
        assert (report.n_total, report.n_computed, report.n_skipped) == (n, n, 0)
        manifest = json.loads(grid.store.manifest_path.read_text())
        assert manifest["config"] == {"grid": name}
        assert manifest["data_source"] == f"source {name}"
        assert manifest["timings"]["n_computed"] == n


def test_run_grids_resumes_each_grid_from_its_own_store(tmp_path):
    grids = _two_grids(tmp_path)
    run_grid(grids[0].tasks, square_rows, grids[0].store, ExecutionConfig(quiet=True))
    first_calls = calls_per_index(tmp_path / "calls_a")
    reports = run_grids(grids, square_rows, ExecutionConfig(quiet=True))
    assert calls_per_index(tmp_path / "calls_a") == first_calls, "a finished grid was recomputed"
    assert calls_per_index(tmp_path / "calls_b") == {i: 1 for i in range(4)}
    assert [(r.n_skipped, r.n_computed) for r in reports] == [(3, 0), (0, 4)]


def test_run_grids_failure_keeps_finished_tasks_and_the_manifests_of_finished_grids(tmp_path):
    grids = _two_grids(tmp_path, n=(2, 5), manifest=True)
    tasks = make_tasks(tmp_path / "calls_c", n=2)
    never_started = Grid(tasks, ResultStore(tmp_path / "c", COLUMNS))
    with pytest.raises(TaskFailedError, match="index=3"):
        run_grids([*grids, never_started], fail_at_three, ExecutionConfig(quiet=True))
    assert grids[0].store.manifest_path.is_file()
    assert not grids[1].store.manifest_path.exists()
    assert not never_started.store.results_path.exists(), "a grid that never started was written"
    assert sorted(set(grids[0].store.load()["index"])) == [0, 1]
    assert sorted(set(grids[1].store.load()["index"])) == [0, 1, 2]


@pytest.mark.processes
def test_run_grids_allows_the_same_task_in_two_grids(tmp_path):
    tasks = make_tasks(tmp_path / "calls", n=2)
    grids = [Grid(tasks, ResultStore(tmp_path / name, COLUMNS)) for name in "ab"]
    reports = run_grids(grids, square_rows, ExecutionConfig(n_jobs=2, quiet=True))
    assert reports[0].table.equals(reports[1].table)
    assert calls_per_index(tmp_path / "calls") == {0: 2, 1: 2}


# ------------------------------------------------------------------ backends


@pytest.mark.processes
def test_loky_gives_same_bytes_as_in_process(tmp_path):
    tasks = make_tasks(tmp_path / "calls", delays=True)
    _, sequential = run(tasks, square_rows, tmp_path / "seq")
    report, parallel = run(tasks, square_rows, tmp_path / "par", n_jobs=2)
    assert report.n_computed == N_TASKS
    assert parallel.results_path.read_bytes() == sequential.results_path.read_bytes()
    assert list(report.table["index"]) == [i for i in range(N_TASKS) for _ in (0, 1)]


@pytest.mark.processes
def test_loky_workers_run_single_threaded_blas(tmp_path, monkeypatch):
    # joblib would pass a parent's setting through to the workers unless told otherwise.
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    tasks = make_tasks(tmp_path / "calls", n=2)
    store = ResultStore(tmp_path / "out", ["omp"])
    report = run_grid(tasks, thread_limit_rows, store, ExecutionConfig(n_jobs=2, quiet=True))
    assert list(report.table["omp"]) == [1, 1]


def test_in_process_tasks_run_single_threaded_blas_and_the_limit_is_undone(tmp_path):
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        tasks = make_tasks(tmp_path / "calls", n=2)
        store = ResultStore(tmp_path / "out", ["threads"])
        report = run_grid(tasks, blas_thread_rows, store, ExecutionConfig(n_jobs=1, quiet=True))
        assert list(report.table["threads"]) == [1, 1]
        assert max(pool["num_threads"] for pool in _blas_pools()) == 2


def _loky_executor():
    from joblib.externals.loky import reusable_executor

    return reusable_executor._executor


@pytest.mark.processes
def test_shared_workers_keep_one_pool_across_grids_and_stop_it_at_the_end(tmp_path):
    tasks = make_tasks(tmp_path / "calls", n=4)
    config = ExecutionConfig(n_jobs=2, quiet=True)
    with shared_workers():
        first = run_grid(tasks, pid_rows, ResultStore(tmp_path / "a", ["pid"]), config)
        executor = _loky_executor()
        assert executor is not None
        workers = set(executor._processes)
        assert set(first.table["pid"]) <= workers
        second = run_grid(tasks, pid_rows, ResultStore(tmp_path / "b", ["pid"]), config)
        assert _loky_executor() is executor
        assert set(second.table["pid"]) <= workers, "the second grid started new workers"
    assert not executor._processes, "the pool outlived the shared_workers block"


def parity(task: SquareTask) -> int:
    return task.index % 2


def pid_and_context_rows(task: SquareTask, context: dict) -> list[dict]:
    context["seen"].append(task.index)  # the group's tasks share this one object
    return [{"pid": os.getpid(), "group": context["group"], "seen": len(context["seen"])}]


def parity_context(tasks: list[SquareTask]) -> dict:
    return {"group": str(sorted(task.index for task in tasks)), "seen": []}


@pytest.mark.parametrize("n_jobs", [1, pytest.param(2, marks=pytest.mark.processes)])
def test_group_by_sends_a_group_to_one_worker_with_one_context(tmp_path, n_jobs):
    tasks = make_tasks(tmp_path / "calls", n=6)
    store = ResultStore(tmp_path / "out", ["pid", "group", "seen"])
    config = ExecutionConfig(n_jobs=n_jobs, quiet=True)
    report = run_grid(
        tasks, pid_and_context_rows, store, config, group_by=parity, context=parity_context
    )
    table = report.table
    even, odd = table.iloc[::2], table.iloc[1::2]  # rows in task order
    for rows, members in ((even, "[0, 2, 4]"), (odd, "[1, 3, 5]")):
        assert rows["pid"].nunique() == 1
        assert set(rows["group"].astype(str)) == {members}
        assert list(rows["seen"]) == [1, 2, 3]  # one context, filled in grid order


def test_without_group_by_every_task_has_a_fresh_context(tmp_path):
    tasks = make_tasks(tmp_path / "calls", n=3)
    store = ResultStore(tmp_path / "out", ["pid", "group", "seen"])
    config = ExecutionConfig(quiet=True)
    report = run_grid(tasks, pid_and_context_rows, store, config, context=parity_context)
    assert list(report.table["seen"]) == [1, 1, 1]
    assert list(report.table["group"].astype(str)) == ["[0]", "[1]", "[2]"]


@pytest.mark.processes
def test_a_grid_outside_shared_workers_stops_its_pool(tmp_path):
    tasks = make_tasks(tmp_path / "calls", n=2)
    run_grid(tasks, pid_rows, ResultStore(tmp_path / "a", ["pid"]), ExecutionConfig(n_jobs=2))
    executor = _loky_executor()
    assert executor is None or not executor._processes


@pytest.mark.processes
def test_dask_local_cluster_gives_same_bytes_as_in_process(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    tasks = make_tasks(tmp_path / "calls", delays=True)
    _, sequential = run(tasks, square_rows, tmp_path / "seq")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        report, on_dask = run(
            tasks,
            square_rows,
            tmp_path / "dask",
            backend=Backend.DASK,
            scheduler=cluster.scheduler_address,
        )
    assert report.n_computed == N_TASKS
    assert on_dask.results_path.read_bytes() == sequential.results_path.read_bytes()


@pytest.mark.slow
def test_dask_without_scheduler_starts_a_local_cluster(tmp_path):
    tasks = make_tasks(tmp_path / "calls")
    _, sequential = run(tasks, square_rows, tmp_path / "seq")
    _, on_dask = run(tasks, square_rows, tmp_path / "dask", backend="dask", n_jobs=2)
    assert on_dask.results_path.read_bytes() == sequential.results_path.read_bytes()


# ------------------------------------------------------------------ result store


def test_torn_last_journal_line_is_ignored_and_repaired(tmp_path):
    tasks = make_tasks(tmp_path / "calls", n=3)
    store = ResultStore(tmp_path, COLUMNS)
    for task in tasks[:2]:
        store.record(task_key(task), square_rows(task))
    with open(store.journal_path, "ab") as handle:
        handle.write(b'{"key": "index=2|scale=0.1", "rows": [{"ind')
    assert store.finished_keys() == {task_key(t) for t in tasks[:2]}

    ResultStore(tmp_path, COLUMNS).record(task_key(tasks[2]), square_rows(tasks[2]))
    lines = store.journal_path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == [task_key(t) for t in tasks]


def test_consolidate_writes_columns_in_given_order(tmp_path):
    store = ResultStore(tmp_path, ["b", "a", "c"])
    store.record("k2", [{"a": 1, "b": np.float64(0.1), "c": None}])
    store.record("k1", [{"c": "x", "a": np.int64(2), "b": True}, {"a": 3, "b": 1e-20, "c": "y"}])
    table = store.consolidate(order=["k2", "k1"])
    assert store.results_path.read_text() == (
        "task_key,b,a,c\nk2,0.1,1,\nk1,True,2,x\nk1,1e-20,3,y\n"
    )
    assert list(table.columns) == ["task_key", "b", "a", "c"]
    assert not store.journal_path.exists()


def test_consolidate_without_order_sorts_by_key(tmp_path):
    store = ResultStore(tmp_path, ["a"])
    for key in ("k3", "k1", "k2"):
        store.record(key, [{"a": 0.5}])
    assert list(store.consolidate()["task_key"]) == ["k1", "k2", "k3"]


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ({"a": 1}, r"missing column\(s\) \['b'\]"),
        ({"a": 1, "b": 2, "zz": 3}, r"unexpected column\(s\) \['zz'\]"),
        ({"a": 1, "b": [1, 2]}, "column 'b' holds a list"),
    ],
)
def test_record_rejects_bad_rows_naming_the_column(tmp_path, row, match):
    store = ResultStore(tmp_path, ["a", "b"])
    with pytest.raises(ValueError, match=match):
        store.record("k", [row])
    assert not store.journal_path.exists()


def test_consolidate_rejects_journal_row_with_missing_column(tmp_path):
    store = ResultStore(tmp_path, ["a", "b"])
    store.journal_path.write_text(json.dumps({"key": "k", "rows": [{"a": 1}]}) + "\n")
    with pytest.raises(ValueError, match=r"task k: row 0 is missing column\(s\) \['b'\]"):
        store.consolidate()


def test_task_returning_no_rows_is_rejected(tmp_path):
    store = ResultStore(tmp_path, ["a"])
    with pytest.raises(ValueError, match="task k: returned no rows"):
        store.record("k", [])


def test_existing_table_with_other_columns_is_refused(tmp_path):
    ResultStore(tmp_path, ["a"]).record("k", [{"a": 1}])
    ResultStore(tmp_path, ["a"]).consolidate()
    with pytest.raises(ValueError, match=r"has columns \['task_key', 'a'\]"):
        ResultStore(tmp_path, ["a", "b"]).finished_keys()


def test_load_of_empty_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results"):
        ResultStore(tmp_path, ["a"]).load()


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_check_writable_creates_directory(tmp_path):
    check_writable(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()


def test_check_writable_rejects_path_below_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="file/results"):
        check_writable(tmp_path / "file" / "results")


def test_manifest_holds_config_versions_git_and_timings(tmp_path):
    tasks = make_tasks(tmp_path / "calls", n=2)
    report, store = run(tasks, square_rows, tmp_path / "out")
    config = {"backend": Backend.DASK, "C": np.float64(0.5), "data_dir": tmp_path, "grid": (1, 2)}
    path = store.write_manifest(config, data_source="synthetic squares", timings=report.timings())
    manifest = json.loads(path.read_text())
    assert {
        "config",
        "versions",
        "git_commit",
        "git_dirty",
        "data_source",
        "timings",
        "created",
        "command",
    } <= set(manifest)
    assert manifest["config"] == {
        "backend": "dask",
        "C": 0.5,
        "data_dir": str(tmp_path),
        "grid": [1, 2],
    }
    assert {"python", "numpy", "scipy", "scikit-learn", "pandas", "torch"} <= set(
        manifest["versions"]
    )
    assert manifest["versions"]["numpy"] == np.__version__
    assert manifest["timings"]["n_computed"] == 2
    commit = manifest["git_commit"]
    assert commit is None or (len(commit) == 40 and int(commit, 16) >= 0)


def test_git_state_of_a_checkout_and_of_a_plain_folder(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    assert git_state(tmp_path) == {"git_commit": None, "git_dirty": None}
    identity = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]

    def git(*args: str) -> None:
        subprocess.run(["git", *identity, *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "f").write_text("1")
    git("add", "f")
    git("commit", "-q", "-m", "init")
    state = git_state(tmp_path)
    assert len(state["git_commit"]) == 40 and state["git_dirty"] is False
    (tmp_path / "f").write_text("2")
    assert git_state(tmp_path)["git_dirty"] is True


# ------------------------------------------------------------------ keys and settings


class Kind(enum.Enum):
    A = "alpha"


@dataclasses.dataclass(frozen=True)
class Inner:
    size: int


@dataclasses.dataclass(frozen=True)
class RichTask:
    clf: str
    C: float
    kind: Kind
    sizes: tuple
    inner: Inner
    flag: bool
    gamma: float | None


def test_task_key_is_readable_and_round_trips_floats():
    task = RichTask("svm", 0.1 + 0.2, Kind.A, (3, 5), Inner(2), True, None)
    key = task_key(task)
    assert key == (
        "clf=svm|C=0.30000000000000004|kind=alpha|sizes=(3,5)|inner={size=2}|flag=True|gamma=None"
    )
    assert float(key.split("|")[1].removeprefix("C=")) == 0.1 + 0.2
    assert task_key(dataclasses.replace(task, C=np.float64(0.1 + 0.2))) == key


def test_task_key_rejects_delimiters_and_mutable_tasks():
    with pytest.raises(ValueError, match="'clf' = 'a|b' contains"):
        task_key(RichTask("a|b", 1.0, Kind.A, (), Inner(1), False, None))

    @dataclasses.dataclass
    class Mutable:
        x: int

    with pytest.raises(ValueError, match="must be a frozen dataclass"):
        task_key(Mutable(1))
    with pytest.raises(ValueError, match="dataclass instance"):
        task_key({"x": 1})


def test_duplicate_tasks_are_refused(tmp_path):
    tasks = make_tasks(tmp_path / "calls", n=2)
    with pytest.raises(ValueError, match="duplicate task index=1"):
        run([*tasks, tasks[1]], square_rows, tmp_path / "out")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backend": "spark"}, r"unknown backend 'spark'; valid backends are \['loky', 'dask'\]"),
        ({"n_jobs": 0}, "n_jobs must be >= 1 or -1"),
        ({"n_jobs": 2.0}, "n_jobs must be an integer"),
        ({"scheduler": "tcp://h:1"}, "needs backend 'dask'"),
        ({"backend": "dask", "scheduler": "tcp://h:1", "n_jobs": 4}, "no effect"),
    ],
)
def test_execution_config_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ExecutionConfig(**kwargs)


def test_execution_arguments_round_trip():
    parser = argparse.ArgumentParser()
    add_execution_arguments(parser)
    args = parser.parse_args(
        [
            "--n-jobs",
            "1",
            "--backend",
            "dask",
            "--scheduler",
            "tcp://127.0.0.1:8786",
            "--force",
            "--quiet",
        ]
    )
    assert execution_config_from_args(args) == ExecutionConfig(
        1, Backend.DASK, "tcp://127.0.0.1:8786", force=True, quiet=True
    )
    defaults = execution_config_from_args(parser.parse_args([]))
    assert defaults == ExecutionConfig(n_jobs=-1)  # drivers use every core by default
    with_scheduler = parser.parse_args(["--backend", "dask", "--scheduler", "tcp://h:1"])
    assert execution_config_from_args(with_scheduler).n_jobs == 1


# ------------------------------------------------------------------------- cells keyed by content


@dataclasses.dataclass(frozen=True)
class SweepTask:
    """A packed task: one seed swept over ``values`` (one row per value, in increasing order)."""

    seed: int
    values: tuple[float, ...]
    log_dir: str

    def cells(self) -> tuple[SweepTask, ...]:
        return tuple(dataclasses.replace(self, values=(v,)) for v in sorted(self.values))

    def with_cells(self, cells) -> SweepTask:
        return dataclasses.replace(self, values=tuple(cell.values[0] for cell in cells))


def sweep_rows(task: SweepTask) -> list[dict]:
    Path(task.log_dir, f"{task.seed}-{','.join(map(str, task.values))}@{uuid.uuid4().hex}").touch()
    return [{"seed": task.seed, "value": v, "square": v * v} for v in sorted(task.values)]


def run_sweep(tmp_path: Path, values: tuple[float, ...], seeds=(1, 2)):
    log = tmp_path / "calls"
    log.mkdir(exist_ok=True)
    for old in log.iterdir():
        old.unlink()
    tasks = [SweepTask(seed, values, str(log)) for seed in seeds]
    store = ResultStore(tmp_path / "out", ["seed", "value", "square"], identity=["seed", "value"])
    report = run_grid(tasks, sweep_rows, store, ExecutionConfig(quiet=True))
    return report, sorted(path.name.split("@")[0] for path in log.iterdir())


def test_a_grown_reordered_or_shrunk_grid_reuses_every_finished_cell(tmp_path):
    first, calls = run_sweep(tmp_path, (0.01, 1.0))
    assert calls == ["1-0.01,1.0", "2-0.01,1.0"] and len(first.table) == 4
    grown, calls = run_sweep(tmp_path, (1.0, 100.0, 0.01))
    assert calls == ["1-100.0", "2-100.0"]  # only the new cell of each seed is computed
    assert (grown.n_computed, grown.n_skipped) == (2, 0)
    cells = list(zip(grown.table["seed"], grown.table["value"], strict=True))
    assert cells == [(1, 0.01), (1, 1.0), (1, 100.0), (2, 0.01), (2, 1.0), (2, 100.0)]
    assert grown.table["task_key"].is_unique
    shrunk, calls = run_sweep(tmp_path, (1.0,))
    assert calls == [] and (shrunk.n_computed, shrunk.n_skipped) == (0, 2)
    assert len(shrunk.table) == 6  # a smaller grid removes nothing


def test_a_cell_listed_twice_in_one_grid_is_an_error(tmp_path):
    task = SweepTask(1, (1.0, 1.0), str(tmp_path))
    store = ResultStore(tmp_path / "out", ["seed", "value", "square"])
    with pytest.raises(ValueError, match=r"duplicate task .*values=\(1.0\)"):
        run_grid([task], sweep_rows, store, ExecutionConfig(quiet=True))


def wrong_row_count(task: SweepTask) -> list[dict]:
    return sweep_rows(task)[:1]


def test_a_packed_task_must_return_the_rows_of_every_cell(tmp_path):
    task = SweepTask(1, (1.0, 2.0), str(tmp_path))
    store = ResultStore(tmp_path / "out", ["seed", "value", "square"])
    with pytest.raises(ValueError, match="computed 2 cell.* but returned 1 rows"):
        run_grid([task], wrong_row_count, store, ExecutionConfig(quiet=True))
