r"""Backdoor learning curves and parameter deviation (SPEC 5.2, 5.3): ``incremental_curves.py``.

For each model (svm, logistic, ridge, svm-rbf at two gammas), each of its two lambdas
(``C = 1 / lambda``), each poison fraction ``p`` and seed, the optimum ``theta*(beta)`` is
followed along the beta grid with :meth:`BinaryClassifier.beta_path` (warm starts; exact for
ridge). At every beta the task records the clean and backdoor test loss (mean of the model's
own loss), CA, BA and the parameter deviation

    nu(beta) = 1/2 (1 - cos(w(0), w(beta))),    rho(beta) = ||w(beta)||

(primal weights without bias; the RKHS norm and inner product for the RBF SVM), computed by
:func:`backdoor_curves.analyses.deviation.parameter_deviation`.

Beyond influence functions, made measurable: the influence slope ``slope_if`` (the exact
derivative at beta = 0, :func:`learning_slope`) is compared with the curve's first finite
difference ``slope_fd = (L(beta_1) - L(0)) / beta_1`` (``slope_ratio = slope_if / slope_fd``),
and ``tangent_valid_until`` is the largest grid beta up to which the tangent's predicted
drop ``-slope_if * beta`` stays within 10% of the actual drop ``L(0) - L(beta)`` (0 when it
already misses at the first positive beta; NaN when the slope is undefined); the equations
live in :mod:`backdoor_curves.analyses.tangent`. This module only orchestrates.

Tables: ``results/<dataset>/curves/<pair>_<trigger>/results.csv`` (one row per beta) and
``results/<dataset>/deviation/<pair>_<trigger>/results.csv`` (the rows with
``p = deviation fraction``, derived from the curves table), each with a manifest; runs on
other data than the configuration's get a folder suffix (``_smoke``, ``_n<train>-<test>``,
``_ds<seed>``). Figures (unless ``--no-figures``): ``<out-dir>/figures<suffix>/``, drawn from the
tables of this run's suffix only (:mod:`backdoor_curves.experiments.figure_step`).

Planning and recording live here; one curve's computation lives in
:mod:`backdoor_curves.experiments.curves.cell`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
from backdoor_curves.experiments.feature_extraction import open_feature_stage
from backdoor_curves.experiments.feature_stage import CachedFeatures, PoisonVariant
from backdoor_curves.experiments.figure_step import draw_run_figures
from backdoor_curves.experiments.flags import (
    add_common_arguments,
    add_dataset_arguments,
    add_feature_arguments,
    add_reference_arguments,
    config_from_args,
    data_request_from_args,
    execution_config_from_args,
    feature_settings_from_args,
    out_dir_from_args,
    pairs_from_args,
    reference_check_from_args,
    run_settings_from_args,
)
from backdoor_curves.experiments.problem import (
    DataRequest,
    load_pair,
    poisoned_images,
)
from backdoor_curves.experiments.recording import (
    RunGrid,
    RunSettings,
    check_same_data,
    data_variant,
    record_runs,
    run_folder_name,
)
from backdoor_curves.experiments.reference_tables import ReferenceCheck
from backdoor_curves.experiments.workspace import WorkspaceFactory
from backdoor_curves.utilities.atomic import atomic_write_text, check_writable
from backdoor_curves.utilities.backends import check_scheduler, shared_workers
from backdoor_curves.utilities.commands import DriverParser, float_list, name_list, report_errors
from backdoor_curves.utilities.data import PairTask
from backdoor_curves.utilities.store import ResultStore

__all__ = [
    "CURVE_COLUMNS",
    "DEVIATION_COLUMNS",
    "CurveTask",
    "build_parser",
    "main",
    "run_curve_task",
]


# --- command line ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """Parser of ``python incremental_curves.py``."""
    parser = DriverParser(
        prog="python incremental_curves.py",
        description="Backdoor learning curves (loss vs poison weight beta, followed "
        "incrementally) and parameter deviation, then figures F2 and F6.",
    )
    add_dataset_arguments(parser)
    parser.add_argument(
        "--pairs", "-pair", "--pair", dest="pairs", default=None,
        help="class pairs a-b, comma-separated (default: the dataset's three pairs)",
    )  # fmt: skip
    parser.add_argument(
        "--models", "-clf", dest="models", default=None,
        help="svm, logistic, ridge, svm-rbf (both gammas), comma-separated (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--trigger-size", "-trigger_size", dest="trigger_size", type=int, default=None,
        help="badnet patch side (default: the dataset's curve trigger, 6 for MNIST)",
    )  # fmt: skip
    parser.add_argument(
        "--betas", type=float_list, default=None,
        help="poison weights in [0, 1], increasing, starting at 0 (default: the paper's 20)",
    )  # fmt: skip
    parser.add_argument(
        "--poison-fractions", "-ppoison", dest="poison_fractions", type=float_list, default=None,
        help="poison fractions in (0, 1) (default: 0.01,0.1,0.2)",
    )  # fmt: skip
    parser.add_argument(
        "--no-figures", action="store_true", help="write the tables only (draw them later "
        "with python -m backdoor_curves.plots RESULTS_DIR)",
    )  # fmt: skip
    add_common_arguments(parser, default_out="runs/{mnist,cifar,imagenette}")
    add_reference_arguments(parser)
    add_feature_arguments(parser)
    return parser


def _check_betas(betas: tuple[float, ...]) -> tuple[float, ...]:
    bad = [b for b in betas if not (np.isfinite(b) and 0.0 <= b <= 1.0)]
    if bad:
        raise ValueError(f"--betas values must lie in [0, 1], got {bad}")
    if betas[0] != 0.0 or any(b >= a for b, a in zip(betas, betas[1:], strict=False)):
        raise ValueError(f"--betas must be increasing and start at 0, got {list(betas)}")
    return betas


def _check_fractions(fractions: tuple[float, ...]) -> tuple[float, ...]:
    bad = [p for p in fractions if not (np.isfinite(p) and 0.0 < p < 1.0)]
    if bad:
        raise ValueError(f"poison fractions must lie in (0, 1), got {bad}")
    return fractions


def _curve_models(args: argparse.Namespace, config: DatasetConfig) -> tuple[CurveModel, ...]:
    names = name_list(args.models, "models")
    if names is None:
        return config.curves.models
    wanted = {parse_classifier(name) for name in names}
    return tuple(model for model in config.curves.models if model.clf in wanted)


def _trigger(args: argparse.Namespace, config: DatasetConfig) -> TriggerSpec:
    if args.trigger_size is None:
        return config.curves.trigger
    return TriggerSpec.badnet(args.trigger_size)


@dataclass(frozen=True)
class _Run:
    """What one pair's run needs: its data, tasks and output folders."""

    request: DataRequest
    pair_data: PairTask
    tasks: tuple[CurveTask, ...]
    curves_dir: Path
    deviation_dir: Path

    @property
    def source(self) -> str:
        """Where the pair's data came from."""
        return self.pair_data.source


