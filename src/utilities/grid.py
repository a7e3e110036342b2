"""Grid engine: run independent experiment tasks resumably, as one stream across grids.

An experiment is a list of *tasks* (:mod:`backdoor_curves.utilities.tasks`), each a frozen
dataclass instance holding the settings of one grid cell (dataset, pair, classifier, C, seed,
...). A worker function ``fn(task) -> list[dict]`` computes one task and returns its rows
(flat dicts of scalars; a task may return several rows, e.g. one per seed or per beta).
Tasks that share work go to one worker together: ``group_by(task)`` names each task's group
(tasks with equal keys, from any of the grids, form one), and ``context(tasks)`` makes the
object the tasks of a group share, passed as ``fn(task, context)`` and dropped with the group
(see :mod:`backdoor_curves.utilities.backends`).
:func:`run_grid` computes the tasks that are not finished yet on the backend of an
:class:`~backdoor_curves.utilities.backends.ExecutionConfig`, records each task's rows durably
as soon as it finishes (:class:`~backdoor_curves.utilities.store.ResultStore`), and writes the
consolidated, deterministically sorted table at the end. :func:`run_grids` does the same for
several grids, each with its own store (the run folders of one driver invocation), as one
stream of tasks: no worker waits for the last task of one grid before the next grid's tasks
start.

Rows are stored by *cell*: a task computing several cells together (a
:class:`~backdoor_curves.utilities.tasks.PackedTask`, e.g. the ``C`` values of one seed)
records each cell under its own content key, so a grown, shrunk or reordered grid reuses every
finished cell, and a task whose cells are partly finished runs with its missing cells only.

One writer per folder: a run holds the lock of every grid's folder
(:mod:`backdoor_curves.utilities.locks`) from reading which tasks are finished until its last
table and manifest are written; a second run on the same folder waits, then computes only what
is still missing. A corrupt table or manifest stops the run before any task runs.

Interrupting a run (Ctrl-C) or a failing task stops it; the tasks finished so far are
kept (written to ``results.csv``) and the exception propagates, so rerunning the same
command computes only what is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

import pandas as pd
from tqdm import tqdm

from backdoor_curves.utilities.backends import ExecutionConfig, Tag, TaskGroup, execute
from backdoor_curves.utilities.locks import folder_locks
from backdoor_curves.utilities.store import ResultStore
from backdoor_curves.utilities.tasks import cell_keys, pending_cells, task_key

__all__ = ["Grid", "GridReport", "ManifestInfo", "run_grid", "run_grids"]

T = TypeVar("T")
Rows = list[dict[str, Any]]


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
    fn: Callable[..., Rows],
    store: ResultStore,
    config: ExecutionConfig,
    *,
    description: str = "",
    group_by: Callable[[T], Hashable] | None = None,
    context: Callable[[Sequence[T]], Any] | None = None,
) -> GridReport:
    """Compute the unfinished tasks of a grid, record each as it finishes, consolidate.

    Parameters
    ----------
    tasks : sequence of frozen dataclass instances
        The grid, in the order its rows should appear in the table. Keys
        (:func:`task_key`) must be distinct.
    fn : callable
        ``fn(task) -> list[dict]`` (``fn(task, context)`` with a ``context``): at least one
        row per task, each with exactly the store's columns and scalar values. Must be a
        module-level function (it is pickled to worker processes).
    store : ResultStore
        Where rows are recorded; tasks whose key it already holds are skipped.
    config : ExecutionConfig
        Backend, parallelism, ``force`` and ``quiet``.
    description : str, default=""
        Label of the progress bar.
    group_by : callable, optional
        ``group_by(task) -> hashable``: tasks with equal keys form one group, computed by one
        worker one after the other in grid order (with a process pool, the group's rows are
        recorded when its last task finishes). None: every task is a group of its own.
    context : callable, optional
        ``context(tasks) -> object``, called in this process once per group, with the
        group's tasks, when the group is dispatched: the object the group's tasks share
        (e.g. matrices several of them read), passed to each as ``fn(task, context)`` and
        dropped when the group ends. It must pickle (it travels to the worker with the
        group). None: ``fn(task)``.

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
        [Grid(tasks, store)],
        fn,
        config,
        description=description,
        group_by=group_by,
        context=context,
    )
    return report


def _cells_of(tag: Tag, keys: list[str], rows: Rows) -> list[tuple[str, Rows]]:
    """Split a task's rows among the cells it computed (the same number of rows each)."""
    if not isinstance(rows, list) or len(rows) % len(keys):
        got = len(rows) if isinstance(rows, list) else type(rows).__name__
        raise ValueError(
            f"task {tag[1]} computed {len(keys)} cell(s) but returned {got} rows; a packed "
            "task returns the same number of rows for each of its cells"
        )
    size = len(rows) // len(keys)
    return [(key, rows[i * size : (i + 1) * size]) for i, key in enumerate(keys)]


