"""Smooth primal linear models: logistic regression and ridge classification.

Both minimise ``J(theta) = 1/2 ||w||^2 + C sum_i s_i loss(y_i, w.x_i + b)`` over
``theta = [w, b]`` (bias unregularised) with signed labels ``y`` in {-1, +1}:

- :class:`LogisticClassifier`: ``loss = log(1 + exp(-y f))``, fitted with scikit-learn's
  ``LogisticRegression`` (L-BFGS) and polished with Newton steps on our own gradient and
  Hessian so the optimum is accurate enough for finite-difference checks.
- :class:`RidgeClassifier`: ``loss = (y - f)^2``, i.e. scikit-learn ``Ridge`` with
  ``alpha = 1 / (2 C)``, solved exactly.

Derivatives (``X1 = [X, 1]``, ``f = X1 theta``):

    grad J = [w, 0] + X1^T (C s * loss'(f)),        H = diag(1,..,1,0) + X1^T diag(C s loss''(f)) X1.

The sensitivity of the optimum to the weight ``s_j`` follows from differentiating the
stationarity condition: ``d theta / d s_j = -H^{-1} C loss'(f_j) x1_j``.
"""

from __future__ import annotations

import warnings
from typing import ClassVar, Literal, Self

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

from backdoor_curves.classifiers.base import BinaryClassifier, WeightSensitivity, check_fit_input
from backdoor_curves.classifiers.linalg import DenseHessian, SampleSpaceHessian

__all__ = ["LogisticClassifier", "PrimalLinearModel", "RidgeClassifier"]

HessianMethod = Literal["auto", "dense", "sample"]


def _with_bias(X: np.ndarray) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))])


class PrimalLinearModel(BinaryClassifier):
    """Linear model ``f(x) = w.x + b`` with a twice-differentiable loss.

    Parameters
    ----------
    C : float
        Inverse regularisation strength (> 0).
    hessian : {"auto", "dense", "sample"}
        How Hessian systems are solved: ``"dense"`` forms the (d+1)^2 Hessian, ``"sample"``
        works in sample space (Woodbury), ``"auto"`` picks the smaller system.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    """

    def __init__(self, C: float = 1.0, hessian: HessianMethod = "auto") -> None:
        super().__init__(C)
        self.hessian = hessian

    @property
    def theta_(self) -> np.ndarray:
        """Parameters ``[w, b]``, shape (n_features + 1,)."""
        return np.append(self.coef_, self.intercept_)

    def _set_theta(self, theta: np.ndarray) -> None:
        self.coef_ = np.array(theta[:-1])
        self.intercept_ = float(theta[-1])

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Scores ``w.x + b``, shape (n,)."""
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_

    def input_gradient(self, X: np.ndarray) -> np.ndarray:
        """``d f / d x = w`` for every row, shape (n, n_features)."""
        return np.broadcast_to(self.coef_, np.shape(X)).copy()

    def weight_norm_sq(self) -> float:
        """``||w||^2``."""
        return float(self.coef_ @ self.coef_)

    def weight_inner(self, other: Self) -> float:
        """``w_self . w_other``."""
        return float(self.coef_ @ other.coef_)

    # --- derivatives of the objective ------------------------------------------------------
    def objective_gradient(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        """``grad J`` at the fitted parameters, shape (n_features + 1,)."""
        X, signed, weight = check_fit_input(X, y, sample_weight)
        slope = self.margin_loss.first_derivative(signed, self.decision_function(X))
        return np.append(self.coef_, 0.0) + _with_bias(X).T @ (self.C * weight * slope)

    def _curvature(self, X: np.ndarray, signed: np.ndarray, weight: np.ndarray) -> np.ndarray:
        return self.C * weight * self.margin_loss.second_derivative(
            signed, self.decision_function(X)
        )

    def hessian_solver(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> DenseHessian | SampleSpaceHessian:
        """A solver for ``H z = r`` with the objective's Hessian at the fitted parameters."""
        X, signed, weight = check_fit_input(X, y, sample_weight)
        curvature = self._curvature(X, signed, weight)
        method = self.hessian
        if method == "auto":
            method = "sample" if np.count_nonzero(curvature) < X.shape[1] else "dense"
        if method == "dense":
            return DenseHessian(X, curvature)
        if method == "sample":
            return SampleSpaceHessian(X, curvature)
        raise ValueError(f"unknown hessian method {method!r}; valid: auto, dense, sample")

    def weight_sensitivity(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        X_eval: np.ndarray,
        directions: np.ndarray,
    ) -> WeightSensitivity:
        """``d f(X_eval) / d s_j = -x1_eval^T H^{-1} C loss'(f_j) x1_j`` (see module doc)."""
        X, signed, weight = check_fit_input(X, y, sample_weight)
        solver = self.hessian_solver(X, y, weight)
        slope = self.margin_loss.first_derivative(
            signed[directions], self.decision_function(X[directions])
        )
        rhs = _with_bias(X[directions]).T * (self.C * slope)
        theta_derivative = -solver.solve(rhs)
        decision = _with_bias(np.asarray(X_eval, dtype=np.float64)) @ theta_derivative
        return WeightSensitivity(decision, solver.damping, solver.condition_number)


