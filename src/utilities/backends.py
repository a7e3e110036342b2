"""Where the tasks of a grid run: in this process, in a joblib/loky pool, or on Dask.

Tasks come in *groups* (:class:`TaskGroup`): the tasks of a group run one after the other in
one worker and may share a *context*, an object the caller makes for the group (e.g. a
workspace of matrices its tasks reuse). The context is made in this process when the group is
dispatched, travels with the group to its worker (so it must pickle, for the process
backends), is passed to each task as ``fn(task, context)`` and is dropped when the group
ends: no state outlives its group.

``n_jobs=1``
    Groups run one after the other in this process: no pool, plain tracebacks.
``loky`` (default, ``n_jobs != 1``)
    A joblib process pool, one job per group; BLAS/OpenMP threads are limited to one per
    worker so that ``n_jobs`` processes do not oversubscribe the cores.
``dask``
    A ``dask.distributed`` cluster at ``scheduler`` (e.g. ``tcp://10.0.0.1:8786``). Without
    a scheduler address a ``LocalCluster`` of ``n_jobs`` single-threaded worker processes is
    started for the run (``n_jobs=-1``: one per core), one Dask task per group. Dask's nanny
    already limits
    BLAS/OpenMP threads to one per worker process. The worker function and the task class
    must be importable on the workers (define them in a module, not in a notebook cell).

:func:`execute` yields ``(tag, rows)`` pairs in completion order, whichever backend runs them;
the grid engine (:mod:`backdoor_curves.utilities.grid`) records them.

**Faults.** A worker process that dies (killed, out of memory), a Dask scheduler that is lost
and a cluster left without workers for ``worker_timeout`` seconds raise
:class:`WorkerLostError`, one line saying what died; the cells finished before are kept by the
grid engine. Local worker processes watch their parent: when the driver dies (even by
``kill -9``) they exit within a second instead of lingering as orphans.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import os
import re
import threading
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

import joblib
import numpy as np
from threadpoolctl import threadpool_limits

from backdoor_curves.utilities.tasks import TaskFailedError

__all__ = [
    "Backend",
    "ExecutionConfig",
    "Tag",
    "TaskGroup",
    "WorkerLostError",
    "check_scheduler",
    "execute",
    "shared_workers",
]

T = TypeVar("T")
Rows = list[dict[str, Any]]
Tag = tuple[int, str]
"""A task's tag: the index of its grid and its key in that grid."""
# What the backends yield: (tag, rows) pairs, in completion order.
_Results = Generator[tuple[Tag, Rows], None, None]


@dataclasses.dataclass(frozen=True)
class TaskGroup:
    """Tasks that one worker computes one after the other, sharing one context.

    Attributes
    ----------
    tasks : list of (Tag, task)
        The tasks, tagged, in the order they run.
    context : callable or None
        ``context(tasks) -> object`` makes the group's context from its (untagged) tasks,
        once, in this process when the group is dispatched; the worker passes the object to
        each task as ``fn(task, context)``. None: the tasks run as ``fn(task)``.
    """

    tasks: list[tuple[Tag, Any]]
    context: Callable[[Sequence[Any]], Any] | None = None

    def with_context(self) -> tuple[list[tuple[Tag, Any]], _Context]:
        """Return the tasks and a freshly made context (``NO_CONTEXT`` without a maker)."""
        if self.context is None:
            return self.tasks, NO_CONTEXT
        return self.tasks, _Context(self.context([task for _, task in self.tasks]))


@dataclasses.dataclass(frozen=True)
class _Context:
    """A group's context as it travels to the worker (``value is None`` for no context)."""

    value: Any
    given: bool = True


NO_CONTEXT = _Context(None, given=False)


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
    worker_timeout : float, default=60.0
        Seconds a Dask cluster may have no worker at all, with tasks pending, before the run
        stops with :class:`WorkerLostError` (instead of waiting for ever).
    """

    n_jobs: int = 1
    backend: Backend = Backend.LOKY
    scheduler: str | None = None
    force: bool = False
    quiet: bool = False
    connect_timeout: float = 5.0
    worker_timeout: float = 60.0

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
        if not (np.isfinite(self.worker_timeout) and self.worker_timeout > 0):
            raise ValueError(
                f"worker_timeout must be a positive number of seconds, got {self.worker_timeout}"
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


class WorkerLostError(RuntimeError):
    """A worker process, the Dask scheduler or every Dask worker was lost during a run."""


# Seconds between two looks of a worker at its parent process.
_PARENT_POLL_SECONDS = 0.5
_watched_parent: int | None = None


def _exit_with_parent() -> None:
    """Make this worker process exit as soon as the process that started it dies.

    Called at the start of every group in a worker; the first call starts a daemon thread
    that compares ``os.getppid()`` with the parent's pid (an orphan is re-parented) and ends
    the process with ``os._exit`` when it changes.
    """
    global _watched_parent
    if _watched_parent is not None:
        return
    parent = os.getppid()
    _watched_parent = parent

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _run_task(fn: Callable[..., Rows], tag: Tag, task: T, context: _Context) -> tuple[Tag, Rows]:
    """Compute one task (in whichever process runs it) and tag the result."""
    try:
        return tag, (fn(task, context.value) if context.given else fn(task))
    except Exception as exc:
        raise TaskFailedError(tag[1], f"{type(exc).__name__}: {exc}") from exc


def _run_in_process(fn: Callable[..., Rows], groups: list[TaskGroup]) -> _Results:
    """Yield ``(tag, rows)`` computing tasks one by one in this process, BLAS on one thread.

    Each group's context is made when the group starts and dropped when it ends.

    One worker uses one core, like each worker of the pool: a grid cell's linear algebra is
    small enough that BLAS threads cost more than they gain (an MNIST slope pair is slower with
    two threads on two cores), and the same thread count as the pool's workers
    gives the same rounding, so ``n_jobs=1`` writes the same numbers as ``n_jobs=2``.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        for group in groups:
            tasks, context = group.with_context()
            for tag, task in tasks:
                yield _run_task(fn, tag, task, context)
            del context  # the group is over: nothing keeps its context


