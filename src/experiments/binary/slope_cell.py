r"""One cell of the learning-slope sweep: :func:`run_slope_task`.

A cell (:class:`SlopeTask`) is a (pair, trigger, classifier, gamma, seed) sweep over the ``C``
grid. Poison a fraction of the training set with the trigger; then for every ``C``, in
increasing order along two :meth:`~backdoor_curves.classifiers.base.BinaryClassifier.C_path`
(each fit warm-started from the previous optimum) on the problem's kernel matrices: fit the
model on the clean points (``beta = 0``), compute the exact learning slope
``s = d L_bt / d beta`` and its pairwise influences, fit the poisoned model (``beta = 1``) and
read the clean test accuracy of the model of the unpoisoned training set (which depends on
neither the seed nor the trigger: the tasks of one :func:`slope_group` share one sweep). One row
per ``C``, with the columns :data:`SLOPE_COLUMNS`. The problem, its kernel matrices and the
clean sweep come from the group's :class:`~backdoor_curves.experiments.workspace.Workspace`.
The driver (:mod:`backdoor_curves.experiments.binary.slope`) plans the cells and records them;
this module computes one and calls only the layers below it (problem, model, analysis).

See ``docs/method.md``, section "The backdoor learning slope".
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from backdoor_curves.attacks.influence import learning_slope
from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.feature_stage import CachedFeatures
from backdoor_curves.experiments.problem import DataRequest, PoisonedProblem, trigger_columns
from backdoor_curves.experiments.workspace import (
    ProblemKernels,
    ProblemKey,
    Workspace,
    on_kernels,
)
from backdoor_curves.utilities.metrics import accuracy

__all__ = [
    "SLOPE_COLUMNS",
    "SLOPE_IDENTITY",
    "VARYING_COLUMNS",
    "SlopeTask",
    "run_slope_task",
    "slope_group",
]

SLOPE_COLUMNS: tuple[str, ...] = (
    "dataset", "data_source", "pair", "n_train", "n_test",
    "trigger", "trigger_size", "trigger_eps", "clf", "C", "gamma", "seed",
    "poison_fraction", "n_poison", "clean_acc_clean_model", "clean_acc", "backdoor_acc",
    "train_acc", "slope", "theta", "influence_mean", "influence_abs_mean", "backdoor_loss",
    "damping", "condition_number", "exact_optimum", "status",
    "seconds", "fit_seconds", "influence_seconds", "eval_seconds",
)  # fmt: skip
"""Columns of ``results.csv`` (``clean_acc``/``backdoor_acc``: the poisoned model's)."""

VARYING_COLUMNS: tuple[str, ...] = ("seconds", "fit_seconds", "influence_seconds", "eval_seconds")
"""The only columns whose bytes differ between two runs of one command (wall-clock times)."""

SLOPE_IDENTITY: tuple[str, ...] = (
    "dataset", "pair", "n_train", "n_test", "trigger", "trigger_size", "trigger_eps",
    "clf", "C", "gamma", "seed", "poison_fraction",
)  # fmt: skip
"""The columns that say which cell a row is (a table holds each such cell once)."""


@dataclass(frozen=True)
class SlopeTask:
    """One grid task: a classifier (and gamma) swept over ``C_values`` for one seed.

    ``features`` is ``"pixels"`` or the deep-feature stage (:class:`CachedFeatures`: the
    worker reads the features the driver extracted, from the workspace's cache folder).
    """

    data: DataRequest
    features: str | CachedFeatures
    trigger: TriggerSpec
    poison_fraction: float
    clf: str
    gamma: float | None
    C_values: tuple[float, ...]
    seed: int | None

    def cells(self) -> tuple[SlopeTask, ...]:
        """One task per ``C`` value, in increasing ``C`` (the order of the rows).

        A cell is one ``C``: its key names what it is, not the ``C`` grid it came from (see
        :mod:`backdoor_curves.utilities.tasks`), so a grown or reordered grid reuses it.
        """
        return tuple(dataclasses.replace(self, C_values=(C,)) for C in sorted(self.C_values))

    def with_cells(self, cells: Sequence[SlopeTask]) -> SlopeTask:
        """Return the task sweeping the ``C`` values of ``cells`` (cells of this task)."""
        return dataclasses.replace(self, C_values=tuple(cell.C_values[0] for cell in cells))


def slope_group(task: SlopeTask) -> Hashable:
    """Return the key of the tasks that share work (the grid's ``group_by``).

    The tasks of one pair, features and kernel family (the linear models together, the RBF
    models at every gamma together) and ``C`` grid run in one worker with one
    :class:`Workspace`: every seed's and trigger's problem is built once, its products
    ``A B^T`` once for all the group's kernels, and each model's clean ``C`` sweep (which
    depends on neither trigger, poison fraction nor seed) once.
    """
    kernel = make_classifier(task.clf, task.C_values[0], task.gamma).kernel_function
    return (task.data, task.features, type(kernel).__name__, task.C_values)


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
    task: SlopeTask,
    problem: PoisonedProblem,
    kernels: ProblemKernels,
    clean_acc: dict[float, float],
    source: str,
) -> list[dict[str, object]]:
    """Rows of one seed: the ``C`` sweep in increasing ``C``, each fit warm-started from the last.

    ``at_zero`` is the model at ``beta = 0`` (poisons weighted 0), where the slope is taken;
    ``at_one`` the poisoned model (``beta = 1``) whose accuracies are recorded. Both are
    models on ``kernels``, the problem's kernel matrices (``precomputed`` models, see
    :func:`~backdoor_curves.experiments.workspace.on_kernels`) or its features.
    """
    base = on_kernels(make_classifier(task.clf, task.C_values[0], task.gamma))
    clean_weight = (~problem.is_poison).astype(np.float64)
    C_values = sorted(task.C_values)
    zero_path = base.C_path(kernels.train, problem.y_train, clean_weight, C_values)
    one_path = base.C_path(kernels.train, problem.y_train, None, C_values)
    rows = []
    for C in C_values:
        watch = _Stopwatch()
        at_zero = next(zero_path)
        watch.lap("fit")
        slope_result = learning_slope(
            at_zero,
            kernels.train,
            problem.y_train,
            problem.is_poison,
            kernels.backdoor,
            problem.y_backdoor,
        )
        watch.lap("influence")
        at_one = next(one_path)
        watch.lap("fit")
        row = {
            **_identity_columns(task, source),
            "C": C,
            "gamma": task.gamma,
            "seed": task.seed,
            "n_poison": int(problem.is_poison.sum()),
            "clean_acc_clean_model": clean_acc[C],
            "clean_acc": accuracy(problem.y_test, at_one.predict(kernels.test)),
            "backdoor_acc": accuracy(problem.y_backdoor, at_one.predict(kernels.backdoor)),
            "train_acc": accuracy(problem.y_train, at_one.predict(kernels.train)),
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


def run_slope_task(task: SlopeTask, workspace: Workspace) -> list[dict[str, object]]:
    """Compute one grid task (see the module docstring); rows follow ``SLOPE_COLUMNS``.

    ``workspace`` is the task's group's (see :func:`slope_group`): it holds the pair, builds
    the problem and its kernel matrices, and keeps the clean sweep for the group's other tasks.
    """
    if task.seed is None:
        raise ValueError("a slope task needs a seed")
    pair_data = workspace.pair(task.data)
    key = ProblemKey(task.data, task.features, task.trigger, task.poison_fraction, task.seed)
    model = on_kernels(make_classifier(task.clf, task.C_values[0], task.gamma))
    clean_acc = workspace.clean_accuracy(
        task.data, task.features, task.clf, task.gamma, task.C_values
    )
    rows = _seed_rows(
        task, workspace.problem(key), workspace.inputs(key, model), clean_acc, pair_data.source
    )
    for row in rows:
        row["n_train"], row["n_test"] = pair_data.n_train, pair_data.n_test
    return rows