def _grouped(
    pending: list[tuple[Tag, Any]], group_by: Callable[[Any], Hashable] | None
) -> list[list[tuple[Tag, Any]]]:
    """Split tagged tasks into groups by ``group_by``, in the order of their first task."""
    if group_by is None:
        return [[item] for item in pending]
    groups: dict[Hashable, list[tuple[Tag, Any]]] = {}
    for tag, task in pending:
        groups.setdefault(group_by(task), []).append((tag, task))
    return list(groups.values())


def run_grids(
    grids: Sequence[Grid],
    fn: Callable[..., Rows],
    config: ExecutionConfig,
    *,
    description: str = "",
    group_by: Callable[[Any], Hashable] | None = None,
    context: Callable[[Sequence[Any]], Any] | None = None,
) -> list[GridReport]:
    """:func:`run_grid` for several grids at once, as one stream of tasks.

    The unfinished tasks of every grid go to the workers in grid order, with no pause between
    grids (a grid's last tasks run alongside the next grid's first), so that a driver running
    one grid per pair and trigger keeps every worker busy until its very last task. Each
    task's rows go to its own grid's store; a grid's table is consolidated as soon as its last
    task finishes, with its manifest when the grid has one, so that an error or Ctrl-C later in
    the stream keeps the manifests of the grids already done. After an error or Ctrl-C every
    grid's finished tasks are consolidated too, but an unfinished grid's manifest is not
    written, and a grid none of whose tasks finished is not touched. ``group_by`` may put
    tasks of several grids into one group (they share its ``context``); groups go to the
    workers in the order of their first task.

    Returns
    -------
    list of GridReport
        One report per grid, in order; ``seconds`` runs from the start of the call to the
        grid's last task.

    Raises
    ------
    The errors of :func:`run_grid`.
    """
    keys = [cell_keys(grid.tasks) for grid in grids]
    with folder_locks([grid.store.directory for grid in grids]):
        return _run_locked(grids, keys, fn, config, description, group_by, context)


def _run_locked(
    grids: Sequence[Grid],
    keys: list[list[list[str]]],
    fn: Callable[..., Rows],
    config: ExecutionConfig,
    description: str,
    group_by: Callable[[Any], Hashable] | None,
    context: Callable[[Sequence[Any]], Any] | None,
) -> list[GridReport]:
    """:func:`run_grids` with the locks of every grid's folder held."""
    start = time.perf_counter()
    for grid in grids:
        grid.store.check()
    pending: list[tuple[Tag, Any]] = []
    remaining = []
    # The keys of the cells each pending task computes, by its tag.
    computes: dict[Tag, list[str]] = {}
    for index, (grid, grid_keys) in enumerate(zip(grids, keys, strict=True)):
        finished = set() if config.force else grid.store.finished_keys()
        n_unfinished = 0
        for task, task_keys in zip(grid.tasks, grid_keys, strict=True):
            todo, todo_keys = pending_cells(task, task_keys, finished)
            if todo is not None:
                tag = (
                    index,
                    task_keys[0] if todo is task and len(task_keys) == 1 else task_key(todo),
                )
                computes[tag] = todo_keys
                pending.append((tag, todo))
                n_unfinished += 1
        remaining.append(n_unfinished)
    order = [[key for task_keys in grid_keys for key in task_keys] for grid_keys in keys]
    groups = [TaskGroup(tasks, context) for tasks in _grouped(pending, group_by)]
    n_pending = list(remaining)
    reports: dict[int, GridReport] = {}

    def finish(index: int) -> None:
        reports[index] = GridReport(
            n_total=len(keys[index]),
            n_skipped=len(keys[index]) - n_pending[index],
            n_computed=n_pending[index] - remaining[index],
            seconds=time.perf_counter() - start,
            table=grids[index].store.consolidate(order=order[index]),
        )
        dropped = grids[index].store.n_duplicates_dropped
        if dropped:
            print(
                f"notice: {grids[index].store.results_path} held {dropped} older copy(ies) of "
                "cells stored twice by earlier runs; kept the newest of each",
                file=sys.stderr,
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
            with contextlib.closing(execute(fn, groups, config)) as results:
                for tag, rows in results:
                    index = tag[0]
                    grids[index].store.record_cells(_cells_of(tag, computes[tag], rows))
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