class LogisticClassifier(PrimalLinearModel):
    """Logistic regression, ``loss(y, f) = log(1 + exp(-y f))``.

    Fitted with scikit-learn's L-BFGS (``LogisticRegression``, whose objective is ours up to
    a positive factor), warm-startable from the previous fit, then polished with Newton
    steps until the gradient of ``J`` is below ``gtol`` relative to its initial scale.

    Parameters
    ----------
    C : float
        Inverse regularisation strength (> 0).
    tol : float
        L-BFGS tolerance.
    max_iter : int
        L-BFGS iteration limit.
    newton_steps : int
        Maximum number of Newton polishing steps (0 disables polishing).
    warm_start : bool
        Start L-BFGS from the previous solution when refitting.
    hessian : {"auto", "dense", "sample"}
        Hessian solver (see :class:`PrimalLinearModel`).
    """

    loss_name: ClassVar[str] = "logistic"

    def __init__(
        self,
        C: float = 1.0,
        *,
        tol: float = 1e-8,
        max_iter: int = 5000,
        newton_steps: int = 4,
        warm_start: bool = False,
        hessian: HessianMethod = "auto",
    ) -> None:
        super().__init__(C, hessian)
        self.tol = tol
        self.max_iter = max_iter
        self.newton_steps = newton_steps
        self.warm_start = warm_start

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> Self:
        """Fit on ``X`` (n, d), binary ``y`` and optional ``sample_weight`` (>= 0)."""
        self._validate_hyperparameters()
        X, signed, weight = check_fit_input(X, y, sample_weight)
        keep = weight > 0
        estimator = getattr(self, "estimator_", None)
        if estimator is None or not self.warm_start:
            estimator = LogisticRegression(
                C=self.C, tol=self.tol, max_iter=self.max_iter, warm_start=self.warm_start
            )
        with warnings.catch_warnings():
            # The Newton polish below finishes what L-BFGS leaves; its result is checked.
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X[keep], signed[keep] > 0, sample_weight=weight[keep])
        self.estimator_ = estimator
        self.coef_ = estimator.coef_.ravel().astype(np.float64)
        self.intercept_ = float(estimator.intercept_[0])
        self.n_newton_steps_ = self._newton_polish(X, signed, weight)
        return self

    def _newton_polish(self, X: np.ndarray, signed: np.ndarray, weight: np.ndarray) -> int:
        y01 = (signed > 0).astype(np.int64)
        scale = self.C * float(weight.sum()) + 1.0
        for step in range(self.newton_steps):
            gradient = self.objective_gradient(X, y01, weight)
            if np.linalg.norm(gradient) <= 1e-11 * scale:
                return step
            direction = self.hessian_solver(X, y01, weight).solve(gradient)
            start = self.theta_
            current = self.objective(X, y01, weight)
            for shrink in (1.0, 0.5, 0.25, 0.125):
                self._set_theta(start - shrink * direction)
                # Near the optimum J changes below its rounding error; allow that much.
                if self.objective(X, y01, weight) <= current + 1e-13 * abs(current):
                    break
            else:
                self._set_theta(start)
                return step
        return self.newton_steps


class RidgeClassifier(PrimalLinearModel):
    """Ridge classification, ``loss(y, f) = (y - f)^2`` on signed targets.

    ``1/2 ||w||^2 + C sum s_i (y_i - f_i)^2`` has the minimiser of scikit-learn's ``Ridge``
    with ``alpha = 1 / (2 C)`` (its objective divided by ``2 C``), solved exactly.

    Parameters
    ----------
    C : float
        Inverse regularisation strength (> 0).
    hessian : {"auto", "dense", "sample"}
        Hessian solver (see :class:`PrimalLinearModel`).
    """

    loss_name: ClassVar[str] = "squared"

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> Self:
        """Fit on ``X`` (n, d), binary ``y`` and optional ``sample_weight`` (>= 0)."""
        self._validate_hyperparameters()
        X, signed, weight = check_fit_input(X, y, sample_weight)
        keep = weight > 0
        estimator = Ridge(alpha=1.0 / (2.0 * self.C), solver="cholesky")
        estimator.fit(X[keep], signed[keep], sample_weight=weight[keep])
        self.coef_ = np.asarray(estimator.coef_, dtype=np.float64).ravel()
        self.intercept_ = float(estimator.intercept_)
        return self
