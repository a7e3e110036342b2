"""A learning-curves run from its typed settings: validate, plan, record, derive the deviations.

:func:`run_curves` takes the :class:`CurvesSettings` the command line
(:mod:`backdoor_curves.experiments.curves.cli`) builds and runs the steps every grid driver
shares (:mod:`backdoor_curves.experiments.driver`) with the curves' own plan: one run folder
per pair, whose grid holds one task per (model, lambda, poison fraction, seed), computed by
:func:`~backdoor_curves.experiments.curves.cell.run_curve_task`. Every pair's curves table is
followed by its deviation table: the rows with ``p`` the configuration's deviation fraction
(grid, breakpoint and refined rows), with their own manifest (``derived_from`` the curves table).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.registry import parse_classifier
from backdoor_curves.experiments.config import CurveModel, DatasetConfig
from backdoor_curves.experiments.curves.cell import (
    CURVE_COLUMNS,
    DEVIATION_COLUMNS,
    CurveTask,
    curve_group,
    run_curve_task,
)
from backdoor_curves.experiments.driver import (
    DriverPlan,
    DriverSettings,
    FigureStep,
    RecordedRun,
    RunFolder,
    draw_figures,
    open_stage,
    recorded_runs,
    report_step,
    start_run,
)
from backdoor_curves.experiments.feature_stage import CachedFeatures, PoisonVariant
from backdoor_curves.experiments.flags import pairs_from_args
from backdoor_curves.experiments.problem import load_pairs, poisoned_images
from backdoor_curves.experiments.recording import data_variant, run_folder_name
from backdoor_curves.utilities.atomic import atomic_write_text
from backdoor_curves.utilities.commands import name_list
from backdoor_curves.utilities.store import ResultStore

__all__ = ["CurvesSettings", "check_betas", "check_fractions", "run_curves", "write_deviation"]


@dataclass(frozen=True)
class CurvesSettings:
    """The learning curves' flags, typed (validated by :func:`run_curves`).

    Attributes
    ----------
    common : DriverSettings
        The flags every grid driver shares.
    pairs : str or None
        ``--pairs``: comma-separated class pairs (None: the configuration's).
    models : str or None
        ``--models``: comma-separated classifier names (None: every curve model).
    trigger_size : int or None
        ``--trigger-size``: badnet patch side (None: the configuration's curve trigger).
    betas : tuple of float or None
        ``--betas``: the poison-weight grid (None: the configuration's).
    poison_fractions : tuple of float or None
        ``--poison-fractions`` (None: the configuration's).
    figures : FigureStep
        ``--no-figures`` (skip) or not (draw).
    """

    common: DriverSettings
    pairs: str | None = None
    models: str | None = None
    trigger_size: int | None = None
    betas: tuple[float, ...] | None = None
    poison_fractions: tuple[float, ...] | None = None
    figures: FigureStep = FigureStep.DRAW


def check_betas(betas: tuple[float, ...]) -> tuple[float, ...]:
    """Return ``betas`` if they lie in [0, 1], increase and start at 0; else raise ValueError."""
    bad = [b for b in betas if not (np.isfinite(b) and 0.0 <= b <= 1.0)]
    if bad:
        raise ValueError(f"--betas values must lie in [0, 1], got {bad}")
    if betas[0] != 0.0 or any(b >= a for b, a in zip(betas, betas[1:], strict=False)):
        raise ValueError(f"--betas must be increasing and start at 0, got {list(betas)}")
    return betas


def check_fractions(fractions: tuple[float, ...]) -> tuple[float, ...]:
    """Return the poison fractions if they lie in (0, 1); else raise ValueError."""
    bad = [p for p in fractions if not (np.isfinite(p) and 0.0 < p < 1.0)]
    if bad:
        raise ValueError(f"poison fractions must lie in (0, 1), got {bad}")
    return fractions


def _curve_models(text: str | None, config: DatasetConfig) -> tuple[CurveModel, ...]:
    names = name_list(text, "models")
    if names is None:
        return config.curves.models
    wanted = {parse_classifier(name) for name in names}
    return tuple(model for model in config.curves.models if model.clf in wanted)


def _trigger(settings: CurvesSettings, config: DatasetConfig) -> TriggerSpec:
    if settings.trigger_size is None:
        return config.curves.trigger
    return TriggerSpec.badnet(settings.trigger_size)


def _plan(settings: CurvesSettings, features: str | CachedFeatures) -> list[RunFolder]:
    """Validate everything, load the pairs and plan every pair's folder (nothing is written)."""
    common = settings.common
    config = common.config
    betas = check_betas(settings.betas or config.curves.betas)
    fractions = check_fractions(settings.poison_fractions or config.curves.poison_fractions)
    seeds = common.seeds_or(config.curves.seeds)
    trigger = _trigger(settings, config)
    models = _curve_models(settings.models, config)
    folders = []
    pairs = pairs_from_args(settings.pairs, config)
    requests = [common.request(pair) for pair in pairs]
    pair_tasks = load_pairs(requests, common.data_dir, verbose=True, download=common.download)
    for pair, request, pair_task in zip(pairs, requests, pair_tasks, strict=True):
        for fraction in fractions:  # validates the trigger and the poison counts
            poisoned_images(pair_task, trigger, fraction, 0)
        tasks = tuple(
            CurveTask(request, features, trigger, model.clf, model.gamma, lam, p, seed, betas)
            for model in models
            for lam in model.lambdas
            for p in fractions
            for seed in seeds
        )
        name = run_folder_name(request, trigger, config, common.profile)
        curves_dir = common.out_dir / "curves" / name
        folders.append(
            RunFolder(
                request,
                pair_task,
                pair,
                curves_dir,
                CURVE_COLUMNS,
                tasks,
                variants=tuple(PoisonVariant(t.trigger, t.poison_fraction, t.seed) for t in tasks),
                announce=f"[curves] {config.dataset} {pair}: data {pair_task.source}, "
                f"{len(tasks)} curves -> {curves_dir}",
                derived_dirs=(common.out_dir / "deviation" / name,),
            )
        )
    return folders


def write_deviation(
    deviation_dir: Path,
    table: pd.DataFrame,
    fraction: float,
    manifest: dict[str, Any],
    source: str,
) -> bool:
    """Write the deviation table: the rows of a curves table with ``p = fraction``.

    ``deviation_dir`` exists (the driver checked it writable before the grid); the table and
    its manifest (``manifest`` as its config, ``source`` as its data source) are written
    atomically. Returns False, writing nothing, when the curves table has no such row.
    """
    rows = table[np.isclose(table["poison_fraction"], fraction)]
    if rows.empty:
        return False
    store = ResultStore(deviation_dir, DEVIATION_COLUMNS)
    atomic_write_text(store.results_path, rows[list(DEVIATION_COLUMNS)].to_csv(index=False))
    store.write_manifest(config=manifest, data_source=source, timings={})
    return True


def _derive_deviation(recorded: RecordedRun, fraction: float) -> None:
    """Write the deviation table of one pair and its console lines."""
    folder, report = recorded.folder, recorded.report
    pair = folder.label
    derived = {
        **recorded.manifest,
        "derived_from": str(recorded.results_path),
        "poison_fraction": fraction,
    }
    [deviation_dir] = folder.derived_dirs
    if not write_deviation(deviation_dir, report.table, fraction, derived, folder.pair_task.source):
        print(f"[curves] {pair}: no curve with p = {fraction}: no deviation table")
    print(f"[curves] {pair}: {report.n_computed} computed, {report.n_skipped} "
          f"skipped, done after {report.seconds:.1f} s")  # fmt: skip


def run_curves(settings: CurvesSettings) -> int:
    """Run the learning curves and parameter deviation; return the exit status.

    What it raises, it raises before anything is written (:func:`.driver.start_run` lists it).
    """
    common = settings.common
    config = start_run(common)
    data_seed = config.data_seed if common.data_seed is None else common.data_seed
    pairs_from_args(settings.pairs, config)  # a bad pair fails before the network loads
    # A missing weights file fails here; the network loads (and its weights are verified)
    # while extracting, before any results folder is made.
    stage = open_stage(common, data_seed)
    folders = _plan(settings, config.features if stage is None else stage.features)
    pairs = [folder.label for folder in folders]
    plan = DriverPlan(
        tuple(folders),
        run_curve_task,
        common.run_settings("incremental_curves"),
        "curves " + (pairs[0] if len(folders) == 1 else f"({len(folders)} pairs)"),
        stage=stage,
        # The curves of one problem share it and its kernel matrices: one worker takes them
        # together, with one workspace holding the pair loaded here.
        group_by=curve_group,
    )
    check = common.reference_check("curves")
    for recorded in recorded_runs(plan):
        _derive_deviation(recorded, config.curves.deviation_fraction)
        check.add(recorded.folder.run_dir)
    if settings.figures is FigureStep.DRAW:
        variant = data_variant(common.request(pairs[0]), config, common.profile)
        draw_figures("curves", common.out_dir, ("curves", "deviation"), variant)
    status = check.report()
    report_step(common, common.reference, check)
    return status
