"""The steps every grid driver shares, written once: from typed settings to compared tables.

A grid driver (the slope sweep, the learning curves, the explanations) is a command-line
module that turns its flags into typed settings (:class:`DriverSettings` for the flags they
all share, :func:`~backdoor_curves.experiments.flags.driver_settings_from_args`) and a run
module that validates them, plans its results folders and fills in a :class:`DriverPlan`. The
steps they share, in the order a run takes them:

1. :func:`start_run`: an unreachable Dask scheduler fails first, before anything is read;
2. :func:`open_stage`: the configuration's deep-feature stage (a missing weights file fails
   here; ``None`` for pixels);
3. (the driver validates its settings, loads its pairs and plans its :class:`RunFolder` s);
4. :func:`recorded_runs`: refuse to extend a table computed on other data, extract every
   feature the grids read, check that every output folder can be written (so far nothing is
   written but the feature cache), then record the folders' grids in one pool of workers and
   hand each folder back with its report (:class:`RecordedRun`);
5. :func:`draw_figures`: the figure step of the run's data variant;
6. :meth:`DriverSettings.reference_check`: compare the tables with the committed reference;
   its ``report()`` is the exit status;
7. :func:`report_step`: write the HTML report of the results root (unless ``--no-report``)
   and print its path, the run's last line.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backdoor_curves.experiments.config import DatasetConfig
from backdoor_curves.experiments.feature_extraction import (
    FeatureSettings,
    OpenedStage,
    open_feature_stage,
)
from backdoor_curves.experiments.feature_stage import PoisonVariant
from backdoor_curves.experiments.figure_step import draw_run_figures
from backdoor_curves.experiments.problem import DataRequest
from backdoor_curves.experiments.recording import (
    RunGrid,
    RunSettings,
    check_same_data,
    record_runs,
)
from backdoor_curves.experiments.reference_tables import ReferenceCheck
from backdoor_curves.experiments.workspace import WorkspaceFactory
from backdoor_curves.utilities.atomic import check_writable
from backdoor_curves.utilities.backends import ExecutionConfig, check_scheduler, shared_workers
from backdoor_curves.utilities.data import PairTask
from backdoor_curves.utilities.grid import GridReport
from backdoor_curves.utilities.store import ResultStore

__all__ = [
    "DriverPlan",
    "DriverSettings",
    "FigureStep",
    "RecordedRun",
    "RunFolder",
    "draw_figures",
    "open_stage",
    "recorded_runs",
    "report_step",
    "start_run",
]

Rows = list[dict[str, Any]]


class FigureStep(enum.Enum):
    """What a run does about figures: draw them after the tables, skip them, or only draw."""

    DRAW = "draw"
    SKIP = "skip"
    ONLY = "only"


@dataclass(frozen=True)
class DriverSettings:
    """The flags every grid driver shares, typed.

    Attributes
    ----------
    config : DatasetConfig
        The configuration of ``--dataset`` and ``--profile``.
    profile : str
        ``"paper"`` or ``"smoke"`` (names the data variant of the run folders).
    out_dir : Path
        The run's results root (``--out-dir``, else ``runs/<dataset>``).
    data_dir : str or None
        ``--data-dir`` (None: ``$BACKDOOR_CURVES_DATA``, else ``./data``).
    download : bool
        ``--download``.
    n_train, n_test, data_seed : int or None
        ``--n-train``, ``--n-test``, ``--data-seed`` (None: the configuration's).
    seeds : tuple of int or None
        ``--seeds`` (None: the driver's default seeds of the configuration).
    device : str
        ``--device``.
    execution : ExecutionConfig
        ``--n-jobs``, ``--backend``, ``--scheduler``, ``--force``, ``--quiet``.
    features : FeatureSettings
        ``--weights``, ``--feature-cache`` and the device of the deep-feature stage.
    reference : Path or None
        Reference results root the tables are compared with (None: no comparison).
    fail_on_difference : bool
        ``--fail-on-difference``: a differing cell makes the exit status 1.
    report : bool
        Write the HTML report of ``out_dir`` at the end (``--no-report``: False).
    """

    config: DatasetConfig
    profile: str
    out_dir: Path
    data_dir: str | None = None
    download: bool = False
    n_train: int | None = None
    n_test: int | None = None
    data_seed: int | None = None
    seeds: tuple[int, ...] | None = None
    device: str = "auto"
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    features: FeatureSettings = field(default_factory=FeatureSettings)
    reference: Path | None = None
    fail_on_difference: bool = False
    report: bool = False

    @property
    def quiet(self) -> bool:
        """``--quiet``: no progress bars."""
        return self.execution.quiet

    def request(self, pair: str) -> DataRequest:
        """Return the data request of ``pair`` (sizes and data seed: flags, else the config's)."""
        config = self.config
        return DataRequest(
            config.dataset,
            pair,
            config.n_train if self.n_train is None else self.n_train,
            config.n_test if self.n_test is None else self.n_test,
            config.data_seed if self.data_seed is None else self.data_seed,
        )

    def seeds_or(self, default: tuple[int, ...]) -> tuple[int, ...]:
        """Return ``--seeds``, else ``default``."""
        return self.seeds if self.seeds else default

    def run_settings(self, driver: str) -> RunSettings:
        """Return what the manifests of the ``driver`` run record besides the tasks."""
        return RunSettings(
            driver=driver,
            profile=self.profile,
            device=self.device,
            data_dir=self.data_dir,
            execution=self.execution,
        )

    def reference_check(self, kind: str) -> ReferenceCheck:
        """Return the end-of-run comparison of the ``kind`` tables with the reference."""
        return ReferenceCheck(kind, self.reference, fail_on_difference=self.fail_on_difference)


@dataclass(frozen=True)
class RunFolder:
    """One results folder of a driver run: its data, its grid and its console line.

    Attributes
    ----------
    request : DataRequest
        The pair's data request (the key of its data in the workspaces).
    pair_task : PairTask
        The pair's data, loaded by the driver (its ``source`` is recorded; deep features are
        extracted from it; the workspaces hand it to the workers).
    label : str
        How the console names the folder, e.g. ``"7-1 badnet 3x3"``.
    run_dir : Path
        The results folder.
    columns : tuple of str
        Columns of its table.
    tasks : tuple
        Its grid (frozen dataclass tasks, in table order).
    variants : tuple of PoisonVariant
        The poisoned problems its tasks read (their deep features are extracted first).
    announce : str
        Console line printed before its grid runs (none if empty).
    derived_dirs : tuple of Path
        Folders of tables the driver derives from this one (checked writable up front).
    identity : tuple of str
        The columns that say which cell a row is (see
        :class:`~backdoor_curves.utilities.store.ResultStore`); empty: rows are keyed by task.
    """

    request: DataRequest
    pair_task: PairTask
    label: str
    run_dir: Path
    columns: tuple[str, ...]
    tasks: tuple[Any, ...]
    variants: tuple[PoisonVariant, ...] = ()
    announce: str = ""
    derived_dirs: tuple[Path, ...] = ()
    identity: tuple[str, ...] = ()


@dataclass(frozen=True)
class DriverPlan:
    """What a driver fills in for :func:`recorded_runs`.

    Attributes
    ----------
    folders : tuple of RunFolder
        The results folders, in order.
    worker : callable
        ``worker(task, workspace) -> rows`` (a module-level function: it is pickled to the
        worker processes); the workspace of its group of tasks holds the pairs the driver
        loaded and reads the deep-feature cache it filled
        (:class:`~backdoor_curves.experiments.workspace.Workspace`).
    settings : RunSettings
        Driver, profile, device, data root and execution of the run (the manifests).
    description : str
        Progress-bar label (with ``one_stream=False`` each folder's label is appended).
    stage : OpenedStage or None
        The deep-feature stage (None: pixels).
    group_by : callable or None
        ``group_by(task) -> key``: tasks with the same key run together in one worker and
        share one workspace (None: every task has a workspace of its own).
    group_context : callable or None
        ``group_context(workspaces) -> maker``: what makes the object a group's tasks share,
        from the maker of their workspaces, when the worker reads more than the workspace
        (e.g. :class:`~backdoor_curves.experiments.explain.cell.ExplainWorkspaces`); the maker
        travels with the group to its worker. None: the tasks get the workspace.
    one_stream : bool
        Record every folder's grid as one stream of tasks (True), or one folder after the
        other, each handed back before the next starts (False).
    """

    folders: tuple[RunFolder, ...]
    worker: Callable[[Any, Any], Rows]
    settings: RunSettings
    description: str
    stage: OpenedStage | None = None
    group_by: Callable[[Any], Hashable] | None = None
    group_context: Callable[[WorkspaceFactory], Callable[[Sequence[Any]], Any]] | None = None
    one_stream: bool = True


@dataclass(frozen=True)
class RecordedRun:
    """A folder whose grid is recorded: its table, the engine's report, the manifest's config."""

    folder: RunFolder
    results_path: Path
    report: GridReport
    manifest: dict[str, Any]


def start_run(settings: DriverSettings) -> DatasetConfig:
    """Start a driver run: return its configuration after checking the Dask scheduler.

    An unreachable scheduler fails first (one connection, before any data is read). What a
    run (``run_slope``, ``run_curves``, ``run_explain``) raises, it raises before anything
    is written: ``ValueError`` (bad settings or data), ``FileNotFoundError`` (missing data
    or weights), ``PermissionError`` (an unwritable folder), ``ConnectionError`` (an
    unreachable scheduler); the command line turns each into one line and exit status 2.
    """
    check_scheduler(settings.execution)
    return settings.config


def open_stage(settings: DriverSettings, data_seed: int) -> OpenedStage | None:
    """Open the configuration's deep-feature stage (None for pixels); nothing is extracted.

    Raises
    ------
    FileNotFoundError
        The weights file is missing (names the file and ``--weights``).
    """
    return open_feature_stage(
        settings.config.features, settings.features, settings.data_dir, data_seed
    )


def _prepared_context(plan: DriverPlan) -> Callable[[Sequence[Any]], Any]:
    """Check every folder and extract every feature; return what makes the groups' context."""
    for folder in plan.folders:
        check_same_data(folder.run_dir, folder.pair_task.source)
    feature_dir = None
    if plan.stage is not None:
        for folder in plan.folders:
            print(plan.stage.extract(folder.pair_task, folder.variants))
        feature_dir = str(plan.stage.cache.root)
    for folder in plan.folders:
        for directory in (folder.run_dir, *folder.derived_dirs):
            check_writable(directory)
    pairs = {folder.request: folder.pair_task for folder in plan.folders}
    workspaces = WorkspaceFactory(pairs, plan.settings.data_dir, feature_dir)
    return workspaces if plan.group_context is None else plan.group_context(workspaces)


def recorded_runs(plan: DriverPlan) -> Iterator[RecordedRun]:
    """Record the grids of ``plan`` and hand back each folder as its grid is done.

    Before any result is written: a folder whose table holds rows of other data is refused,
    every deep feature the grids read is extracted (one console line per pair), and every
    folder (with its derived folders) must be writable. The grids then run in one pool of
    workers that stays up until the last folder is handed back.

    Yields
    ------
    RecordedRun
        In folder order: all of them after the one stream of tasks, or each as soon as its
        own grid is done (``plan.one_stream`` False).

    Raises
    ------
    ValueError
        A folder holds results of other data.
    PermissionError
        A folder cannot be written.
    """
    context = _prepared_context(plan)
    batches = [plan.folders] if plan.one_stream else [(folder,) for folder in plan.folders]
    with shared_workers():
        for batch in batches:
            for folder in batch:
                if folder.announce:
                    print(folder.announce)
            description = plan.description
            if not plan.one_stream:
                description = f"{description} {batch[0].label}"
            stores = [
                ResultStore(folder.run_dir, folder.columns, folder.identity) for folder in batch
            ]
            grids = [
                RunGrid(folder.tasks, store, folder.pair_task.source)
                for folder, store in zip(batch, stores, strict=True)
            ]
            recorded = record_runs(
                grids,
                plan.worker,
                plan.settings,
                description,
                group_by=plan.group_by,
                context=context,
            )
            for folder, store, (report, manifest) in zip(batch, stores, recorded, strict=True):
                yield RecordedRun(folder, store.results_path, report, manifest)


def draw_figures(
    tag: str,
    out_dir: Path,
    kinds: Sequence[str],
    variant: str,
    run_names: Sequence[str] = (),
    *,
    echo: bool = True,
) -> list[Path]:
    """Draw the figures of one data variant's ``kinds`` tables; print ``[tag] figure PATH``.

    See :func:`~backdoor_curves.experiments.figure_step.draw_run_figures`; ``echo`` False
    prints nothing. Returns the written files.
    """
    paths = draw_run_figures(out_dir, kinds, variant, run_names)
    if echo:
        for path in paths:
            if path.suffix == ".png":
                print(f"[{tag}] figure {path}")
    return paths


def report_step(
    settings: DriverSettings, reference: Path | None, check: ReferenceCheck | None = None
) -> None:
    """Write ``out_dir/report.html`` and print ``[report] PATH`` (nothing with ``--no-report``).

    ``reference`` is the folder the report compares the slope and curves tables with; the run
    folders that ``check``, the run's own comparison with that folder, has compared are not
    compared again. The run's tables are written by then: a report that cannot be made (an
    unreadable manifest elsewhere in the results root, a full disk) is one line, and the
    run's status stands.
    """
    if not settings.report:
        return
    # The report reads the figure families (matplotlib): imported only when it is written.
    from backdoor_curves.experiments.report import write_report  # noqa: PLC0415

    known = check.by_folder if check is not None and check.reference_root == reference else None
    try:
        path = write_report(settings.out_dir, reference, known=known)
    except (OSError, ValueError) as error:
        print(f"[report] not written: {error}")
        return
    print(f"[report] {path}")
