r"""Backdoor learning curves and parameter deviation (SPEC 5.2, 5.3): ``incremental_curves.py``.

For each model (svm, logistic, ridge, svm-rbf at two gammas), each of its two lambdas
(``C = 1 / lambda``), each poison fraction ``p`` and seed, the optimum ``theta*(beta)`` is
followed along the beta grid with :meth:`BinaryClassifier.beta_path` (warm starts; exact for
ridge). At every beta the task records the clean and backdoor test loss (mean of the model's
own loss), CA, BA and the parameter deviation

    nu(beta) = 1/2 (1 - cos(w(0), w(beta))),    rho(beta) = ||w(beta)||

(primal weights without bias; the RKHS norm and inner product for the RBF SVM, computed from
each model's own support vectors, so coefficients can never be misaligned).

Beyond influence functions, made measurable: the influence slope ``slope_if`` (the exact
derivative at beta = 0, :func:`learning_slope`) is compared with the curve's first finite
difference ``slope_fd = (L(beta_1) - L(0)) / beta_1`` (``slope_ratio = slope_if / slope_fd``),
and ``tangent_valid_until`` is the largest grid beta up to which the tangent's predicted
drop ``-slope_if * beta`` stays within 10% of the actual drop ``L(0) - L(beta)`` (0 when it
already misses at the first positive beta; NaN when the slope is undefined).

Tables: ``results/<dataset>/curves/<pair>_<trigger>/results.csv`` (one row per beta) and
``results/<dataset>/deviation/<pair>_<trigger>/results.csv`` (the rows with
``p = deviation fraction``, derived from the curves table), each with a manifest.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backdoor_curves.attacks.influence import learning_slope
from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.losses import to_signed
from backdoor_curves.classifiers.registry import ClassifierName, make_classifier, parse_classifier
from backdoor_curves.experiments.common import (
    DataRequest,
    Evaluator,
    PoisonedProblem,
    add_dataset_arguments,
    check_same_data,
    config_from_args,
    data_request,
    load_pair_cached,
    model_gram,
    pairs_from_args,
    poisoned_problem,
    record_run,
    run_folder_name,
    trigger_columns,
)
from backdoor_curves.experiments.config import CurveModel, DatasetConfig
from backdoor_curves.utilities.cli import (
    DriverParser,
    add_common_arguments,
    float_list,
    name_list,
    report_errors,
)
from backdoor_curves.utilities.grid import check_scheduler, execution_config_from_args
from backdoor_curves.utilities.metrics import accuracy
from backdoor_curves.utilities.results import ResultStore, atomic_write_text, check_writable

__all__ = [
    "CURVE_COLUMNS",
    "DEVIATION_COLUMNS",
    "CurveTask",
    "build_parser",
    "main",
    "run_curve_task",
    "tangent_valid_until",
]

_IDENTITY = (
    "dataset", "data_source", "pair", "n_train", "n_test",
    "trigger", "trigger_size", "trigger_eps", "clf", "C", "lambda", "gamma",
    "poison_fraction", "seed",
)  # fmt: skip
CURVE_COLUMNS: tuple[str, ...] = (
    *_IDENTITY, "beta", "clean_loss", "backdoor_loss", "clean_acc", "backdoor_acc",
    "nu", "rho", "slope_if", "slope_fd", "slope_ratio", "tangent_valid_until", "slope_status",
)  # fmt: skip
"""Columns of the curves table (the last five are per curve, repeated on its rows)."""

DEVIATION_COLUMNS: tuple[str, ...] = (*_IDENTITY, "beta", "nu", "rho", "backdoor_acc")
"""Columns of the parameter-deviation table."""

TANGENT_TOLERANCE = 0.1
"""Relative miss of the tangent's predicted loss drop that ends its validity."""


@dataclass(frozen=True)
class CurveTask:
    """One learning curve: a model and lambda, a poison fraction and a seed, all betas."""

    data: DataRequest
    features: str
    trigger: TriggerSpec
    clf: ClassifierName
    gamma: float | None
    lam: float
    poison_fraction: float
    seed: int
    betas: tuple[float, ...]


