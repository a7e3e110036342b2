"""Drawing every registered figure of a set of tables.

Inside: :func:`draw_figures` (tables already read, e.g. a chosen set of run folders) and
:func:`make_figures` (every table of a results directory into ``<results_dir>/figures``).
Which figures a table kind gets is the registry's business (:mod:`backdoor_curves.plots.registry`).

Each registered plotter of each table is one task, or one task per combination of the
plotter's ``split_by`` columns (one per pair and trigger for the slope figures and heat maps);
with several cores the tasks run in forked worker processes (matplotlib draws on one core), the
largest tables first, so the ten figures of the slope step share the machine evenly. Every
figure is drawn by exactly the code that draws it serially, so the files are the same; where
``fork`` is not the safe default (not Linux) the tasks run one after the other.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from backdoor_curves.plots.registry import Plotter, plotters, split_columns
from backdoor_curves.plots.style import FORMATS
from backdoor_curves.plots.tables import load_requested_tables

__all__ = ["draw_figures", "make_figures"]


_Task = tuple[Plotter, pd.DataFrame]
# The tasks of the running draw_figures call, as seen by a forked worker (set by _adopt_tasks).
_worker_tasks: list[_Task] = []


def draw_figures(
    tables: dict[str, pd.DataFrame],
    out_dir: Path,
    formats: Sequence[str] = FORMATS,
    *,
    n_jobs: int | None = None,
) -> list[Path]:
    """Draw every figure of the given tables into ``out_dir`` (created if needed).

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Tables keyed by kind, as returned by :func:`~backdoor_curves.plots.tables.load_tables`.
    out_dir : pathlib.Path
        Folder for the figures.
    formats : sequence of {"pdf", "png"}
        File formats to write.
    n_jobs : int, optional
        Worker processes (default: the cores this process may use; 1 draws in this process).
        Never more than the number of plotter tasks.

    Returns
    -------
    list of pathlib.Path
        The written files, in the order of the tables and of the registered plotters.

    Raises
    ------
    ValueError
        If a kind is not registered, a format is unknown or ``n_jobs`` < 1.
    """
    unknown = [fmt for fmt in formats if fmt not in FORMATS]
    if unknown:
        raise ValueError(f"unknown figure formats {unknown}; valid formats are {list(FORMATS)}")
    if n_jobs is not None and n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer; got {n_jobs!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = [
        (plotter, part)
        for kind, table in tables.items()
        for plotter in plotters(kind)
        for part in _split(table, split_columns(plotter))
    ]
    formats = tuple(formats)
    n_workers = min(len(tasks), _usable_cores() if n_jobs is None else n_jobs)
    if n_workers <= 1 or not sys.platform.startswith("linux"):
        return [path for plotter, table in tasks for path in plotter(table, out_dir, formats)]
    # Forked workers inherit the tasks (plotters may be closures, which cannot be pickled).
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        n_workers, mp_context=context, initializer=_adopt_tasks, initargs=(tasks,)
    ) as pool:
        # Submitted largest first, so that no long task starts last; reported in task order.
        order = sorted(range(len(tasks)), key=lambda index: -len(tasks[index][1]))
        futures = {index: pool.submit(_run_task, index, out_dir, formats) for index in order}
        return [path for index in range(len(tasks)) for path in futures[index].result()]


def _split(table: pd.DataFrame, columns: tuple[str, ...]) -> list[pd.DataFrame]:
    """Rows of ``table`` per combination of ``columns`` (missing values form their own group)."""
    if not columns:
        return [table]
    return [part for _, part in table.groupby(list(columns), dropna=False, sort=True)]


def _usable_cores() -> int:
    """Return the number of cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _adopt_tasks(tasks: list[_Task]) -> None:
    """Worker initializer: keep the parent's task list (inherited through fork, not pickled)."""
    _worker_tasks[:] = tasks


def _run_task(index: int, out_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    """Run task ``index`` of the adopted list in a worker; return the written files."""
    plotter, table = _worker_tasks[index]
    return plotter(table, out_dir, formats)


def make_figures(
    results_dir: Path | str,
    kinds: Sequence[str] | None = None,
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Draw every figure of the requested kinds from ``results_dir`` into ``results_dir/figures``.

    Combines :func:`~backdoor_curves.plots.tables.load_requested_tables` and
    :func:`draw_figures`; see them for the parameters and the errors raised. Returns the
    written files.
    """
    tables = load_requested_tables(results_dir, kinds)
    return draw_figures(tables, Path(results_dir) / "figures", formats)