def _plan(
    args: argparse.Namespace, config: DatasetConfig, features: str | CachedFeatures
) -> list[_Run]:
    """Validate everything and build the tasks of every pair (nothing is written)."""
    betas = _check_betas(args.betas or config.curves.betas)
    fractions = _check_fractions(args.poison_fractions or config.curves.poison_fractions)
    seeds = tuple(args.seeds) if args.seeds else config.curves.seeds
    trigger = _trigger(args, config)
    models = _curve_models(args, config)
    pairs = pairs_from_args(args.pairs, config)
    out_dir = out_dir_from_args(args, config)
    runs = []
    for pair in pairs:
        request = data_request_from_args(args, config, pair)
        pair_data = load_pair(request, args.data_dir, verbose=True, download=args.download)
        for fraction in fractions:  # validates the trigger and the poison counts
            poisoned_images(pair_data, trigger, fraction, 0)
        tasks = tuple(
            CurveTask(request, features, trigger, model.clf, model.gamma, lam, p, seed, betas)
            for model in models
            for lam in model.lambdas
            for p in fractions
            for seed in seeds
        )
        name = run_folder_name(request, trigger, config, args.profile)
        runs.append(
            _Run(request, pair_data, tasks, out_dir / "curves" / name,
                 out_dir / "deviation" / name)
        )  # fmt: skip
    return runs