def tangent_valid_until(
    betas: Sequence[float], losses: Sequence[float], slope: float, tolerance: float = 0.1
) -> float:
    """Largest beta up to which the tangent ``L(0) + slope * beta`` predicts the drop.

    The tangent is valid at ``beta`` when ``|(-slope * beta) - (L(0) - L(beta))|`` is at most
    ``tolerance * |L(0) - L(beta)|`` (both drops below 1e-12 count as agreement).

    Parameters
    ----------
    betas : sequence of float
        Increasing grid starting at 0.
    losses : sequence of float
        ``L(beta)`` on that grid.
    slope : float
        ``dL/dbeta`` at 0.
    tolerance : float
        Relative tolerance.

    Returns
    -------
    float
        The largest grid beta such that the tangent is valid at every grid beta up to it;
        0.0 if it misses at the first positive beta; NaN if ``slope`` is NaN.
    """
    if not np.isfinite(slope):
        return float("nan")
    valid_until = 0.0
    for beta, loss in zip(betas[1:], losses[1:], strict=True):
        actual = losses[0] - loss
        predicted = -slope * beta
        miss = abs(predicted - actual)
        if miss > tolerance * abs(actual) and max(abs(actual), abs(predicted)) > 1e-12:
            break
        valid_until = float(beta)
    return valid_until


def _deviation(reference: BinaryClassifier, model: BinaryClassifier) -> tuple[float, float]:
    """``(nu, rho)`` of ``model`` against the beta = 0 model (NaN nu for a zero vector)."""
    norm_ref = np.sqrt(reference.weight_norm_sq())
    rho = float(np.sqrt(model.weight_norm_sq()))
    if norm_ref == 0 or rho == 0:
        return float("nan"), rho
    cosine = np.clip(reference.weight_inner(model) / (norm_ref * rho), -1.0, 1.0)
    return float(0.5 * (1.0 - cosine)), rho


def _path_rows(task: CurveTask, problem: PoisonedProblem) -> list[dict[str, Any]]:
    """Follow the beta path; one row per beta (without the per-curve columns)."""
    model = make_classifier(task.clf, 1.0 / task.lam, task.gamma)
    gram = model_gram(task.clf, task.gamma, problem.X_train)
    evaluator = Evaluator(
        model, problem.X_train, gram, test=problem.X_test, backdoor=problem.X_backdoor
    )
    test_signed, backdoor_signed = to_signed(problem.y_test), to_signed(problem.y_backdoor)
    rows: list[dict[str, Any]] = []
    reference: BinaryClassifier | None = None
    path = model.beta_path(
        problem.X_train, problem.y_train, problem.is_poison, task.betas, gram=gram
    )
    for beta, fitted in zip(task.betas, path, strict=True):
        if reference is None:
            reference = copy.deepcopy(fitted)
            slope = learning_slope(
                fitted, problem.X_train, problem.y_train, problem.is_poison,
                problem.X_backdoor, problem.y_backdoor,
                backdoor_scores=evaluator.decision(fitted, "backdoor"),
                gram=gram, **evaluator.sensitivity_options("backdoor"),
            )  # fmt: skip
        f_test, f_backdoor = (
            evaluator.decision(fitted, "test"),
            evaluator.decision(fitted, "backdoor"),
        )
        nu, rho = _deviation(reference, fitted)
        rows.append({
            "beta": beta,
            "clean_loss": float(fitted.margin_loss.value(test_signed, f_test).mean()),
            "backdoor_loss": float(fitted.margin_loss.value(backdoor_signed, f_backdoor).mean()),
            "clean_acc": accuracy(problem.y_test, (f_test > 0).astype(np.int64)),
            "backdoor_acc": accuracy(problem.y_backdoor, (f_backdoor > 0).astype(np.int64)),
            "nu": nu,
            "rho": rho,
            "slope_if": slope.slope,
            "slope_status": slope.status,
        })  # fmt: skip
    return rows


def _tangent_columns(rows: list[dict[str, Any]], betas: tuple[float, ...]) -> dict[str, float]:
    losses = [float(row["backdoor_loss"]) for row in rows]
    slope_if = float(rows[0]["slope_if"])
    slope_fd = (losses[1] - losses[0]) / betas[1] if len(betas) > 1 else float("nan")
    ratio = slope_if / slope_fd if slope_fd != 0 else float("nan")
    return {
        "slope_fd": slope_fd,
        "slope_ratio": ratio,
        "tangent_valid_until": tangent_valid_until(betas, losses, slope_if, TANGENT_TOLERANCE),
    }


