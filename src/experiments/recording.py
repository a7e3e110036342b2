"""The recording layer: where a run's tables go, what guards them, how a run is recorded.

- :func:`default_run_root` is where a run writes by default (``runs/<dataset>``, ignored by
  git), apart from the committed reference tables under ``results/<dataset>``
  (:mod:`backdoor_curves.experiments.reference` compares the two);
- :func:`run_folder_name` names the results folder of one pair (``7-1_badnet3``, with
  the :func:`data_variant` suffix for non-default data, so tables never mix data), and
  :func:`folder_variant` reads that suffix back; :func:`figures_folder` is where the figures of
  one data variant go;
- :func:`check_same_data` refuses to extend a table computed on another data source;
- :class:`RunSettings` holds what a run records besides its tasks (typed; no command-line
  objects below the CLI layer);
- :func:`record_run` runs a driver's grid into a result store and writes its manifest;
  :func:`record_runs` does it for several run folders as one stream of tasks
  (:class:`RunGrid` each).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.experiments.config import DatasetConfig
from backdoor_curves.experiments.problem import DataRequest
from backdoor_curves.naming import trigger_spec_tag
from backdoor_curves.utilities.backends import ExecutionConfig
from backdoor_curves.utilities.grid import Grid, GridReport, ManifestInfo, run_grids
from backdoor_curves.utilities.store import ResultStore

__all__ = [
    "RunGrid",
    "RunSettings",
    "check_same_data",
    "data_variant",
    "default_run_root",
    "figures_folder",
    "folder_variant",
    "record_run",
    "record_runs",
    "run_folder_name",
]


@dataclass(frozen=True)
class RunSettings:
    """What a driver run records besides its tasks.

    Attributes
    ----------
    driver : str
        Name of the driver, e.g. ``"slope"`` (written to the manifest).
    profile : str
        ``"paper"`` or ``"smoke"``.
    device : str
        Torch device choice (``"auto"``, ``"cpu"``, ``"cuda"``); the binary models run on CPU.
    data_dir : str or None
        Dataset root handed to every grid cell.
    execution : ExecutionConfig
        How the grid runs.
    """

    driver: str
    profile: str
    device: str
    data_dir: str | None
    execution: ExecutionConfig


RUNS_ROOT = "runs"
"""Folder (relative to the working directory) that holds the run roots; git ignores it."""


def default_run_root(config: DatasetConfig) -> Path:
    """Default results root of a run: ``runs/<results name>``, e.g. ``runs/mnist``.

    A run's tables, resume journal, manifests and figures go there; the committed reference
    of the same dataset is ``config.results_dir`` (``results/mnist``), which runs only read
    (to compare with) unless ``--out-dir`` points at it.
    """
    return Path(RUNS_ROOT) / config.results_name


def data_variant(request: DataRequest, config: DatasetConfig, profile: str) -> str:
    """Suffix naming the data of a run that differs from the configuration's, or ``""``.

    ``_smoke`` for the smoke profile, ``_n<train>-<test>`` for other subset sizes (``default``
    for a size left to the data source) and ``_ds<seed>`` for another data seed, in that order,
    e.g. ``"_smoke_ds3"``.
    """
    parts = []
    if profile != "paper":
        parts.append(profile)
    if (request.n_train, request.n_test) != (config.n_train, config.n_test):
        sizes = ["default" if n is None else str(n) for n in (request.n_train, request.n_test)]
        parts.append("n" + "-".join(sizes))
    if request.data_seed != config.data_seed:
        parts.append(f"ds{request.data_seed}")
    return "".join(f"_{part}" for part in parts)


def run_folder_name(
    request: DataRequest, trigger: TriggerSpec, config: DatasetConfig, profile: str
) -> str:
    """Results sub-folder of one pair: ``<pair>_<trigger tag><data variant>``.

    E.g. ``7-1_badnet3`` on the configuration's data, ``7-1_badnet3_smoke`` for the smoke
    profile (see :func:`data_variant`): runs on other data get their own folder, so tables
    never mix data.
    """
    return f"{request.pair}_{trigger_spec_tag(trigger)}{data_variant(request, config, profile)}"


def folder_variant(name: str) -> str:
    """Return the :func:`data_variant` suffix of a run folder name (see :func:`run_folder_name`).

    Pairs (``7-1``) and trigger tags (``badnet3``) contain no underscore, so everything after
    the second part is the variant: ``folder_variant("7-1_badnet3_smoke") == "_smoke"``.
    """
    return "".join(f"_{part}" for part in name.split("_")[2:])


def figures_folder(out_dir: Path, variant: str) -> Path:
    """Folder of the figures of one data variant: ``<out_dir>/figures<variant>``.

    The paper's data draw into ``<out_dir>/figures``; e.g. the smoke profile into
    ``<out_dir>/figures_smoke``, so figures of other data never overwrite the paper's.
    """
    return out_dir / f"figures{variant}"


def check_same_data(results_dir: Path, source: str) -> None:
    """Refuse to add rows computed on other data to an existing table.

    Raises
    ------
    ValueError
        If ``results_dir/results.csv`` holds rows whose ``data_source`` differs from
        ``source`` (e.g. the embedded digits, then full MNIST).
    """
    table = results_dir / "results.csv"
    if not table.exists():
        return
    try:
        sources = set(pd.read_csv(table, usecols=["data_source"])["data_source"].dropna())
    except (ValueError, pd.errors.EmptyDataError):
        return  # header-only or foreign table: the result store reports real problems
    others = sorted(sources - {source})
    if others:
        raise ValueError(
            f"{results_dir} holds results computed on {others[0]!r}, but this run uses "
            f"{source!r}; choose another --out-dir or --run-name"
        )


@dataclass(frozen=True)
class RunGrid:
    """One run folder of :func:`record_runs`: its tasks, its store and its data source.

    Attributes
    ----------
    tasks : sequence of frozen dataclass instances
        The grid cells.
    store : ResultStore
        Where the rows go.
    source : str
        Data source of every row (the manifest records it).
    """

    tasks: Sequence[Any]
    store: ResultStore
    source: str


def record_run(
    tasks: Sequence[Any],
    worker: Callable[..., list[dict[str, Any]]],
    store: ResultStore,
    settings: RunSettings,
    source: str,
    description: str,
    *,
    group_by: Callable[[Any], Hashable] | None = None,
    context: Callable[[Sequence[Any]], Any] | None = None,
) -> tuple[GridReport, dict[str, Any]]:
    """Run a driver's grid into ``store`` and write its manifest.

    Parameters
    ----------
    tasks : sequence of frozen dataclass instances
        The grid cells.
    worker : callable
        ``worker(task, data_dir=...) -> rows`` computes one cell; with a ``context``,
        ``worker(task, context) -> rows`` (the context then says where the data are).
    store : ResultStore
        Where the rows go.
    settings : RunSettings
        Driver, profile, device, data root and execution of the run.
    source : str
        Data source of every row (the manifest records it).
    description : str
        Progress-bar label.
    group_by, context : callable, optional
        Which tasks run together in one worker, and what they share there
        (:func:`~backdoor_curves.utilities.grid.run_grid`).

    Returns
    -------
    report : GridReport
        The grid engine's report (its ``table`` holds every row of the store).
    config : dict
        The manifest's ``config`` part (drivers that derive further tables reuse it).
    """
    [(report, config)] = record_runs(
        [RunGrid(tasks, store, source)],
        worker,
        settings,
        description,
        group_by=group_by,
        context=context,
    )
    return report, config


def record_runs(
    runs: Sequence[RunGrid],
    worker: Callable[..., list[dict[str, Any]]],
    settings: RunSettings,
    description: str,
    *,
    group_by: Callable[[Any], Hashable] | None = None,
    context: Callable[[Sequence[Any]], Any] | None = None,
) -> list[tuple[GridReport, dict[str, Any]]]:
    """Run several run folders' grids as one stream of tasks; write each folder's manifest.

    The tasks go to the workers in run order with no pause between runs
    (:func:`~backdoor_curves.utilities.grid.run_grids`); the parameters are those of
    :func:`record_run`. Returns ``(report, config)`` per run, in order.
    """
    configs = [
        {
            "driver": settings.driver,
            "profile": settings.profile,
            "device": settings.device,
            "execution": asdict(settings.execution),
            "tasks": [asdict(task) for task in run.tasks],
        }
        for run in runs
    ]
    # The grid engine writes each folder's manifest when its last task finishes, so an
    # interruption later in the stream keeps the manifests of the runs already done.
    reports = run_grids(
        [
            Grid(run.tasks, run.store, ManifestInfo(config, run.source))
            for run, config in zip(runs, configs, strict=True)
        ],
        worker if context is not None else functools.partial(worker, data_dir=settings.data_dir),
        settings.execution,
        description=description,
        group_by=group_by,
        context=context,
    )
    return list(zip(reports, configs, strict=True))
