r"""The backdoor learning slope, learning curve and parameter deviation of a scikit-learn estimator.

The estimator is mapped onto the objective it minimises (:mod:`backdoor_curves.api.estimators`),

.. math::

    J(\theta; \beta) = \tfrac12 \lVert w \rVert^2 + C \sum_{i \notin P} \ell_i
        + \beta \, C \sum_{j \in P} \ell_j ,

with the poisons ``P`` weighted by ``beta``, and that objective is re-solved to an exact optimum
by this package's model (its own solver, not the estimator's). At ``beta = 0`` the model is
trained on the clean points only; the backdoor learning slope is the exact derivative of the
mean backdoor-test loss along the optimum (:mod:`backdoor_curves.attacks.influence`),

.. math::

    s = \frac{d}{d\beta} L_{bt}(\theta^*(\beta)) \Big|_{\beta = 0}
      = \frac{1}{n_{bt}} \sum_t \sum_{j \in P} I_{tj}, \qquad
    I_{tj} = \ell'(y_t, f_t) \, \frac{\partial f(x_t)}{\partial s_j},

with the model's own loss ``l`` (hinge, logistic or squared). A negative slope means the
backdoor loss drops as the poisons gain weight; ``theta = -(2 / pi) arctan(s)`` in (-1, 1) is
the paper's normalised slope (larger: learned faster). It equals the finite-difference slope
of refits of the estimator itself with ``sample_weight`` (1 on clean points, ``beta`` on
poisons), to those refits' solver tolerance (``docs/api.md``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from backdoor_curves.analyses import deviation, tangent
from backdoor_curves.analyses.path_tolerance import follow_path_losses, loss_along
from backdoor_curves.api.estimators import (
    AnalysedModel,
    analysed_model,
    check_fitted_estimator,
)
from backdoor_curves.api.inputs import (
    TrainingSet,
    check_kernel_matrix,
    evaluation_set,
    training_set,
)
from backdoor_curves.attacks import influence
from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.exact_path import exact_beta_path
from backdoor_curves.classifiers.kernel_svm import KernelSVM
from backdoor_curves.classifiers.logistic import LogisticClassifier
from backdoor_curves.classifiers.logistic_path import LogisticPath
from backdoor_curves.classifiers.losses import to_signed
from backdoor_curves.classifiers.ridge import RidgeClassifier, RidgePath

__all__ = [
    "CURVE_BETAS",
    "CURVE_COLUMNS",
    "LearningCurve",
    "SlopeReport",
    "learning_curve",
    "learning_slope",
    "parameter_deviation",
    "top_influential",
]

CURVE_BETAS = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.10, 0.13, 0.16, 0.19, 0.24,
               0.29, 0.36, 0.44, 0.54, 0.66, 0.81, 0.99)  # fmt: skip
"""The paper's grid of poison weights for learning curves."""

CURVE_COLUMNS = (
    "beta",
    "backdoor_loss",
    "backdoor_accuracy",
    "clean_loss",
    "clean_accuracy",
    "tangent_loss",
    "nu",
    "rho",
    "exact",
)
"""Columns of :attr:`LearningCurve.table`, in order."""


@dataclass(frozen=True, eq=False)
class SlopeReport:
    """The backdoor learning slope of an estimator at ``beta = 0`` (module docstring).

    Attributes
    ----------
    slope : float
        ``s = d L_bt / d beta`` at 0; NaN when undefined (see ``status``).
    theta : float
        Normalised slope ``-(2 / pi) arctan(s)``.
    influence : ndarray of shape (n_backdoor, n_poison)
        ``I_tj``: the derivative of backdoor test point ``t``'s loss in poison ``j``'s weight.
    poison_indices : ndarray of shape (n_poison,)
        Row of ``X`` of each column of ``influence``.
    backdoor_loss : float
        ``L_bt`` at ``beta = 0``.
    status : str
        ``"ok"``, or what is not exact and why (``backdoor_curves.attacks.status``).
    exact : bool
        Whether the optimum differentiated was verified exact.
    model : AnalysedModel
        The estimator, and the objective that was solved for it.
    """

    slope: float
    theta: float
    influence: np.ndarray
    poison_indices: np.ndarray
    backdoor_loss: float
    status: str
    exact: bool
    model: AnalysedModel

    @property
    def poison_influence(self) -> np.ndarray:
        """Each poison's share of the slope, ``mean_t I_tj``, shape (n_poison,); sums to ``s``."""
        return self.influence.mean(axis=0)

    @property
    def test_influence(self) -> np.ndarray:
        """Each backdoor point's slope, ``sum_j I_tj``, shape (n_backdoor,); averages to ``s``."""
        return self.influence.sum(axis=1)


