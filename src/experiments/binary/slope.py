r"""Backdoor learning-slope sweep (SPEC 5.1).

Run as ``python -m backdoor_curves.experiments.binary.slope`` (``./run_mnist.sh`` does).

For every classifier, hyperparameter and seed: poison a fraction of the training set with the
trigger, fit the model on the clean points (``beta = 0``), compute the exact learning slope
``s = d L_bt / d beta`` and its pairwise influences, fit the poisoned model (``beta = 1``) and
the model of the unpoisoned training set, and record clean and backdoor accuracy.

One grid task is a (pair, trigger, classifier, gamma, seed) sweep over the ``C`` grid: ``C``
runs in increasing order with warm starts (the previous optimum is the next start) and the
kernel (Gram) matrix is computed once. The model of the unpoisoned training set does not
depend on the seed; each worker process computes its ``C`` sweep once and reuses it. A task
returns one row per ``C``. Example::

    python -m backdoor_curves.experiments.binary.slope --dataset mnist -pair 7-1 -clf svm \\
        -trigger_size 3 --n-jobs 2
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from backdoor_curves.attacks.influence import learning_slope
from backdoor_curves.attacks.triggers import TriggerKind, TriggerSpec
from backdoor_curves.classifiers.base import BinaryClassifier
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
    to_features,
    trigger_columns,
)
from backdoor_curves.experiments.config import DatasetConfig
from backdoor_curves.utilities.cli import (
    DriverParser,
    add_common_arguments,
    float_list,
    name_list,
    report_errors,
)
from backdoor_curves.utilities.grid import check_scheduler, execution_config_from_args
from backdoor_curves.utilities.metrics import accuracy
from backdoor_curves.utilities.results import ResultStore, check_writable

__all__ = ["SLOPE_COLUMNS", "SlopeTask", "build_parser", "main", "run_slope_task"]

SLOPE_COLUMNS: tuple[str, ...] = (
    "dataset", "data_source", "pair", "n_train", "n_test",
    "trigger", "trigger_size", "trigger_eps", "clf", "C", "gamma", "seed",
    "poison_fraction", "n_poison", "clean_acc_clean_model", "clean_acc", "backdoor_acc",
    "train_acc", "slope", "theta", "influence_mean", "influence_abs_mean", "backdoor_loss",
    "damping", "condition_number", "exact_optimum", "status",
    "seconds", "fit_seconds", "influence_seconds", "eval_seconds",
)  # fmt: skip
"""Columns of ``results.csv`` (``clean_acc``/``backdoor_acc``: the poisoned model's)."""


@dataclass(frozen=True)
class SlopeTask:
    """One grid task: a classifier (and gamma) swept over ``C_values`` for one seed."""

    data: DataRequest
    features: str
    trigger: TriggerSpec
    poison_fraction: float
    clf: ClassifierName
    gamma: float | None
    C_values: tuple[float, ...]
    seed: int | None


@functools.lru_cache(maxsize=16)
def _clean_model_accuracy(task: SlopeTask, data_dir: str | None) -> dict[float, float]:
    """Clean test accuracy of the model fitted on the unpoisoned training set, per ``C``.

    ``task.seed`` must be None: the result is shared by every seed (and cached per process).
    """
    pair_task = load_pair_cached(task.data, data_dir)
    X = to_features(pair_task.X_train, task.features)
    X_test = to_features(pair_task.X_test, task.features)
    model = make_classifier(task.clf, task.C_values[0], task.gamma, warm_start=True)
    gram = model_gram(task.clf, task.gamma, X)
    evaluator = Evaluator(model, X, gram, test=X_test)
    result = {}
    for C in sorted(task.C_values):
        model.C = C
        model.fit(X, np.asarray(pair_task.y_train), gram=gram)
        result[C] = accuracy(pair_task.y_test, evaluator.predict(model, "test"))
    return result


class _Stopwatch:
    """Accumulates wall time per named phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {"fit": 0.0, "influence": 0.0, "eval": 0.0}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] += now - self._last
        self._last = now


def _seed_rows(
    task: SlopeTask, problem: PoisonedProblem, clean_acc: dict[float, float], seed: int, source: str
) -> list[dict[str, object]]:
    """Rows of one seed: the ``C`` sweep with warm starts, in increasing ``C``."""
    at_zero = make_classifier(task.clf, task.C_values[0], task.gamma, warm_start=True)
    at_one = make_classifier(task.clf, task.C_values[0], task.gamma, warm_start=True)
    gram = model_gram(task.clf, task.gamma, problem.X_train)
    evaluator = Evaluator(
        at_zero, problem.X_train, gram, test=problem.X_test, backdoor=problem.X_backdoor
    )
    sensitivity_options = {"gram": gram, **evaluator.sensitivity_options("backdoor")}
    clean_weight = (~problem.is_poison).astype(np.float64)
    rows = []
    for C in sorted(task.C_values):
        watch = _Stopwatch()
        at_zero.C = at_one.C = C
        at_zero.fit(problem.X_train, problem.y_train, clean_weight, gram=gram)
        watch.lap("fit")
        slope = learning_slope(
            at_zero,
            problem.X_train,
            problem.y_train,
            problem.is_poison,
            problem.X_backdoor,
            problem.y_backdoor,
            backdoor_scores=evaluator.decision(at_zero, "backdoor"),
            **sensitivity_options,
        )
        watch.lap("influence")
        at_one.fit(problem.X_train, problem.y_train, gram=gram)
        watch.lap("fit")
        row = {
            **_identity_columns(task, source),
            "C": C,
            "gamma": task.gamma,
            "seed": seed,
            "n_poison": int(problem.is_poison.sum()),
            "clean_acc_clean_model": clean_acc[C],
            "clean_acc": accuracy(problem.y_test, evaluator.predict(at_one, "test")),
            "backdoor_acc": accuracy(problem.y_backdoor, evaluator.predict(at_one, "backdoor")),
            "train_acc": accuracy(problem.y_train, evaluator.predict(at_one, "train")),
            "slope": slope.slope,
            "theta": slope.theta,
            "influence_mean": slope.influence_mean,
            "influence_abs_mean": slope.influence_abs_mean,
            "backdoor_loss": slope.backdoor_loss,
            "damping": slope.damping,
            "condition_number": slope.condition_number,
            "exact_optimum": _is_exact(at_zero) and _is_exact(at_one),
            "status": slope.status,
        }
        watch.lap("eval")
        row.update(
            seconds=sum(watch.seconds.values()),
            fit_seconds=watch.seconds["fit"],
            influence_seconds=watch.seconds["influence"],
            eval_seconds=watch.seconds["eval"],
        )
        rows.append(row)
    return rows


def _is_exact(model: BinaryClassifier) -> bool:
    """Whether the optimum was verified exact (SVM KKT check; the primal solvers always are)."""
    return bool(getattr(model, "exact_", True))


def _identity_columns(task: SlopeTask, source: str) -> dict[str, object]:
    return {
        "dataset": task.data.dataset,
        "data_source": source,
        "pair": task.data.pair,
        **trigger_columns(task.trigger),
        "clf": task.clf.value,
        "poison_fraction": task.poison_fraction,
    }


def run_slope_task(task: SlopeTask, *, data_dir: str | None = None) -> list[dict[str, object]]:
    """Compute one grid task (see the module docstring); rows follow ``SLOPE_COLUMNS``."""
    if task.seed is None:
        raise ValueError("a slope task needs a seed")
    pair_task = load_pair_cached(task.data, data_dir)
    problem = poisoned_problem(
        pair_task, task.trigger, task.poison_fraction, task.seed, task.features
    )
    clean_acc = _clean_model_accuracy(replace(task, seed=None), data_dir)
    rows = _seed_rows(task, problem, clean_acc, task.seed, pair_task.source)
    for row in rows:
        row["n_train"], row["n_test"] = pair_task.n_train, pair_task.n_test
    return rows


# --- command line ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """Parser of the slope driver (original single-dash flags kept as aliases)."""
    parser = DriverParser(
        prog="python -m backdoor_curves.experiments.binary.slope",
        description="Backdoor learning slope sweep: influence-function slope at beta=0, "
        "clean and backdoor accuracy of the poisoned models, over the paper's grids.",
    )
    add_dataset_arguments(parser)
    parser.add_argument(
        "-pair",
        "--pair",
        default=None,
        help="class pair(s) a-b, comma-separated "
        "(default: the dataset's three pairs); class a -> label 0, class b -> label 1",
    )
    parser.add_argument(
        "-clf",
        "--clf",
        default=None,
        help="classifier(s), comma-separated: svm, svm-rbf, logistic, ridge (default: all)",
    )
    parser.add_argument(
        "-trigger_type",
        "--trigger-type",
        choices=[k.value for k in TriggerKind],
        default=None,
        help="trigger kind (default: the dataset's main trigger)",
    )
    parser.add_argument(
        "-trigger_size",
        "--trigger-size",
        type=int,
        default=None,
        help="badnet patch side in pixels",
    )
    parser.add_argument(
        "--trigger-eps",
        type=float,
        default=None,
        help="invisible trigger amplitude in [0, 1] (e.g. 0.0392 = 10/255)",
    )
    parser.add_argument(
        "--double-trigger",
        action="store_true",
        help="use the dataset's double-size (or faint) trigger (paper Fig. 5)",
    )
    parser.add_argument(
        "-ppoison",
        "--poison-fraction",
        type=float,
        default=None,
        help="fraction of the training set replaced by poisons (default 0.1)",
    )
    parser.add_argument(
        "--C",
        dest="C_values",
        type=float_list,
        default=None,
        help="override the C grid, e.g. 0.01,1,100",
    )
    parser.add_argument(
        "--gamma",
        dest="gamma_values",
        type=float_list,
        default=None,
        help="override the RBF gamma grid",
    )
    parser.add_argument(
        "--save_results",
        action="store_true",
        help="accepted for compatibility: results are always saved",
    )
    parser.add_argument(
        "--run-name",
        default=None,
        help="results sub-folder (default: PAIR_TRIGGER, e.g. 7-1_badnet3, with a suffix "
        "for non-default data: _smoke, _n<train>-<test>, _ds<seed>)",
    )
    add_common_arguments(parser, default_out="results/{mnist,cifar,imagenette}/slope")
    return parser


def _trigger(args: argparse.Namespace, config: DatasetConfig) -> TriggerSpec:
    base = config.double_trigger if args.double_trigger else config.main_trigger
    kind = TriggerKind(args.trigger_type) if args.trigger_type else base.kind
    if kind is TriggerKind.BADNET:
        if args.trigger_eps is not None:
            raise ValueError("--trigger-eps applies to the invisible trigger only")
        size = args.trigger_size if args.trigger_size is not None else base.size
        return TriggerSpec.badnet(size if size is not None else 3)
    if args.trigger_size is not None:
        raise ValueError("-trigger_size applies to the badnet trigger only")
    eps = args.trigger_eps if args.trigger_eps is not None else base.eps
    return TriggerSpec.invisible(eps) if eps is not None else TriggerSpec.invisible()


def _classifiers(text: str | None) -> tuple[ClassifierName, ...]:
    names = name_list(text, "classifiers")
    return tuple(ClassifierName) if names is None else tuple(map(parse_classifier, names))


def _positive(values: tuple[float, ...] | None, what: str) -> None:
    if values is not None and not all(np.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"{what} values must be positive finite numbers, got {list(values)}")


def _tasks(
    args: argparse.Namespace,
    config: DatasetConfig,
    request: DataRequest,
    trigger: TriggerSpec,
    fraction: float,
) -> list[SlopeTask]:
    seeds = tuple(args.seeds) if args.seeds else config.seeds
    tasks = []
    for clf in _classifiers(args.clf):
        C_values = args.C_values or config.slope_grid.C_values(clf)
        gammas = (args.gamma_values or config.slope_grid.rbf_gamma) if clf.uses_gamma else (None,)
        for gamma in gammas:
            tasks += [
                SlopeTask(
                    request, config.features, trigger, fraction, clf, gamma, tuple(C_values), seed
                )
                for seed in seeds
            ]
    return tasks


@report_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Run the slope sweep; return the exit status."""
    args = build_parser().parse_args(argv)
    execution = execution_config_from_args(args)
    check_scheduler(execution)  # an unreachable cluster fails first, writing nothing
    config = config_from_args(args)
    trigger = _trigger(args, config)
    fraction = config.poison_fraction if args.poison_fraction is None else args.poison_fraction
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"-ppoison must be in (0, 1), got {fraction}")
    _positive(args.C_values, "--C")
    _positive(args.gamma_values, "--gamma")
    pairs = pairs_from_args(args.pair, config)
    if args.gamma_values is not None and not any(c.uses_gamma for c in _classifiers(args.clf)):
        raise ValueError("--gamma applies to svm-rbf only, which -clf does not include")
    out_dir = Path(args.out_dir or f"{config.results_dir}/slope")
    runs = []
    for pair in pairs:
        request = data_request(args, config, pair)
        pair_task = load_pair_cached(request, args.data_dir, verbose=True)
        poisoned_problem(pair_task, trigger, fraction, 0, config.features)  # validates all
        runs.append((request, pair_task))
    tasks_per_run = [_tasks(args, config, request, trigger, fraction) for request, _ in runs]
    run_dirs = [
        out_dir / (args.run_name or run_folder_name(request, trigger, config, args.profile))
        for request, _ in runs
    ]
    for run_dir, (_, pair_task) in zip(run_dirs, runs, strict=True):
        check_same_data(run_dir, pair_task.source)
        check_writable(run_dir)
    for run_dir, (request, pair_task), tasks in zip(run_dirs, runs, tasks_per_run, strict=True):
        print(
            f"[slope] {config.dataset} {request.pair} {trigger.label}: data {pair_task.source}, "
            f"{pair_task.n_train} train / {pair_task.n_test} test -> {run_dir}"
        )
        store = ResultStore(run_dir, SLOPE_COLUMNS)
        report, _ = record_run(
            "slope", tasks, run_slope_task, store, args, execution, pair_task.source,
            description=f"slope {request.pair} {trigger.label}",
        )  # fmt: skip
        print(
            f"[slope] {report.n_computed} task(s) computed, {report.n_skipped} skipped, "
            f"{report.seconds:.1f} s -> {store.results_path}"
        )
    return 0


if __name__ == "__main__":
    # Run main() from the importable module, not from __main__, so that process pools
    # pickle the worker function by reference.
    from backdoor_curves.experiments.binary import slope

    raise SystemExit(slope.main())