def _write_deviation(run: _Run, table: pd.DataFrame, fraction: float, manifest: dict) -> bool:
    """Write the deviation table (rows of the curves table with ``p = fraction``)."""
    rows = table[np.isclose(table["poison_fraction"], fraction)]
    if rows.empty:
        return False
    store = ResultStore(run.deviation_dir, DEVIATION_COLUMNS)
    atomic_write_text(store.results_path, rows[list(DEVIATION_COLUMNS)].to_csv(index=False))
    store.write_manifest(config=manifest, data_source=run.source, timings={})
    return True


def _record_curves(
    runs: list[_Run],
    feature_dir: str | None,
    settings: RunSettings,
    config: DatasetConfig,
    check: ReferenceCheck,
) -> None:
    """Compute (or resume) every pair's curves as one stream of tasks; derive the deviations."""
    for run in runs:
        print(f"[curves] {config.dataset} {run.request.pair}: data {run.source}, "
              f"{len(run.tasks)} curves -> {run.curves_dir}")  # fmt: skip
    grids = [
        RunGrid(run.tasks, ResultStore(run.curves_dir, CURVE_COLUMNS), run.source) for run in runs
    ]
    description = "curves " + (runs[0].request.pair if len(runs) == 1 else f"({len(runs)} pairs)")
    # The curves of one problem share it and its kernel matrices: one worker takes them
    # together, with one workspace holding the pair loaded here.
    workspaces = WorkspaceFactory(
        {run.request: run.pair_data for run in runs}, settings.data_dir, feature_dir
    )
    recorded = record_runs(
        grids, run_curve_task, settings, description, group_by=curve_group, context=workspaces
    )
    fraction = config.curves.deviation_fraction
    for run, grid, (report, manifest) in zip(runs, grids, recorded, strict=True):
        derived = {
            **manifest,
            "derived_from": str(grid.store.results_path),
            "poison_fraction": fraction,
        }
        if not _write_deviation(run, report.table, fraction, derived):
            print(f"[curves] {run.request.pair}: no curve with p = {fraction}: no deviation table")
        print(f"[curves] {run.request.pair}: {report.n_computed} computed, {report.n_skipped} "
              f"skipped, done after {report.seconds:.1f} s")  # fmt: skip
        check.add(run.curves_dir)


@report_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Run the learning curves and parameter deviation; return the exit status."""
    args = build_parser().parse_args(argv)
    execution = execution_config_from_args(args)
    check_scheduler(execution)  # an unreachable cluster fails first, writing nothing
    config = config_from_args(args)
    check = reference_check_from_args(args, config, "curves")  # a missing folder: nothing written
    data_seed = config.data_seed if args.data_seed is None else args.data_seed
    pairs_from_args(args.pairs, config)  # a bad pair fails before the network loads
    # A missing weights file fails here; the network loads (and its weights are verified)
    # while extracting, below, before any results folder is made.
    stage = open_feature_stage(
        config.features, feature_settings_from_args(args), args.data_dir, data_seed
    )
    runs = _plan(args, config, config.features if stage is None else stage.features)
    settings = run_settings_from_args(args, "incremental_curves", execution)
    for run in runs:
        check_same_data(run.curves_dir, run.source)
    feature_dir = None
    if stage is not None:
        for run in runs:
            variants = [PoisonVariant(t.trigger, t.poison_fraction, t.seed) for t in run.tasks]
            print(stage.extract(run.pair_data, variants))
        feature_dir = str(stage.cache.root)
    for run in runs:
        check_writable(run.curves_dir)
        check_writable(run.deviation_dir)
    with shared_workers():
        _record_curves(runs, feature_dir, settings, config, check)
    if not args.no_figures:
        out_dir = out_dir_from_args(args, config)
        variant = data_variant(runs[0].request, config, args.profile)
        for path in draw_run_figures(out_dir, ("curves", "deviation"), variant):
            if path.suffix == ".png":
                print(f"[curves] figure {path}")
    return check.report()


if __name__ == "__main__":
    # Run main() from the importable module, not from __main__, so that process pools
    # pickle the worker function by reference.
    from backdoor_curves.experiments.curves import cli as curves
    from backdoor_curves.utilities.commands import exit_process

    exit_process(curves.main())