@dataclass(frozen=True, eq=False)
class LearningCurve:
    """A backdoor learning curve of an estimator along the poison weight ``beta``.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per beta, columns :data:`CURVE_COLUMNS`: the mean own loss and the accuracy on
        the backdoor test set (targets) and on the clean test set (NaN without one), the
        tangent ``L_bt(0) + s beta``, the parameter deviation ``nu`` and ``||w||`` (``rho``,
        :mod:`backdoor_curves.analyses.deviation`) and whether the optimum was exact.
    slope : SlopeReport
        The slope at ``beta = 0``.
    slope_fd : float
        First finite difference of the curve, ``(L(beta_1) - L(0)) / beta_1``.
    slope_ratio : float
        ``slope / slope_fd``.
    tangent_crossing : float
        Largest beta up to which the tangent predicts the drop of ``L_bt`` within
        :data:`backdoor_curves.analyses.tangent.TANGENT_TOLERANCE`: exact for ``SVC`` (on the
        exact path, between the betas too); for ``LogisticRegression`` and
        ``RidgeClassifier`` checked at ``betas`` and at the steps of their path followed to
        ``REFINE_TOLERANCE`` between them, then refined to the root of the miss on that path
        (as in the learning curves driver).
    tangent_valid_until : float
        ``tangent_crossing``, except for ``SVC``: the first breakpoint of its exact path at
        which the loss has left the tangent, the last beta when none has
        (:func:`~backdoor_curves.analyses.tangent.breakpoint_tangent_valid_until`).
    """

    table: pd.DataFrame
    slope: SlopeReport
    slope_fd: float
    slope_ratio: float
    tangent_crossing: float
    tangent_valid_until: float


def learning_slope(
    estimator: object,
    X: object,
    y: object,
    is_poison: object,
    X_backdoor: object,
    y_backdoor: object,
) -> SlopeReport:
    """Backdoor learning slope of a scikit-learn estimator (module docstring).

    Parameters
    ----------
    estimator : SVC, LogisticRegression or RidgeClassifier
        Fitted or not; only read (:mod:`backdoor_curves.api.estimators` lists what is
        accepted). A fitted one must have been fitted on ``X``'s features and ``y``'s classes.
    X : array-like of shape (n_samples, n_features)
        The poisoned training set (the training kernel matrix for ``kernel="precomputed"``).
    y : array-like of shape (n_samples,)
        Its two labels (targets on the poisons).
    is_poison : array-like of shape (n_samples,), bool
        True on the poisons.
    X_backdoor : array-like of shape (n_backdoor, n_features)
        Triggered test points (their kernel values against ``X`` for a precomputed kernel).
    y_backdoor : array-like of shape (n_backdoor,)
        Their target labels.

    Returns
    -------
    SlopeReport
    """
    model, training, fitted = _fit_clean(estimator, X, y, is_poison)
    X_bt, y_bt = evaluation_set(X_backdoor, y_backdoor, training, "X_backdoor")
    return _slope_report(model, training, fitted, X_bt, y_bt)