def _run_group(
    fn: Callable[..., Rows],
    tasks: list[tuple[Tag, T]],
    context: _Context,
    driver: int | None = None,
) -> list[tuple[Tag, Rows]]:
    """Compute a group's tasks one after the other in one worker, sharing its context.

    ``driver`` is the pid of the driver process when the worker is its child (the loky pool):
    the worker then exits when the driver dies (:func:`_exit_with_parent`).
    """
    if driver is not None and os.getppid() == driver:
        _exit_with_parent()
    return [_run_task(fn, tag, task, context) for tag, task in tasks]


def _run_loky(fn: Callable[..., Rows], groups: list[TaskGroup], n_jobs: int) -> _Results:
    """Yield ``(tag, rows)`` in completion order from a joblib/loky process pool.

    Each job is one group of tasks, computed by one worker; a group's context is made as
    joblib dispatches the group.
    """
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    # inner_max_num_threads sets OMP/MKL/OpenBLAS thread variables in the worker processes.
    try:
        with joblib.parallel_config(backend="loky", inner_max_num_threads=1):
            parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            outputs = parallel(
                joblib.delayed(_run_group)(fn, *group.with_context(), driver=os.getpid())
                for group in groups
            )
            # Closing the generator (on error or Ctrl-C upstream) makes joblib stop the pool.
            with contextlib.closing(outputs):
                for results in outputs:
                    yield from results
    except TerminatedWorkerError as error:
        codes = re.search(r"exit codes of the workers are (\{.*?\})", str(error))
        raise WorkerLostError(
            "a worker process died (killed, or out of memory"
            + (f"; exit codes {codes.group(1)})" if codes else ")")
        ) from None
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
    (importing the package is seconds per process); the pool is stopped when the outermost
    block exits, also on errors. Nothing else is shared: a group's context ends with it.
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
    fn: Callable[..., Rows], groups: list[TaskGroup], config: ExecutionConfig
) -> _Results:
    """Yield ``(tag, rows)`` in completion order from a Dask cluster, one Dask task per group."""
    # Imported here: dask.distributed is slow to import and only needed for this backend.
    from dask.distributed import LocalCluster

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
        jobs = [group.with_context() for group in groups]
        futures = client.map(
            functools.partial(_run_group, fn),
            [tasks for tasks, _ in jobs],
            [context for _, context in jobs],
            pure=False,
        )
        # Runs first on exit (LIFO): nothing keeps computing after an error or Ctrl-C.
        stack.callback(client.cancel, futures)
        yield from _dask_results(client, futures, address, config.worker_timeout)


# Seconds between two looks for finished Dask tasks, and between two looks at the cluster.
_DASK_POLL_SECONDS = 0.05
_DASK_CHECK_SECONDS = 1.0


def _dask_results(client: Any, futures: list[Any], address: str, worker_timeout: float) -> _Results:
    """Yield the groups' results as their futures finish; say so when the cluster is lost.

    Raises
    ------
    WorkerLostError
        When the scheduler cannot be reached any more, or when it has had no worker for
        ``worker_timeout`` seconds while tasks are pending.
    """
    from concurrent.futures import CancelledError

    from dask.distributed import as_completed

    finished = as_completed(futures, loop=client.loop)
    alone_since: float | None = None
    checked = time.monotonic()
    try:
        while not finished.is_empty():
            if finished.has_ready():
                for future in finished.next_batch(block=False):
                    yield from future.result()
                continue
            time.sleep(_DASK_POLL_SECONDS)
            now = time.monotonic()
            if now - checked < _DASK_CHECK_SECONDS:
                continue
            checked = now
            if client.status != "running":
                raise OSError(f"the client is {client.status}")
            if client.scheduler_info(n_workers=1)["workers"]:
                alone_since = None
            elif alone_since is None:
                alone_since = now
            elif now - alone_since > worker_timeout:
                raise WorkerLostError(
                    f"the Dask scheduler at {address} has had no worker for "
                    f"{worker_timeout:g} s (--worker-timeout) with tasks pending"
                )
    except (OSError, CancelledError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise WorkerLostError(f"lost the Dask scheduler at {address} ({reason})") from None


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


def execute(fn: Callable[..., Rows], groups: list[TaskGroup], config: ExecutionConfig) -> _Results:
    """Dispatch the groups to the backend chosen by ``config``; yield ``(tag, rows)``.

    ``fn(task)`` computes a task of a group without a context maker, ``fn(task, context)``
    one of a group with one (see :class:`TaskGroup`).
    """
    if config.backend is not Backend.DASK and config.n_jobs != 1:
        return _run_loky(fn, groups, config.n_jobs)
    if config.backend is Backend.DASK:
        return _run_dask(fn, groups, config)
    return _run_in_process(fn, groups)
