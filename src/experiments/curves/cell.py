r"""One learning curve (``docs/method.md``): :func:`run_curve_task`.

A cell (:class:`CurveTask`) is a model and lambda, a poison fraction and a seed, over all betas.
For the SVMs the optimum is known exactly along the whole curve: its path is piecewise affine in
beta (:mod:`backdoor_curves.classifiers.svm_path`), and the curve has a row at every beta of the
grid (``point = "grid"``) and at every breakpoint of the path (``point = "breakpoint"``, where a
training point changes set), with the number of breakpoints and the path's status on every row.
For logistic and ridge the optimum is followed with step-size control
(:mod:`backdoor_curves.analyses.path_tolerance`) along its path, by predictor-corrector
continuation for logistic (:mod:`backdoor_curves.classifiers.logistic_path`), in closed form
for ridge (:class:`~backdoor_curves.classifiers.ridge.RidgePath`): rows at every grid beta and
at the steps (``point = "refined"``) that keep the chords between rows within
``REFINE_TOLERANCE`` of the backdoor and clean test loss curves. Any other registered model is
fitted on the grid (:meth:`~backdoor_curves.classifiers.base.BinaryClassifier.beta_path`).
Every point gives one row of :data:`CURVE_COLUMNS`: clean and backdoor test loss (the
model's own loss), CA, BA, the parameter deviation (:mod:`backdoor_curves.analyses.deviation`)
and, repeated on every row of the curve, the influence slope at beta = 0 with the tangent check
(:mod:`backdoor_curves.analyses.tangent`): ``slope_fd`` from the first grid step, and
``tangent_crossing`` over every row of the curve, refined between rows: for the SVMs,
whose scores are affine between rows, the largest beta up to which the tangent holds
everywhere (:func:`~backdoor_curves.analyses.tangent.hinge_tangent_valid_until`); for logistic
and ridge the root of the miss on the followed path after the last row where it holds
(:func:`~backdoor_curves.analyses.tangent.smooth_tangent_valid_until`); not a grid estimate.
``tangent_valid_until`` is the crossing for logistic and ridge; for the SVMs it is the first
breakpoint of the path at which the loss has left the tangent, the end of the path's last piece
(the last beta) when none has
(:func:`~backdoor_curves.analyses.tangent.breakpoint_tangent_valid_until`): the crossing is at
or before it.
:data:`DEVIATION_COLUMNS` are the columns of the deviation table the driver derives (every row
of the curves at one poison fraction).
The models take the problem's kernel matrices (``precomputed``), which come, with the problem,
from the group's :class:`~backdoor_curves.experiments.workspace.Workspace`: the curves of one
problem (:func:`curve_group`) share them. The driver plans the cells and records them; this
module computes one and calls only the layers below it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from backdoor_curves.analyses.deviation import parameter_deviation, path_deviation
from backdoor_curves.analyses.path_tolerance import follow_path_losses, loss_along
from backdoor_curves.analyses.tangent import (
    TANGENT_TOLERANCE,
    breakpoint_tangent_valid_until,
    hinge_tangent_valid_until,
    slope_fd,
    slope_ratio,
    smooth_tangent_valid_until,
    tangent_valid_until,
)
from backdoor_curves.attacks.influence import learning_slope
from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.exact_path import exact_beta_path
from backdoor_curves.classifiers.kernel_svm import KernelSVM
from backdoor_curves.classifiers.logistic import LogisticClassifier
from backdoor_curves.classifiers.logistic_path import LogisticPath
from backdoor_curves.classifiers.losses import to_signed
from backdoor_curves.classifiers.primal_path import PrimalPath
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.classifiers.ridge import RidgeClassifier, RidgePath
from backdoor_curves.experiments.feature_stage import CachedFeatures
from backdoor_curves.experiments.problem import DataRequest, PoisonedProblem, trigger_columns
from backdoor_curves.experiments.workspace import (
    ProblemKernels,
    ProblemKey,
    Workspace,
    on_kernels,
)
from backdoor_curves.naming import BREAKPOINT, GRID_POINT, REFINED
from backdoor_curves.utilities.metrics import accuracy

__all__ = [
    "BREAKPOINT",
    "CURVE_COLUMNS",
    "DEVIATION_COLUMNS",
    "GRID_POINT",
    "CurveTask",
    "curve_group",
    "run_curve_task",
]

_IDENTITY = (
    "dataset", "data_source", "pair", "n_train", "n_test",
    "trigger", "trigger_size", "trigger_eps", "clf", "C", "lambda", "gamma",
    "poison_fraction", "seed",
)  # fmt: skip
CURVE_COLUMNS: tuple[str, ...] = (
    *_IDENTITY, "beta", "point", "clean_loss", "backdoor_loss", "clean_acc", "backdoor_acc",
    "nu", "rho", "slope_if", "slope_fd", "slope_ratio", "tangent_valid_until",
    "tangent_crossing", "slope_status", "n_breakpoints", "path_status",
)  # fmt: skip
"""Columns of the curves table (from ``slope_if`` on, per curve, repeated on its rows).