def top_influential(report: SlopeReport, k: int = 10) -> pd.DataFrame:
    """Return the ``k`` poisons that lower the backdoor loss most (most negative ``mean_t I_tj``).

    Returns
    -------
    pandas.DataFrame
        Columns ``index`` (row of ``X``) and ``influence`` (``mean_t I_tj``), at most ``k``
        rows, most negative influence first (ties by row).
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    order = np.lexsort((report.poison_indices, report.poison_influence))[:k]
    return pd.DataFrame(
        {"index": report.poison_indices[order], "influence": report.poison_influence[order]}
    )


def learning_curve(
    estimator: object,
    X: object,
    y: object,
    is_poison: object,
    X_backdoor: object,
    y_backdoor: object,
    betas: Sequence[float] = CURVE_BETAS,
    *,
    X_test: object = None,
    y_test: object = None,
) -> LearningCurve:
    """Backdoor learning curve of a scikit-learn estimator: exact optima along ``betas``.

    Parameters
    ----------
    estimator, X, y, is_poison, X_backdoor, y_backdoor
        As for :func:`learning_slope`.
    betas : sequence of float
        Increasing poison weights in [0, 1], starting at 0 (default: the paper's grid).
    X_test, y_test : array-like, optional
        A clean test set for the clean loss and accuracy (both or neither).

    Returns
    -------
    LearningCurve
    """
    grid = _check_betas(betas)
    model, training, fitted = _fit_clean(estimator, X, y, is_poison)
    X_bt, y_bt = evaluation_set(X_backdoor, y_backdoor, training, "X_backdoor")
    clean = None
    if (X_test is None) != (y_test is None):
        raise ValueError("pass both X_test and y_test, or neither")
    if X_test is not None:
        X_clean, y_clean = evaluation_set(X_test, y_test, training, "X_test")
        clean = (X_clean, y_clean)
    report = _slope_report(model, training, fitted, X_bt, y_bt)
    rows = []
    for beta, at_beta in zip(grid, _beta_path(fitted, training, grid), strict=True):
        nu, rho = deviation.parameter_deviation(model, at_beta)
        loss, accuracy = _loss_and_accuracy(at_beta, X_bt, y_bt)
        clean_loss, clean_accuracy = _loss_and_accuracy(at_beta, *clean) if clean else (np.nan,) * 2
        tangent_loss = report.backdoor_loss + report.slope * beta
        exact = bool(getattr(at_beta, "exact_", True))
        rows.append(
            (beta, loss, accuracy, clean_loss, clean_accuracy, tangent_loss, nu, rho, exact)
        )
    table = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    finite_difference = tangent.slope_fd(grid, table["backdoor_loss"].tolist())
    if isinstance(model, KernelSVM):
        crossing, valid_until = _exact_valid_until(
            fitted, training, grid[-1], X_bt, y_bt, report.slope
        )
    elif isinstance(model, (LogisticClassifier, RidgeClassifier)) and len(grid) > 1:
        crossing = valid_until = _followed_valid_until(
            fitted, training, grid, X_bt, y_bt, report.slope
        )
    else:
        crossing = valid_until = tangent.tangent_valid_until(
            grid, table["backdoor_loss"].tolist(), report.slope
        )
    return LearningCurve(
        table=table,
        slope=report,
        slope_fd=finite_difference,
        slope_ratio=tangent.slope_ratio(report.slope, finite_difference),
        tangent_crossing=crossing,
        tangent_valid_until=valid_until,
    )


def _exact_valid_until(
    fitted: AnalysedModel,
    training: TrainingSet,
    beta_end: float,
    X_backdoor: np.ndarray,
    y_backdoor: np.ndarray,
    slope: float,
) -> tuple[float, float]:
    """Return the SVM's exact tangent crossing and validity range, on its path to ``beta_end``.

    The backdoor scores are affine between the path's breakpoints, so the crossing is found in
    closed form (:func:`~backdoor_curves.analyses.tangent.hinge_tangent_valid_until`), between
    the grid's betas as well as at them; the range is the first breakpoint at which the tangent
    misses (:func:`~backdoor_curves.analyses.tangent.breakpoint_tangent_valid_until`).
    """
    exact = exact_beta_path(
        fitted.make(), training.X, training.y, training.is_poison, beta_end=beta_end
    )
    breakpoints = exact.path.inner_breakpoints
    betas = np.unique(np.r_[0.0, breakpoints, beta_end])
    scores = exact.optima(betas).decision_function(X_backdoor)
    signed = to_signed(y_backdoor)
    losses = exact.start.margin_loss.value(signed, scores).mean(axis=1)
    crossing = tangent.hinge_tangent_valid_until(betas, scores, signed, slope)
    return crossing, tangent.breakpoint_tangent_valid_until(betas, losses, breakpoints, slope)


def _followed_valid_until(
    fitted: AnalysedModel,
    training: TrainingSet,
    betas: Sequence[float],
    X_backdoor: np.ndarray,
    y_backdoor: np.ndarray,
    slope: float,
) -> float:
    """Return the tangent validity range of logistic or ridge over their followed path.

    The backdoor loss is followed over ``betas`` to ``REFINE_TOLERANCE``
    (:func:`~backdoor_curves.analyses.path_tolerance.follow_path_losses`), as the learning
    curves driver does; the range is checked at every reported beta (the grid's and the steps
    between, where a steep curve leaves the tangent before the first grid step) and refined to
    the root of the miss between the last row where it holds and the next
    (:func:`~backdoor_curves.analyses.tangent.smooth_tangent_valid_until`).
    """
    model = fitted.make()
    path_class = LogisticPath if isinstance(model, LogisticClassifier) else RidgePath
    path = path_class(model, training.X, training.y, training.is_poison)
    curve = follow_path_losses(path, [(X_backdoor, y_backdoor)], betas)
    losses = [float(point.values[0]) for point in curve.points]
    loss_at = loss_along(path, curve, (X_backdoor, y_backdoor))
    followed = [point.beta for point in curve.points]
    return tangent.smooth_tangent_valid_until(followed, losses, slope, loss_at)


def parameter_deviation(
    estimator: object,
    X: object,
    y: object,
    is_poison: object,
    betas: Sequence[float] = (1.0,),
) -> pd.DataFrame:
    """Parameter deviation of the estimator's optimum at each ``beta`` from the one at 0.

    ``nu = 1/2 (1 - cos(w(0), w(beta)))`` in [0, 1] and ``rho = ||w(beta)||``
    (:mod:`backdoor_curves.analyses.deviation`; the RKHS norm for kernel SVMs).

    Parameters
    ----------
    estimator, X, y, is_poison
        As for :func:`learning_slope`.
    betas : sequence of float
        Poison weights in [0, 1].

    Returns
    -------
    pandas.DataFrame
        Columns ``beta``, ``nu``, ``rho``, one row per beta in the order given.
    """
    grid = _check_betas(betas, from_zero=False)
    reference, training, fitted = _fit_clean(estimator, X, y, is_poison)
    rows = [
        (beta, *deviation.parameter_deviation(reference, model))
        for beta, model in zip(grid, _beta_path(fitted, training, grid), strict=True)
    ]
    return pd.DataFrame(rows, columns=["beta", "nu", "rho"])


# --- shared steps -----------------------------------------------------------------------------
def _fit_clean(
    estimator: object, X: object, y: object, is_poison: object
) -> tuple[BinaryClassifier, TrainingSet, AnalysedModel]:
    """Validate, map the estimator and fit its objective on the clean points (``beta = 0``)."""
    training = training_set(X, y, is_poison)
    fitted = analysed_model(estimator, training.X)
    if fitted.precomputed:
        check_kernel_matrix(training.X)
    check_fitted_estimator(estimator, training.X.shape[1], training.classes)
    model = fitted.make().fit(training.X, training.y, training.weights(0.0))
    return model, training, fitted


def _beta_path(
    fitted: AnalysedModel, training: TrainingSet, betas: Sequence[float]
) -> Iterator[BinaryClassifier]:
    """Yield the optimum at each beta, in the given order, each a model of its own.

    The fits follow :meth:`~backdoor_curves.classifiers.base.BinaryClassifier.beta_path`
    (each warm-started from the previous optimum: the same optima as cold fits, cheaper).
    """
    path = fitted.make().beta_path(training.X, training.y, training.is_poison, betas)
    for model in path:
        yield copy.copy(model)


def _slope_report(
    model: BinaryClassifier,
    training: TrainingSet,
    fitted: AnalysedModel,
    X_backdoor: np.ndarray,
    y_backdoor: np.ndarray,
) -> SlopeReport:
    result = influence.learning_slope(
        model,
        training.X,
        training.y,
        training.is_poison,
        X_backdoor,
        y_backdoor,
    )
    return SlopeReport(
        slope=result.slope,
        theta=result.theta,
        influence=result.influence,
        poison_indices=np.flatnonzero(training.is_poison),
        backdoor_loss=result.backdoor_loss,
        status=result.status,
        exact=bool(getattr(model, "exact_", True)),
        model=fitted,
    )


def _loss_and_accuracy(
    model: BinaryClassifier, X: np.ndarray, y: np.ndarray
) -> tuple[float, float]:
    """Mean own loss and accuracy of ``model`` on ``(X, y)``, labels in {0, 1}."""
    return float(model.loss(X, y).mean()), float(np.mean(model.predict(X) == y))


def _check_betas(betas: Sequence[float], *, from_zero: bool = True) -> list[float]:
    """``betas`` as floats in [0, 1]; for a curve also increasing from 0."""
    grid = [float(beta) for beta in betas]
    if not grid:
        raise ValueError("betas is empty; supported: poison weights in [0, 1]")
    if not all(np.isfinite(beta) and 0.0 <= beta <= 1.0 for beta in grid):
        raise ValueError(f"betas must lie in [0, 1], got {grid}")
    if from_zero and (grid[0] != 0.0 or any(b <= a for a, b in zip(grid, grid[1:], strict=False))):
        raise ValueError(f"betas must increase from 0 (the clean model), got {grid}")
    return grid
