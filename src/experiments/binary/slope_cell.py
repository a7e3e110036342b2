r"""One cell of the learning-slope sweep (SPEC 5.1): :func:`run_slope_task`.

A cell (:class:`SlopeTask`) is a (pair, trigger, classifier, gamma, seed) sweep over the ``C``
grid. For every ``C``, in increasing order with warm starts (the previous optimum starts the next
fit) and one kernel (Gram) matrix: poison a fraction of the training set with the trigger, fit
the model on the clean points (``beta = 0``), compute the exact learning slope
``s = d L_bt / d beta`` and its pairwise influences, fit the poisoned model (``beta = 1``) and
read the clean test accuracy of the model of the unpoisoned training set (which depends on
neither the seed nor the trigger: each worker process computes its ``C`` sweep once). One row
per ``C``, with the columns :data:`SLOPE_COLUMNS`. The driver
(:mod:`backdoor_curves.experiments.binary.slope`) plans the cells and records them; this module
computes one and calls only the layers below it (problem, model, analysis).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np

from backdoor_curves.attacks.influence import learning_slope
from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.feature_stage import CachedFeatures, stage_at
from backdoor_curves.experiments.problem import (
    DataRequest,
    Evaluator,
    PoisonedProblem,
    clean_problem_features,
    load_pair,
    poisoned_problem,
    trigger_columns,
)
from backdoor_curves.utilities.metrics import accuracy

__all__ = ["SLOPE_COLUMNS", "SlopeTask", "run_slope_task"]

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
    """One grid task: a classifier (and gamma) swept over ``C_values`` for one seed.

    ``features`` is ``"pixels"`` or the deep-feature stage (:class:`CachedFeatures`: the
    worker reads the features the driver extracted, from the cache folder ``feature_dir``).
    """

    data: DataRequest
    features: str | CachedFeatures
    trigger: TriggerSpec
    poison_fraction: float
    clf: str
    gamma: float | None
    C_values: tuple[float, ...]
    seed: int | None


# Problems and clean features kept per worker process: every (classifier, gamma) of a seed
# fits on the same arrays, so the kernel products computed from them are shared too
# (classifiers.kernels.inner_products). Eight problems cover the paper's five seeds (about
# 70 MB each on 1,500 x 4096-d features).
@functools.lru_cache(maxsize=8)
def _problem(
    data: DataRequest,
    features: str | CachedFeatures,
    trigger: TriggerSpec,
    fraction: float,
    seed: int,
    data_dir: str | None,
    feature_dir: str | None,
) -> PoisonedProblem:
    stage = stage_at(features, feature_dir, data_dir)
    return poisoned_problem(load_pair(data, data_dir), trigger, fraction, seed, stage)


@functools.lru_cache(maxsize=2)
def _clean_features(
    data: DataRequest, features: str | CachedFeatures, data_dir: str | None, feature_dir: str | None
) -> tuple[np.ndarray, np.ndarray]:
    stage = stage_at(features, feature_dir, data_dir)
    return clean_problem_features(load_pair(data, data_dir), stage)


# Keyed by what the clean model depends on (not the trigger, poison fraction or seed), so every
# seed and both triggers of a pair share one sweep per (classifier, gamma) in a worker; an
# entry is ten floats, and 64 hold the 24 sweeps of ./run_mnist.sh all.
@functools.lru_cache(maxsize=64)
def _clean_model_accuracy(
    data: DataRequest,
    features: str | CachedFeatures,
    clf: str,
    gamma: float | None,
    C_values: tuple[float, ...],
    data_dir: str | None,
    feature_dir: str | None,
) -> dict[float, float]:
    """Clean test accuracy of the model fitted on the unpoisoned training set, per ``C``.

    The ``C`` values run in increasing order, each fit warm-started from the previous one.
    """
    pair_data = load_pair(data, data_dir)
    X, X_test = _clean_features(data, features, data_dir, feature_dir)
    y = np.asarray(pair_data.y_train)
    base = make_classifier(clf, C_values[0], gamma)
    gram = base.kernel(X, X)
    evaluator = Evaluator(base, X, gram, test=X_test)
    result = {}
    previous: BinaryClassifier | None = None
    for C in sorted(C_values):
        previous = base.with_params(C=C).fit(X, y, gram=gram, init=previous)
        result[C] = accuracy(pair_data.y_test, evaluator.predict(previous, "test"))
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
    """Rows of one seed: the ``C`` sweep in increasing ``C``, each fit warm-started from the last.

    ``at_zero`` is the model at ``beta = 0`` (poisons weighted 0), where the slope is taken;
    ``at_one`` the poisoned model (``beta = 1``) whose accuracies are recorded.
    """
    base = make_classifier(task.clf, task.C_values[0], task.gamma)
    gram = base.kernel(problem.X_train, problem.X_train)
    evaluator = Evaluator(
        base, problem.X_train, gram, test=problem.X_test, backdoor=problem.X_backdoor
    )
    sensitivity_options = {"gram": gram, **evaluator.sensitivity_options("backdoor")}
    clean_weight = (~problem.is_poison).astype(np.float64)
    rows = []
    at_zero: BinaryClassifier | None = None
    at_one: BinaryClassifier | None = None
    for C in sorted(task.C_values):
        watch = _Stopwatch()
        at_zero = base.with_params(C=C).fit(
            problem.X_train, problem.y_train, clean_weight, gram=gram, init=at_zero
        )
        watch.lap("fit")
        slope_result = learning_slope(
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
        at_one = base.with_params(C=C).fit(problem.X_train, problem.y_train, gram=gram, init=at_one)
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
            "slope": slope_result.slope,
            "theta": slope_result.theta,
            "influence_mean": slope_result.influence_mean,
            "influence_abs_mean": slope_result.influence_abs_mean,
            "backdoor_loss": slope_result.backdoor_loss,
            "damping": slope_result.damping,
            "condition_number": slope_result.condition_number,
            "exact_optimum": bool(at_zero.exact_ and at_one.exact_),
            "status": slope_result.status,
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


def _identity_columns(task: SlopeTask, source: str) -> dict[str, object]:
    return {
        "dataset": task.data.dataset,
        "data_source": source,
        "pair": task.data.pair,
        **trigger_columns(task.trigger),
        "clf": task.clf,
        "poison_fraction": task.poison_fraction,
    }


def run_slope_task(
    task: SlopeTask, *, data_dir: str | None = None, feature_dir: str | None = None
) -> list[dict[str, object]]:
    """Compute one grid task (see the module docstring); rows follow ``SLOPE_COLUMNS``.

    ``feature_dir`` is the deep-feature cache folder (``--feature-cache``; None:
    ``<data dir>/features``); pixel tasks ignore it.
    """
    if task.seed is None:
        raise ValueError("a slope task needs a seed")
    pair_data = load_pair(task.data, data_dir)
    problem = _problem(
        task.data, task.features, task.trigger, task.poison_fraction, task.seed, data_dir,
        feature_dir,
    )  # fmt: skip
    clean_acc = _clean_model_accuracy(
        task.data, task.features, task.clf, task.gamma, task.C_values, data_dir, feature_dir
    )
    rows = _seed_rows(task, problem, clean_acc, task.seed, pair_data.source)
    for row in rows:
        row["n_train"], row["n_test"] = pair_data.n_train, pair_data.n_test
    return rows