``point`` is ``"grid"``, ``"breakpoint"`` (SVMs) or ``"refined"`` (logistic and ridge steps);
``n_breakpoints`` and ``path_status`` are those of the exact SVM path (empty for logistic and
ridge). ``tangent_crossing`` is the beta where the loss first leaves the tangent;
``tangent_valid_until`` is the same for logistic and ridge, and for the SVMs the first
breakpoint of the path at which the loss has left it (module docstring).
"""


DEVIATION_COLUMNS: tuple[str, ...] = (*_IDENTITY, "beta", "point", "nu", "rho", "backdoor_acc")
"""Columns of the parameter-deviation table (every row of a curve: grid, breakpoints, steps)."""


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


@dataclass(frozen=True)
class _Path:
    """The models along a curve: ``(beta, point, model)`` in increasing beta.

    ``backdoor_loss_at(beta)`` gives the backdoor loss and its derivative at any beta of a
    followed path (None for a grid).
    """

    models: list[tuple[float, str, BinaryClassifier]]
    backdoor_loss_at: Callable[[float], tuple[float, float]] | None = None


@dataclass(frozen=True)
class _Curve:
    """The evaluated points of a curve (``m`` of them, in increasing beta).

    ``test`` and ``backdoor`` are the decision values, shapes (m, n_test) and
    (m, n_backdoor); ``nu`` and ``rho`` (m,) the parameter deviation; ``start`` the model at
    ``beta = 0``; ``breakpoints`` (increasing) and ``status`` those of the exact SVM path
    (None for a grid); ``backdoor_loss_at`` that of :class:`_Path`.
    """

    betas: list[float]
    points: list[str]
    test: np.ndarray
    backdoor: np.ndarray
    nu: np.ndarray
    rho: np.ndarray
    start: BinaryClassifier
    breakpoints: np.ndarray | None = None
    status: str | None = None
    backdoor_loss_at: Callable[[float], tuple[float, float]] | None = None


def _exact_curve(
    task: CurveTask, problem: PoisonedProblem, model: KernelSVM, kernels: ProblemKernels
) -> _Curve:
    """Evaluate an SVM curve on its exact path: every grid beta and every breakpoint at once."""
    exact = exact_beta_path(
        model, kernels.train, problem.y_train, problem.is_poison, beta_end=max(task.betas)
    )
    inner = [float(b) for b in exact.path.inner_breakpoints if b not in task.betas]
    points = sorted([(b, GRID_POINT) for b in task.betas] + [(b, BREAKPOINT) for b in inner])
    optima = exact.optima([beta for beta, _ in points])
    nu, rho = path_deviation(optima)
    return _Curve(
        [beta for beta, _ in points],
        [point for _, point in points],
        optima.decision_function(kernels.test),
        optima.decision_function(kernels.backdoor),
        nu,
        rho,
        exact.start,
        exact.path.inner_breakpoints,
        exact.path.status,
    )


def _models_along(
    task: CurveTask, problem: PoisonedProblem, model: BinaryClassifier, kernels: ProblemKernels
) -> _Path:
    """Return the fitted models of the curve, in increasing beta.

    Logistic and ridge are followed to ``REFINE_TOLERANCE`` (:func:`_followed_models`); any
    other model is fitted on the grid (its :meth:`~BinaryClassifier.beta_path`).
    """
    if isinstance(model, (LogisticClassifier, RidgeClassifier)):
        return _followed_models(task, problem, model, kernels)
    path = model.beta_path(kernels.train, problem.y_train, problem.is_poison, task.betas)
    fitted = {beta: copy.copy(model) for beta, model in zip(task.betas, path, strict=True)}
    return _Path([(beta, GRID_POINT, fitted[beta]) for beta in sorted(fitted)])


def _followed_models(
    task: CurveTask,
    problem: PoisonedProblem,
    model: LogisticClassifier | RidgeClassifier,
    kernels: ProblemKernels,
) -> _Path:
    """Follow a logistic or ridge optimum over the grid to ``REFINE_TOLERANCE``.

    The backdoor and the clean test loss are followed with step-size control
    (``analyses.path_tolerance``) along the model's path: predictor-corrector for logistic
    (``classifiers.logistic_path``), closed form for ridge (``classifiers.ridge``); each
    point is an exact optimum.
    """
    X, y, is_poison = kernels.train, problem.y_train, problem.is_poison
    path: PrimalPath[Any]
    if isinstance(model, LogisticClassifier):
        path = LogisticPath(model, X, y, is_poison)
    else:
        path = RidgePath(model, X, y, is_poison)
    evaluation = [(kernels.backdoor, problem.y_backdoor), (kernels.test, problem.y_test)]
    curve = follow_path_losses(path, evaluation, task.betas)
    models = [
        (point.beta, GRID_POINT if on_grid else REFINED, path.model_at(point.state))
        for point, on_grid in zip(curve.points, curve.on_grid, strict=True)
    ]
    return _Path(models, loss_along(path, curve, evaluation[0]))


def _fitted_curve(path: _Path, kernels: ProblemKernels) -> _Curve:
    """Evaluate a curve model by model (the first one, at ``beta = 0``, is the reference)."""
    start = path.models[0][2]
    deviation = np.array([parameter_deviation(start, fitted) for _, _, fitted in path.models])
    return _Curve(
        [beta for beta, _, _ in path.models],
        [point for _, point, _ in path.models],
        np.array([fitted.decision_function(kernels.test) for _, _, fitted in path.models]),
        np.array([fitted.decision_function(kernels.backdoor) for _, _, fitted in path.models]),
        deviation[:, 0],
        deviation[:, 1],
        start,
        backdoor_loss_at=path.backdoor_loss_at,
    )


def _path_rows(
    task: CurveTask, problem: PoisonedProblem, model: BinaryClassifier, kernels: ProblemKernels
) -> list[dict[str, Any]]:
    """Evaluate the curve; one row per point (without the identity columns).

    ``model`` is the unfitted model, ``kernels`` its inputs: the SVMs on their exact path
    (all points at once), the others model by model along the grid.
    """
    if isinstance(model, KernelSVM):
        curve = _exact_curve(task, problem, model, kernels)
    else:
        curve = _fitted_curve(_models_along(task, problem, model, kernels), kernels)
    slope_result = learning_slope(
        curve.start, kernels.train, problem.y_train, problem.is_poison,
        kernels.backdoor, problem.y_backdoor,
    )  # fmt: skip
    loss = curve.start.margin_loss
    clean_loss = loss.value(to_signed(problem.y_test), curve.test).mean(axis=1)
    backdoor_loss = loss.value(to_signed(problem.y_backdoor), curve.backdoor).mean(axis=1)
    rows = [
        {
            "beta": beta,
            "point": point,
            "clean_loss": float(clean_loss[r]),
            "backdoor_loss": float(backdoor_loss[r]),
            "clean_acc": accuracy(problem.y_test, (curve.test[r] > 0).astype(np.int64)),
            "backdoor_acc": accuracy(problem.y_backdoor, (curve.backdoor[r] > 0).astype(np.int64)),
            "nu": float(curve.nu[r]),
            "rho": float(curve.rho[r]),
            "slope_if": slope_result.slope,
            "slope_status": slope_result.status,
            "n_breakpoints": None if curve.breakpoints is None else curve.breakpoints.size,
            "path_status": curve.status,
        }
        for r, (beta, point) in enumerate(zip(curve.betas, curve.points, strict=True))
    ]
    per_curve = _tangent_columns(rows, curve, to_signed(problem.y_backdoor))
    return [{**row, **per_curve} for row in rows]


def _tangent_columns(
    rows: list[dict[str, Any]], curve: _Curve, signed_backdoor: np.ndarray
) -> dict[str, float]:
    """Return the per-curve columns of the tangent check (``analyses.tangent``).

    ``slope_fd`` is the first step of the grid. The crossing runs over every row (grid,
    breakpoints, refined points) and is refined between rows: on the exact SVM path, whose
    backdoor scores are affine between rows, in closed form (:func:`hinge_tangent_valid_until`);
    on a followed path, at the root of the miss (:func:`smooth_tangent_valid_until`). The
    validity range is the crossing, except on the SVM path: the first breakpoint at which the
    tangent misses (:func:`breakpoint_tangent_valid_until`).
    """
    grid = [row for row in rows if row["point"] == GRID_POINT]
    slope_if = float(rows[0]["slope_if"])
    finite_difference = slope_fd(
        [row["beta"] for row in grid], [float(row["backdoor_loss"]) for row in grid]
    )
    betas = [row["beta"] for row in rows]
    losses = [float(row["backdoor_loss"]) for row in rows]
    if curve.breakpoints is not None:
        crossing = hinge_tangent_valid_until(
            betas, curve.backdoor, signed_backdoor, slope_if, TANGENT_TOLERANCE
        )
        valid_until = breakpoint_tangent_valid_until(
            betas, losses, curve.breakpoints, slope_if, TANGENT_TOLERANCE
        )
    elif curve.backdoor_loss_at is not None:
        crossing = valid_until = smooth_tangent_valid_until(
            betas, losses, slope_if, curve.backdoor_loss_at, TANGENT_TOLERANCE
        )
    else:
        crossing = valid_until = tangent_valid_until(betas, losses, slope_if, TANGENT_TOLERANCE)
    return {
        "slope_fd": finite_difference,
        "slope_ratio": slope_ratio(slope_if, finite_difference),
        "tangent_valid_until": valid_until,
        "tangent_crossing": crossing,
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
    return [{**identity, **row} for row in _path_rows(task, problem, model, kernels)]