def run_curve_task(task: CurveTask, *, data_dir: str | None = None) -> list[dict[str, object]]:
    """Compute one learning curve (see the module docstring); rows follow ``CURVE_COLUMNS``."""
    pair_task = load_pair_cached(task.data, data_dir)
    problem = poisoned_problem(
        pair_task, task.trigger, task.poison_fraction, task.seed, task.features
    )
    identity = {
        "dataset": task.data.dataset,
        "data_source": pair_task.source,
        "pair": task.data.pair,
        "n_train": pair_task.n_train,
        "n_test": pair_task.n_test,
        **trigger_columns(task.trigger),
        "clf": task.clf.value,
        "C": 1.0 / task.lam,
        "lambda": task.lam,
        "gamma": task.gamma,
        "poison_fraction": task.poison_fraction,
        "seed": task.seed,
    }
    rows = _path_rows(task, problem)
    per_curve = _tangent_columns(rows, task.betas)
    return [{**identity, **row, **per_curve} for row in rows]


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
    add_common_arguments(parser, default_out="results/{mnist,cifar,imagenette}")
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
    source: str
    tasks: tuple[CurveTask, ...]
    curves_dir: Path
    deviation_dir: Path


def _plan(args: argparse.Namespace, config: DatasetConfig) -> list[_Run]:
    """Validate everything and build the tasks of every pair (nothing is written)."""
    betas = _check_betas(args.betas or config.curves.betas)
    fractions = _check_fractions(args.poison_fractions or config.curves.poison_fractions)
    seeds = tuple(args.seeds) if args.seeds else config.curves.seeds
    trigger = _trigger(args, config)
    models = _curve_models(args, config)
    pairs = pairs_from_args(args.pairs, config)
    out_dir = Path(args.out_dir or config.results_dir)
    runs = []
    for pair in pairs:
        request = data_request(args, config, pair)
        pair_task = load_pair_cached(request, args.data_dir, verbose=True)
        for fraction in fractions:  # validates the trigger and the poison counts
            poisoned_problem(pair_task, trigger, fraction, 0, config.features)
        tasks = tuple(
            CurveTask(
                request, config.features, trigger, model.clf, model.gamma, lam, p, seed, betas
            )
            for model in models
            for lam in model.lambdas
            for p in fractions
            for seed in seeds
        )
        name = run_folder_name(request, trigger, config, args.profile)
        runs.append(
            _Run(request, pair_task.source, tasks, out_dir / "curves" / name,
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


@report_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Run the learning curves and parameter deviation; return the exit status."""
    args = build_parser().parse_args(argv)
    execution = execution_config_from_args(args)
    check_scheduler(execution)  # an unreachable cluster fails first, writing nothing
    config = config_from_args(args)
    runs = _plan(args, config)
    for run in runs:
        check_same_data(run.curves_dir, run.source)
        check_writable(run.curves_dir)
        check_writable(run.deviation_dir)
    for run in runs:
        print(f"[curves] {config.dataset} {run.request.pair}: data {run.source}, "
              f"{len(run.tasks)} curves -> {run.curves_dir}")  # fmt: skip
        store = ResultStore(run.curves_dir, CURVE_COLUMNS)
        report, manifest = record_run(
            "incremental_curves", run.tasks, run_curve_task, store, args, execution, run.source,
            description=f"curves {run.request.pair}",
        )  # fmt: skip
        fraction = config.curves.deviation_fraction
        if not _write_deviation(
            run,
            report.table,
            fraction,
            {**manifest, "derived_from": str(store.results_path), "poison_fraction": fraction},
        ):
            print(f"[curves] no curve with p = {fraction}: no deviation table")
        print(f"[curves] {report.n_computed} computed, {report.n_skipped} skipped, "
              f"{report.seconds:.1f} s")  # fmt: skip
    if not args.no_figures:
        from backdoor_curves.plots import make_figures  # noqa: PLC0415  # matplotlib only here

        out_dir = Path(args.out_dir or config.results_dir)
        for path in make_figures(out_dir, kinds=("curves", "deviation"), formats=("pdf", "png")):
            if path.suffix == ".png":
                print(f"[curves] figure {path}")
    return 0


if __name__ == "__main__":
    # Run main() from the importable module, not from __main__, so that process pools
    # pickle the worker function by reference.
    from backdoor_curves.experiments import curves

    raise SystemExit(curves.main())
