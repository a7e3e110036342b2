"""Grid engine: run independent experiment tasks locally (joblib) or on Dask, resumably.

An experiment is a list of *tasks*, each a frozen dataclass instance holding the settings
of one grid cell (dataset, pair, classifier, C, seed, ...). A worker function
``fn(task) -> list[dict]`` computes one task and returns its rows (flat dicts of
scalars; a task may return several rows, e.g. one per seed or per beta).
:func:`run_grid` computes the tasks that are not finished yet, records each task's rows
durably as soon as it finishes (:class:`~backdoor_curves.utilities.results.ResultStore`),
and writes the consolidated, deterministically sorted table at the end. :func:`run_grids`
does the same for several grids, each with its own store (the run folders of one driver
invocation), as one stream of tasks: no worker waits for the last task of one grid before
the next grid's tasks start.

Backends
--------
``n_jobs=1``
    Tasks run one after the other in this process: no pool, plain tracebacks.
``loky`` (default, ``n_jobs != 1``)
    A joblib process pool; BLAS/OpenMP threads are limited to one per worker so that
    ``n_jobs`` processes do not oversubscribe the cores.
``dask``
    A ``dask.distributed`` cluster at ``scheduler`` (e.g. ``tcp://10.0.0.1:8786``). Without
    a scheduler address a ``LocalCluster`` of ``n_jobs`` single-threaded worker processes is
    started for the run (``n_jobs=-1``: one per core). Dask's nanny already limits
    BLAS/OpenMP threads to one per worker process. The worker function and the task class
    must be importable on the workers (define them in a module, not in a notebook cell).

Interrupting a run (Ctrl-C) or a failing task stops it; the tasks finished so far are
kept (written to ``results.csv``) and the exception propagates, so rerunning the same
command computes only what is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import sys
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from pathlib import PurePath
from typing import Any, TypeVar

import joblib
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from backdoor_curves.utilities.results import ResultStore

__all__ = [
    "Backend",
    "ExecutionConfig",
    "Grid",
    "GridReport",
    "ManifestInfo",
    "TaskFailedError",
    "check_scheduler",
    "run_grid",
    "run_grids",
    "shared_workers",
    "task_key",
]

T = TypeVar("T")
Rows = list[dict[str, Any]]
# A task's tag: the index of its grid and its key in that grid.
_Tag = tuple[int, str]
# What the backends yield: (tag, rows) pairs, in completion order.
_Results = Generator[tuple[_Tag, Rows], None, None]

# Characters that delimit the parts of a task key; a text field may not contain them.
_KEY_DELIMITERS = frozenset("|=,(){}")


class Backend(enum.StrEnum):
    """Where tasks run when ``n_jobs != 1`` or a scheduler is given."""

    LOKY = "loky"
    DASK = "dask"


def _parse_backend(value: Backend | str) -> Backend:
    """Return ``value`` as a :class:`Backend`, or raise listing the valid names."""
    try:
        return Backend(value)
    except ValueError:
        valid = [b.value for b in Backend]
        raise ValueError(f"unknown backend {value!r}; valid backends are {valid}") from None


@dataclasses.dataclass(frozen=True)
class ExecutionConfig:
    """How a grid runs.

    Parameters
    ----------
    n_jobs : int, default=1
        Number of parallel workers: ``1`` runs in this process, ``-1`` uses every core.
        With ``backend="dask"`` it is the size of the ``LocalCluster`` started when no
        ``scheduler`` is given; with a scheduler the cluster decides, so it must stay 1.
    backend : Backend or str, default="loky"
        ``"loky"`` (joblib processes on this machine) or ``"dask"``.
    scheduler : str or None, default=None
        Address of a running Dask scheduler, e.g. ``"tcp://127.0.0.1:8786"``; only with
        ``backend="dask"``.
    force : bool, default=False
        Recompute tasks that are already finished; their old rows are replaced.
    quiet : bool, default=False
        No progress bar (it is also off when stderr is not a terminal).
    connect_timeout : float, default=5.0
        Seconds to wait for the Dask scheduler to answer before giving up.
    """

    n_jobs: int = 1
    backend: Backend = Backend.LOKY
    scheduler: str | None = None
    force: bool = False
    quiet: bool = False
    connect_timeout: float = 5.0

    def __post_init__(self) -> None:
        # Frozen dataclass: normalising a field needs object.__setattr__.
        object.__setattr__(self, "backend", _parse_backend(self.backend))
        if isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, int | np.integer):
            raise ValueError(f"n_jobs must be an integer, got {self.n_jobs!r}")
        if self.n_jobs < 1 and self.n_jobs != -1:
            raise ValueError(f"n_jobs must be >= 1 or -1 (all cores), got {self.n_jobs}")
        if not (np.isfinite(self.connect_timeout) and self.connect_timeout > 0):
            raise ValueError(
                f"connect_timeout must be a positive number of seconds, got {self.connect_timeout}"
            )
        if self.scheduler is not None:
            if self.backend is not Backend.DASK:
                raise ValueError(
                    f"a scheduler address ({self.scheduler!r}) needs backend 'dask', "
                    f"got backend {self.backend.value!r}"
                )
            if not isinstance(self.scheduler, str) or not self.scheduler.strip():
                raise ValueError(f"scheduler must be an address string, got {self.scheduler!r}")
            if self.n_jobs != 1:
                raise ValueError(
                    f"n_jobs={self.n_jobs} has no effect with a Dask scheduler "
                    f"({self.scheduler}); the cluster's workers set the parallelism"
                )


@dataclasses.dataclass(frozen=True)
class GridReport:
    """Outcome of :func:`run_grid`.

    Attributes
    ----------
    n_total : int
        Number of tasks given.
    n_skipped : int
        Tasks already finished in the store and not recomputed.
    n_computed : int
        Tasks computed by this run.
    seconds : float
        Wall-clock duration of the run, in seconds.
    table : pandas.DataFrame
        The consolidated table (``task_key`` followed by the store's columns).
    """

    n_total: int
    n_skipped: int
    n_computed: int
    seconds: float
    table: pd.DataFrame

    def timings(self) -> dict[str, float | int]:
        """Return counts and wall time, in the form :meth:`ResultStore.write_manifest` takes."""
        return {
            "wall_seconds": self.seconds,
            "n_total": self.n_total,
            "n_skipped": self.n_skipped,
            "n_computed": self.n_computed,
        }


class TaskFailedError(RuntimeError):
    """A task's worker function raised; the original exception is chained as its cause.

    Parameters
    ----------
    key : str
        Key of the failed task.
    reason : str
        Type and message of the original exception.
    """

    def __init__(self, key: str, reason: str) -> None:
        # Both values go to args so the exception pickles back from worker processes.
        super().__init__(key, reason)
        self.key = key
        self.reason = reason

    def __str__(self) -> str:
        return f"task {self.key} failed: {self.reason}"


# ---------------------------------------------------------------------------- task keys


def _format_key_value(name: str, value: Any) -> str:
    """Text of one task field inside a key; raises for types that do not round-trip."""
    if isinstance(value, enum.Enum):
        return _format_key_value(name, value.value)
    if value is None or isinstance(value, bool | np.bool_):
        return str(None if value is None else bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        # repr is the shortest text that parses back to the same float.
        return repr(float(value))
    if isinstance(value, str | PurePath):
        text = str(value)
        bad = sorted(set(text) & _KEY_DELIMITERS) or [c for c in text if not c.isprintable()]
        if bad:
            raise ValueError(
                f"task field {name!r} = {text!r} contains {bad!r}; task keys use "
                f"{''.join(sorted(_KEY_DELIMITERS))!r} as delimiters"
            )
        return text
    if isinstance(value, tuple):
        return "(" + ",".join(_format_key_value(name, item) for item in value) + ")"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return "{" + task_key(value) + "}"
    raise ValueError(
        f"task field {name!r} has type {type(value).__name__}; task fields must be None, "
        "bool, int, float, str, Path, Enum, tuples of these or frozen dataclasses"
    )


def task_key(task: Any) -> str:
    """Stable text key of a task, e.g. ``"clf=svm|C=0.1|seed=0"``.

    Fields appear in definition order as ``name=value`` joined by ``|``; floats by
    ``repr`` (round-trips exactly), enums by their value, tuples as ``(a,b)``, nested
    dataclasses in braces. The key depends only on the field values, so it is the same
    in every process and every run.

    Parameters
    ----------
    task : frozen dataclass instance

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``task`` is not a frozen dataclass instance, a field has an unsupported type,
        or a text field contains one of the delimiters ``|=,(){}``.
    """
    if not dataclasses.is_dataclass(task) or isinstance(task, type):
        raise ValueError(f"a task must be a dataclass instance, got {type(task).__name__}")
    if not type(task).__dataclass_params__.frozen:  # type: ignore[attr-defined]  # dataclass internals
        raise ValueError(
            f"task class {type(task).__name__} must be a frozen dataclass "
            "(@dataclass(frozen=True)), so a task cannot change after its key is taken"
        )
    return "|".join(
        f"{field.name}={_format_key_value(field.name, getattr(task, field.name))}"
        for field in dataclasses.fields(task)
    )


def _unique_task_keys(tasks: Sequence[Any]) -> list[str]:
    """Keys of ``tasks`` in order; raises if two tasks share a key."""
    keys = [task_key(task) for task in tasks]
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"duplicate task {key}; every task of a grid must be distinct")
        seen.add(key)
    return keys


# ---------------------------------------------------------------------------- execution


def _run_task(fn: Callable[[T], Rows], tag: _Tag, task: T) -> tuple[_Tag, Rows]:
    """Compute one task (in whichever process runs it) and tag the result."""
    try:
        return tag, fn(task)
    except Exception as exc:
        raise TaskFailedError(tag[1], f"{type(exc).__name__}: {exc}") from exc


def _run_in_process(fn: Callable[[T], Rows], pending: list[tuple[_Tag, T]]) -> _Results:
    """Yield ``(tag, rows)`` computing tasks one by one in this process, BLAS on one thread.

    One worker uses one core, like each worker of the pool: a grid cell's linear algebra is
    small enough that BLAS threads cost more than they gain (an MNIST slope pair takes about
    3x longer with two threads on two cores), and the same thread count as the pool's workers
    gives the same rounding, so ``n_jobs=1`` writes the same numbers as ``n_jobs=2``.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        for tag, task in pending:
            yield _run_task(fn, tag, task)


def _run_group(fn: Callable[[T], Rows], group: list[tuple[_Tag, T]]) -> list[tuple[_Tag, Rows]]:
    """Compute consecutive tasks one after the other in one worker."""
    return [_run_task(fn, tag, task) for tag, task in group]


def _run_loky(fn: Callable[[T], Rows], groups: list[list[tuple[_Tag, T]]], n_jobs: int) -> _Results:
    """Yield ``(tag, rows)`` in completion order from a joblib/loky process pool.

    Each job is one group of tasks, computed by one worker.
    """
    # inner_max_num_threads sets OMP/MKL/OpenBLAS thread variables in the worker processes.
    try:
        with joblib.parallel_config(backend="loky", inner_max_num_threads=1):
            parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            outputs = parallel(joblib.delayed(_run_group)(fn, group) for group in groups)
            # Closing the generator (on error or Ctrl-C upstream) makes joblib stop the pool.
            with contextlib.closing(outputs):
                for results in outputs:
                    yield from results
    finally:
        if not _workers_shared:
            _shut_down_loky_workers()


# Depth of nested shared_workers() blocks; inside one, grids leave the loky pool running.
_workers_shared = 0


@contextlib.contextmanager
def shared_workers() -> Generator[None, None, None]:
    """Let the grids run inside the block share one pool of local worker processes.

    Outside such a block every :func:`run_grid` stops its loky workers when it ends. A driver
    that runs several grids (one per pair) wraps them in this block, so the workers start once
    (importing the package and loading the data is seconds per process) and keep their
    per-process caches; the pool is stopped when the outermost block exits, also on errors.
    """
    global _workers_shared
    _workers_shared += 1
    try:
        yield
    finally:
        _workers_shared -= 1
        if not _workers_shared:
            _shut_down_loky_workers()


def _shut_down_loky_workers() -> None:
    """Stop joblib's reusable loky pool, so that no worker outlives the grid.

    joblib keeps its loky workers alive for reuse (idle for minutes) after ``Parallel``
    returns; a driver that exits would leave them behind in its process group. (The
    resource-tracker processes of loky and multiprocessing are left alone: they clean up
    shared-memory folders that joblib releases at interpreter exit, and exit after that.)
    """
    # loky keeps its one reusable executor in a module global; there is no public getter
    # that does not create (or resize) an executor when none is running.
    from joblib.externals.loky import reusable_executor

    executor = reusable_executor._executor
    if executor is not None:
        executor.shutdown(wait=True)


def _run_dask(
    fn: Callable[[T], Rows], pending: list[tuple[_Tag, T]], config: ExecutionConfig
) -> _Results:
    """Yield ``(tag, rows)`` in completion order from a Dask cluster."""
    # Imported here: dask.distributed is slow to import and only needed for this backend.
    from dask.distributed import LocalCluster, as_completed

    with contextlib.ExitStack() as stack:
        address = config.scheduler
        if address is None:
            n_workers = joblib.cpu_count() if config.n_jobs == -1 else config.n_jobs
            cluster = LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            stack.callback(cluster.close)
            address = cluster.scheduler_address
        client = _connect(address, config.connect_timeout)
        stack.callback(client.close)
        tags = [tag for tag, _ in pending]
        tasks = [task for _, task in pending]
        futures = client.map(functools.partial(_run_task, fn), tags, tasks, pure=False)
        # Runs first on exit (LIFO): nothing keeps computing after an error or Ctrl-C.
        stack.callback(client.cancel, futures)
        for future in as_completed(futures, loop=client.loop):
            yield future.result()


def _connect(address: str, timeout: float) -> Any:
    """Connect a ``dask.distributed.Client`` to ``address``; ConnectionError after ``timeout``."""
    from dask.distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise ConnectionError(
            f"cannot reach the Dask scheduler at {address!r} within {timeout:g} s "
            f"(--connect-timeout): {reason}"
        ) from None


def check_scheduler(config: ExecutionConfig) -> None:
    """Connect once to ``config.scheduler`` (if any) so that drivers fail before writing.

    Raises
    ------
    ConnectionError
        If the scheduler does not answer within ``config.connect_timeout`` seconds.
    """
    if config.backend is Backend.DASK and config.scheduler is not None:
        _connect(config.scheduler, config.connect_timeout).close()


def _execute(
    fn: Callable[[T], Rows], groups: list[list[tuple[_Tag, T]]], config: ExecutionConfig
) -> _Results:
    """Dispatch to the backend chosen by ``config`` (only loky sends groups as one job)."""
    if config.backend is not Backend.DASK and config.n_jobs != 1:
        return _run_loky(fn, groups, config.n_jobs)
    pending = [item for group in groups for item in group]
    if config.backend is Backend.DASK:
        return _run_dask(fn, pending, config)
    return _run_in_process(fn, pending)


def _stderr_is_terminal() -> bool:
    """Whether stderr is an interactive terminal (a progress bar would be readable)."""
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@dataclasses.dataclass(frozen=True)
class Grid:
    """One grid of :func:`run_grids`: its tasks and the store its rows go to.

    Attributes
    ----------
    tasks : sequence of frozen dataclass instances
        The grid, in the order its rows should appear in the table; keys (:func:`task_key`)
        must be distinct within the grid.
    store : ResultStore
        Where the grid's rows are recorded; tasks whose key it already holds are skipped.
    manifest : ManifestInfo or None
        If given, the store's manifest is written (with the grid's timings) when the grid's
        last task is recorded.
    """

    tasks: Sequence[Any]
    store: ResultStore
    manifest: ManifestInfo | None = None


@dataclasses.dataclass(frozen=True)
class ManifestInfo:
    """What a grid's ``manifest.json`` records besides the engine's timings.

    Attributes
    ----------
    config : Mapping
        The experiment configuration (see :meth:`ResultStore.write_manifest`).
    data_source : str
        Where the data came from.
    """

    config: Mapping[str, Any]
    data_source: str


def run_grid(
    tasks: Sequence[T],
    fn: Callable[[T], Rows],
    store: ResultStore,
    config: ExecutionConfig,
    *,
    description: str = "",
    group_size: int = 1,
) -> GridReport:
    """Compute the unfinished tasks of a grid, record each as it finishes, consolidate.

    Parameters
    ----------
    tasks : sequence of frozen dataclass instances
        The grid, in the order its rows should appear in the table. Keys
        (:func:`task_key`) must be distinct.
    fn : callable
        ``fn(task) -> list[dict]``: at least one row per task, each with exactly the
        store's columns and scalar values. Must be a module-level function (it is pickled
        to worker processes).
    store : ResultStore
        Where rows are recorded; tasks whose key it already holds are skipped.
    config : ExecutionConfig
        Backend, parallelism, ``force`` and ``quiet``.
    description : str, default=""
        Label of the progress bar.
    group_size : int, default=1
        With the loky backend, this many consecutive tasks go to one worker together, their
        rows recorded when the last of them finishes. Tasks that share work cached per
        process (the seeds of one slope cell share its clean-model sweep) are listed next to
        each other and grouped, so that the shared work is done once per group instead of
        once per worker.

    Returns
    -------
    GridReport
        Counts, wall time and the consolidated table, rows sorted by task order.

    Raises
    ------
    TaskFailedError
        If a task raised (the original exception is its cause). The run stops; tasks
        finished before are kept.
    KeyboardInterrupt
        Re-raised after the finished tasks are written to ``results.csv``.
    ValueError
        If tasks are not frozen dataclasses, repeat a key, or a task returns bad rows.
    """
    [report] = run_grids(
        [Grid(tasks, store)], fn, config, description=description, group_size=group_size
    )
    return report


def run_grids(
    grids: Sequence[Grid],
    fn: Callable[[Any], Rows],
    config: ExecutionConfig,
    *,
    description: str = "",
    group_size: int = 1,
) -> list[GridReport]:
    """:func:`run_grid` for several grids at once, as one stream of tasks.

    The unfinished tasks of every grid go to the workers in grid order, with no pause between
    grids (a grid's last tasks run alongside the next grid's first), so that a driver running
    one grid per pair and trigger keeps every worker busy until its very last task. Each
    task's rows go to its own grid's store; a grid's table is consolidated as soon as its last
    task finishes, with its manifest when the grid has one, so that an error or Ctrl-C later in
    the stream keeps the manifests of the grids already done. After an error or Ctrl-C every
    grid's finished tasks are consolidated too, but an unfinished grid's manifest is not
    written, and a grid none of whose tasks finished is not touched. ``group_size`` groups
    consecutive tasks within a grid, never across grids.

    Returns
    -------
    list of GridReport
        One report per grid, in order; ``seconds`` runs from the start of the call to the
        grid's last task.

    Raises
    ------
    The errors of :func:`run_grid`.
    """
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be a positive integer, got {group_size!r}")
    start = time.perf_counter()
    keys = [_unique_task_keys(grid.tasks) for grid in grids]
    groups: list[list[tuple[_Tag, Any]]] = []
    remaining = []
    for index, (grid, grid_keys) in enumerate(zip(grids, keys, strict=True)):
        finished = set() if config.force else grid.store.finished_keys()
        pending = [
            ((index, key), task)
            for key, task in zip(grid_keys, grid.tasks, strict=True)
            if key not in finished
        ]
        groups += [pending[i : i + group_size] for i in range(0, len(pending), group_size)]
        remaining.append(len(pending))
    n_pending = list(remaining)
    reports: dict[int, GridReport] = {}

    def finish(index: int) -> None:
        reports[index] = GridReport(
            n_total=len(keys[index]),
            n_skipped=len(keys[index]) - n_pending[index],
            n_computed=n_pending[index] - remaining[index],
            seconds=time.perf_counter() - start,
            table=grids[index].store.consolidate(order=keys[index]),
        )
        manifest = grids[index].manifest
        if manifest is not None and not remaining[index]:
            grids[index].store.write_manifest(
                config=manifest.config,
                data_source=manifest.data_source,
                timings=reports[index].timings(),
            )

    for index, count in enumerate(n_pending):
        if not count:
            finish(index)

    progress = tqdm(
        total=sum(n_pending),
        desc=description or None,
        unit="task",
        file=sys.stderr,
        disable=config.quiet or not sum(n_pending) or not _stderr_is_terminal(),
        dynamic_ncols=True,
    )
    try:
        if groups:
            with contextlib.closing(_execute(fn, groups, config)) as results:
                for (index, key), rows in results:
                    grids[index].store.record(key, rows)
                    progress.update(1)
                    remaining[index] -= 1
                    if not remaining[index]:
                        finish(index)
    finally:
        progress.close()
        # Also on Ctrl-C or a failed task: whatever finished lands in results.csv (a grid none
        # of whose tasks finished is left as it was).
        for index in range(len(grids)):
            if index not in reports and remaining[index] < n_pending[index]:
                finish(index)
    return [reports[index] for index in range(len(grids))]
