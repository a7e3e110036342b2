r"""One learning curve (``docs/method.md``): :func:`run_curve_task`.

A cell (:class:`CurveTask`) is a model and lambda, a poison fraction and a seed, over all betas:
the optimum is followed along the beta grid with
:meth:`~backdoor_curves.classifiers.base.BinaryClassifier.beta_path`, and every beta gives one
row of :data:`CURVE_COLUMNS`: clean and backdoor test loss (the model's own loss), CA, BA, the
parameter deviation (:mod:`backdoor_curves.analyses.deviation`) and, repeated on every row of
the curve, the influence slope at beta = 0 with the tangent check
(:mod:`backdoor_curves.analyses.tangent`). :data:`DEVIATION_COLUMNS` are the columns of the
deviation table the driver derives. The models are ``precomputed`` ones on the problem's kernel
matrices, which come, with the problem, from the group's
:class:`~backdoor_curves.experiments.workspace.Workspace`: the curves of one problem
(:func:`curve_group`) share them. The driver (:mod:`backdoor_curves.experiments.curves.cli`)
plans the cells and records them; this module computes one and calls only the layers below it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from backdoor_curves.analyses.deviation import parameter_deviation
from backdoor_curves.analyses.tangent import (
    TANGENT_TOLERANCE,
    slope_fd,
    slope_ratio,
    tangent_valid_until,
)
from backdoor_curves.attacks.influence import learning_slope
from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.losses import to_signed
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

__all__ = ["CURVE_COLUMNS", "DEVIATION_COLUMNS", "CurveTask", "curve_group", "run_curve_task"]

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


@dataclass(frozen=True)
class CurveTask:
    """One learning curve: a model and lambda, a poison fraction and a seed, all betas.

    ``features`` is ``"pixels"`` or the deep-feature stage (:class:`CachedFeatures`, read
    from the cache folder of the workspace).
    """

    data: DataRequest
    features: str | CachedFeatures
    trigger: TriggerSpec
    clf: str
    gamma: float | None
    lam: float
    poison_fraction: float
    seed: int
    betas: tuple[float, ...]


def curve_group(task: CurveTask) -> ProblemKey:
    """Return the key of the curves that share a problem (the grid's ``group_by``).

    The models and lambdas of one (pair, features, trigger, poison fraction, seed) fit on one
    poisoned problem and read its kernel matrices: they run in one worker with one
    :class:`Workspace`.
    """
    return ProblemKey(task.data, task.features, task.trigger, task.poison_fraction, task.seed)


def _path_rows(
    task: CurveTask, problem: PoisonedProblem, model: BinaryClassifier, kernels: ProblemKernels
) -> list[dict[str, Any]]:
    """Follow the beta path; one row per beta (without the per-curve columns).

    ``model`` is the unfitted ``precomputed`` model, ``kernels`` its inputs.
    """
    test_signed, backdoor_signed = to_signed(problem.y_test), to_signed(problem.y_backdoor)
    rows: list[dict[str, Any]] = []
    reference: BinaryClassifier | None = None
    path = model.beta_path(kernels.train, problem.y_train, problem.is_poison, task.betas)
    for beta, fitted in zip(task.betas, path, strict=True):
        if reference is None:
            reference = copy.deepcopy(fitted)
            slope_result = learning_slope(
                fitted, kernels.train, problem.y_train, problem.is_poison,
                kernels.backdoor, problem.y_backdoor,
            )  # fmt: skip
        f_test, f_backdoor = (
            fitted.decision_function(kernels.test),
            fitted.decision_function(kernels.backdoor),
        )
        nu, rho = parameter_deviation(reference, fitted)
        rows.append({
            "beta": beta,
            "clean_loss": float(fitted.margin_loss.value(test_signed, f_test).mean()),
            "backdoor_loss": float(fitted.margin_loss.value(backdoor_signed, f_backdoor).mean()),
            "clean_acc": accuracy(problem.y_test, (f_test > 0).astype(np.int64)),
            "backdoor_acc": accuracy(problem.y_backdoor, (f_backdoor > 0).astype(np.int64)),
            "nu": nu,
            "rho": rho,
            "slope_if": slope_result.slope,
            "slope_status": slope_result.status,
        })  # fmt: skip
    return rows


def _tangent_columns(rows: list[dict[str, Any]], betas: tuple[float, ...]) -> dict[str, float]:
    """Return the per-curve columns of the tangent check (``analyses.tangent``)."""
    losses = [float(row["backdoor_loss"]) for row in rows]
    slope_if = float(rows[0]["slope_if"])
    finite_difference = slope_fd(betas, losses)
    return {
        "slope_fd": finite_difference,
        "slope_ratio": slope_ratio(slope_if, finite_difference),
        "tangent_valid_until": tangent_valid_until(betas, losses, slope_if, TANGENT_TOLERANCE),
    }


def run_curve_task(task: CurveTask, workspace: Workspace) -> list[dict[str, object]]:
    """Compute one learning curve (see the module docstring); rows follow ``CURVE_COLUMNS``.

    ``workspace`` is the task's group's (see :func:`curve_group`): it holds the pair and
    builds the problem and its kernel matrices once for the group.
    """
    pair_data = workspace.pair(task.data)
    key = curve_group(task)
    problem = workspace.problem(key)
    model = on_kernels(make_classifier(task.clf, 1.0 / task.lam, task.gamma))
    kernels = workspace.inputs(key, model)
    identity = {
        "dataset": task.data.dataset,
        "data_source": pair_data.source,
        "pair": task.data.pair,
        "n_train": pair_data.n_train,
        "n_test": pair_data.n_test,
        **trigger_columns(task.trigger),
        "clf": task.clf,
        "C": 1.0 / task.lam,
        "lambda": task.lam,
        "gamma": task.gamma,
        "poison_fraction": task.poison_fraction,
        "seed": task.seed,
    }
    rows = _path_rows(task, problem, model, kernels)
    per_curve = _tangent_columns(rows, task.betas)
    return [{**identity, **row, **per_curve} for row in rows]
