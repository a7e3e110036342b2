"""Smooth primal linear models: logistic regression and ridge classification.

Both minimise ``J(theta) = 1/2 ||w||^2 + C sum_i s_i loss(y_i, w.x_i + b)`` over
``theta = [w, b]`` (bias unregularised) with signed labels ``y`` in {-1, +1}:

- :class:`LogisticClassifier`: ``loss = log(1 + exp(-y f))``, Newton's method (warm-startable
  with ``fit(..., init=previous)``).
- :class:`RidgeClassifier`: ``loss = (y - f)^2``, the normal equations solved exactly
  (scikit-learn ``Ridge`` with ``alpha = 1 / (2 C)`` has the same minimiser).

Derivatives (``X1 = [X, 1]``, ``f = X1 theta``):

    grad J = [w, 0] + X1^T (C s * loss'(f)),
    H = diag(1,..,1,0) + X1^T diag(C s loss''(f)) X1.

The sensitivity of the optimum to the weight ``s_j`` follows from differentiating the
stationarity condition: ``d theta / d s_j = -H^{-1} C loss'(f_j) x1_j``.

Stationarity also gives the representer form ``w = X^T c`` with ``c_i = -C s_i loss'(f_i)``
(``dual_coef_``), so ``f(x) = k(x, X) c + b`` with the linear kernel (``decision_from_gram``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar, Literal, Self

import numpy as np

from backdoor_curves.classifiers.base import (
    BinaryClassifier,
    FitData,
    WeightSensitivity,
    check_beta_path,
    check_fit_input,
)
from backdoor_curves.classifiers.linalg import DenseHessian, SampleSpaceHessian

__all__ = ["LogisticClassifier", "PrimalLinearModel", "RidgeClassifier"]

HessianMethod = Literal["auto", "dense", "sample"]


def _with_bias(X: np.ndarray) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))])


def _checked_gram(gram: np.ndarray | None, X: np.ndarray) -> np.ndarray | None:
    if gram is not None and np.shape(gram) != (X.shape[0], X.shape[0]):
        raise ValueError(f"gram has shape {np.shape(gram)}, expected {(X.shape[0],) * 2}")
    return gram


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
    dual_coef_ : ndarray of shape (n_samples,)
        ``c_i = -C s_i loss'(y_i, f_i)``, with ``coef_ = X^T c`` at the optimum.
    exact_ : bool
        Always True: the optimum is a Newton / normal-equation solution.
    """

    def __init__(self, C: float = 1.0, hessian: HessianMethod = "auto") -> None:
        super().__init__(C)
        self.hessian = hessian

    def kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Linear kernel ``A B^T`` (pass ``kernel(X, X)`` as ``gram`` to reuse it)."""
        return A @ B.T

    def decision_from_gram(self, K_eval: np.ndarray) -> np.ndarray:
        """``f = K_eval c + b`` with ``K_eval = X_eval X_train^T`` (representer form).

        Equal to :meth:`decision_function` up to the solver's gradient tolerance; that one is
        cheaper (``scores_from_gram`` is False).
        """
        return K_eval @ self.dual_coef_ + self.intercept_

    def _set_optimum(self, X: np.ndarray, signed: np.ndarray, weight: np.ndarray) -> None:
        """Record the fitted optimum's representer coefficients and exactness."""
        loss_derivative = self.margin_loss.first_derivative(
            signed, X @ self.coef_ + self.intercept_
        )
        self.dual_coef_ = -self.C * weight * loss_derivative
        self.exact_ = True

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
        return self._gradient(*check_fit_input(X, y, sample_weight))

    def hessian_solver(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> DenseHessian | SampleSpaceHessian:
        """Return a solver for ``H z = r`` with the objective's Hessian at the fitted parameters."""
        return self._hessian_solver(*check_fit_input(X, y, sample_weight))

    # The private versions take validated arrays: X float64 2-D, signed labels, weights.
    def _objective(self, X: np.ndarray, signed: np.ndarray, weight: np.ndarray) -> float:
        loss = self.margin_loss.value(signed, X @ self.coef_ + self.intercept_)
        return 0.5 * self.weight_norm_sq() + self.C * float(weight @ loss)

    def _gradient(self, X: np.ndarray, signed: np.ndarray, weight: np.ndarray) -> np.ndarray:
        loss_derivative = self.margin_loss.first_derivative(
            signed, X @ self.coef_ + self.intercept_
        )
        scaled = self.C * weight * loss_derivative
        return np.append(self.coef_ + X.T @ scaled, scaled.sum())

    def _hessian_solver(
        self,
        X: np.ndarray,
        signed: np.ndarray,
        weight: np.ndarray,
        gram: np.ndarray | None = None,
    ) -> DenseHessian | SampleSpaceHessian:
        curvature = (
            self.C
            * weight
            * self.margin_loss.second_derivative(signed, X @ self.coef_ + self.intercept_)
        )
        # Confidently classified points have curvature ~ exp(-|f|), down to subnormal
        # numbers that slow every floating-point operation on them a hundredfold; below
        # 1e-15 of the largest curvature a point's contribution is lost to rounding anyway.
        curvature[curvature < 1e-15 * curvature.max(initial=0.0)] = 0.0
        method = self.hessian
        if method == "auto":
            few_points = np.count_nonzero(curvature) < X.shape[1]
            method = "sample" if few_points or gram is not None else "dense"
        if method == "dense":
            return DenseHessian(X, curvature)
        if method == "sample":
            return SampleSpaceHessian(X, curvature, _checked_gram(gram, X))
        raise ValueError(f"unknown hessian method {method!r}; valid: auto, dense, sample")

    def _solver_from_fit(
        self, X: np.ndarray, signed: np.ndarray, weight: np.ndarray
    ) -> DenseHessian | SampleSpaceHessian | None:
        """Return the Hessian factored by the last fit if it came from this very data.

        A fit whose Hessian does not depend on ``theta`` (ridge) can hand its factorisation
        over; it is keyed on the fit's :class:`FitData` (inputs, labels, ``C s``).
        """
        cached = getattr(self, "_fit_hessian", None)
        if cached is None:
            return None
        fit_data, solver = cached
        return solver if fit_data.matches(X, signed, self.C * weight) else None

    def weight_sensitivity(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        X_eval: np.ndarray,
        directions: np.ndarray,
        *,
        gram: np.ndarray | None = None,
    ) -> WeightSensitivity:
        """``d f(X_eval) / d s_j = -x1_eval^T H^{-1} C loss'(f_j) x1_j`` (see module doc).

        ``gram`` optionally passes the precomputed ``X X^T`` (sample-space solve).
        """
        X, signed, weight = check_fit_input(X, y, sample_weight)
        solver = self._solver_from_fit(X, signed, weight) or self._hessian_solver(
            X, signed, weight, gram
        )
        loss_derivative = self.margin_loss.first_derivative(
            signed[directions], self.decision_function(X[directions])
        )
        rhs = _with_bias(X[directions]).T * (self.C * loss_derivative)
        theta_derivative = -solver.solve(rhs)
        decision = _with_bias(np.asarray(X_eval, dtype=np.float64)) @ theta_derivative
        return WeightSensitivity(decision, solver.damping, solver.condition_number)


class LogisticClassifier(PrimalLinearModel):
    """Logistic regression, ``loss(y, f) = log(1 + exp(-y f))``.

    Fitted by Newton's method with a backtracking (Armijo) line search on our own gradient
    and Hessian, so the optimum is exact to rounding (derivatives and finite-difference
    checks need that) and a refit can start from a previous optimum (``fit(..., init=)``:
    the incremental path). scikit-learn's ``LogisticRegression``, whose objective is ours up to
    a positive factor, is the test oracle.

    Parameters
    ----------
    C : float
        Inverse regularisation strength (> 0).
    gtol : float
        Stop when ``||grad J|| <= gtol * C * sum_i s_i ||x1_i||`` (a bound on the gradient
        scale).
    max_iter : int
        Newton iteration limit; reaching it raises ``RuntimeError``.
    hessian : {"auto", "dense", "sample"}
        Hessian solver (see :class:`PrimalLinearModel`).

    Attributes
    ----------
    n_iter_ : int
        Newton iterations of the last fit.
    """

    loss_name: ClassVar[str] = "logistic"

    def __init__(
        self,
        C: float = 1.0,
        *,
        gtol: float = 1e-12,
        max_iter: int = 200,
        hessian: HessianMethod = "auto",
    ) -> None:
        super().__init__(C, hessian)
        self.gtol = gtol
        self.max_iter = max_iter

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        *,
        init: BinaryClassifier | None = None,
        gram: np.ndarray | None = None,
    ) -> Self:
        """Fit on ``X`` (n, d), binary ``y`` and optional ``sample_weight`` (>= 0).

        Newton's method starts from the parameters of ``init`` (a fitted logistic model on
        as many features) or from zero. ``gram`` optionally passes the precomputed ``X X^T``
        (cheaper sample-space solves).
        """
        self._validate_hyperparameters()
        previous = self._check_init(init)
        X, signed, weight = check_fit_input(X, y, sample_weight)
        if previous is not None and previous.coef_.shape == (X.shape[1],):
            self._set_theta(previous.theta_)
        else:
            self._set_theta(np.zeros(X.shape[1] + 1))
        self._newton(X, signed, weight, gram)
        self._set_optimum(X, signed, weight)
        return self

    def beta_path(
        self,
        X: np.ndarray,
        y: np.ndarray,
        is_poison: np.ndarray,
        betas: Sequence[float],
        *,
        gram: np.ndarray | None = None,
    ) -> Iterator[Self]:
        """Follow ``theta*(beta)`` by predictor-corrector continuation.

        Between grid points the optimum is predicted with the tangent of the path,
        ``d theta / d beta = -H^{-1} X1_P^T (C loss'(f_P))``, using the Hessian factored in
        the last Newton step (no extra factorisation), and Newton's method corrects it to the
        exact optimum, reusing that factorisation while it converges fast. The prediction is
        dropped when it raises the objective. See :meth:`BinaryClassifier.beta_path` for the
        parameters.
        """
        is_poison = check_beta_path(X, is_poison, betas)
        self._validate_hyperparameters()
        X, signed, _ = check_fit_input(X, y, np.where(is_poison, 0.0, 1.0))
        self._set_theta(np.zeros(X.shape[1] + 1))
        X1_poison = _with_bias(X[is_poison])
        previous = None
        for beta in betas:
            weight = np.where(is_poison, beta, 1.0)
            if previous is not None:
                self._predict_along_path(X, signed, weight, X1_poison, is_poison, beta - previous)
            self._newton(X, signed, weight, gram, reuse_factor=previous is not None)
            self._set_optimum(X, signed, weight)
            previous = beta
            yield self

    def _predict_along_path(
        self,
        X: np.ndarray,
        signed: np.ndarray,
        weight: np.ndarray,
        X1_poison: np.ndarray,
        is_poison: np.ndarray,
        step: float,
    ) -> None:
        start = self.theta_
        loss_derivative = self.margin_loss.first_derivative(signed[is_poison], X1_poison @ start)
        tangent = -self._last_solver.solve(X1_poison.T @ (self.C * loss_derivative))
        current = self._objective(X, signed, weight)
        self._set_theta(start + step * tangent)
        if self._objective(X, signed, weight) > current:
            self._set_theta(start)

    def _newton(
        self,
        X: np.ndarray,
        signed: np.ndarray,
        weight: np.ndarray,
        gram: np.ndarray | None,
        *,
        reuse_factor: bool = False,
    ) -> None:
        """Newton's method with an Armijo line search from the current parameters.

        With ``reuse_factor`` the Hessian factored last (on the path, at a nearby optimum) is
        kept for the steps as long as each step shrinks the gradient at least fourfold; the
        Hessian is refactored otherwise. Convergence is judged on the exact gradient either
        way, so the optimum is the same.
        """
        row_norms = np.sqrt(np.einsum("ij,ij->i", X, X) + 1.0)
        threshold = self.gtol * self.C * float(weight @ row_norms)
        solver = getattr(self, "_last_solver", None) if reuse_factor else None
        previous_norm = np.inf
        for iteration in range(self.max_iter):
            gradient = self._gradient(X, signed, weight)
            norm = float(np.linalg.norm(gradient))
            if norm <= threshold:
                self.n_iter_ = iteration
                return
            if solver is None or norm > 0.25 * previous_norm:
                solver = self._last_solver = self._hessian_solver(X, signed, weight, gram)
            previous_norm = norm
            step = solver.solve(gradient)
            self._line_search(X, signed, weight, step, float(gradient @ step))
        raise RuntimeError(
            f"logistic Newton solver did not converge in {self.max_iter} iterations (C={self.C})"
        )

    def _line_search(
        self,
        X: np.ndarray,
        signed: np.ndarray,
        weight: np.ndarray,
        step: np.ndarray,
        decrease: float,
    ) -> None:
        start = self.theta_
        current = self._objective(X, signed, weight)
        shrink = 1.0
        for _ in range(30):
            self._set_theta(start - shrink * step)
            # Armijo decrease, with slack for rounding error of J near the optimum.
            slack = 1e-4 * shrink * decrease - 1e-13 * abs(current)
            if self._objective(X, signed, weight) <= current - slack:
                return
            shrink *= 0.5
        self._set_theta(start)


class RidgeClassifier(PrimalLinearModel):
    """Ridge classification, ``loss(y, f) = (y - f)^2`` on signed targets.

    ``1/2 ||w||^2 + C sum s_i (y_i - f_i)^2`` is quadratic, so its minimiser solves the
    normal equations ``H theta = X1^T (2 C s y)`` with the Hessian
    ``H = diag(1,..,1,0) + 2 C X1^T diag(s) X1``, solved exactly with the same (dense or
    sample-space) solver as the influence computation. It equals scikit-learn's ``Ridge``
    with ``alpha = 1 / (2 C)`` (its objective divided by ``2 C``), the test oracle.

    Parameters
    ----------
    C : float
        Inverse regularisation strength (> 0).
    hessian : {"auto", "dense", "sample"}
        Hessian solver (see :class:`PrimalLinearModel`).
    """

    loss_name: ClassVar[str] = "squared"

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        *,
        init: BinaryClassifier | None = None,
        gram: np.ndarray | None = None,
    ) -> Self:
        """Fit on ``X`` (n, d), binary ``y`` and optional ``sample_weight`` (>= 0).

        The normal equations are solved exactly, so ``init`` is only validated (a warm start
        has nothing to save). ``gram`` optionally passes the precomputed ``X X^T`` (cheaper
        sample-space solves).
        """
        self._validate_hyperparameters()
        self._check_init(init)
        X, signed, weight = check_fit_input(X, y, sample_weight)
        self._set_theta(np.zeros(X.shape[1] + 1))  # the Hessian does not depend on theta
        solver = self._hessian_solver(X, signed, weight, gram)
        self._set_theta(solver.solve(_with_bias(X).T @ (2.0 * self.C * weight * signed)))
        self._fit_hessian = (FitData.of(X, signed, self.C * weight), solver)
        self._set_optimum(X, signed, weight)
        return self

    def beta_path(
        self,
        X: np.ndarray,
        y: np.ndarray,
        is_poison: np.ndarray,
        betas: Sequence[float],
        *,
        gram: np.ndarray | None = None,
    ) -> Iterator[Self]:
        """Exact ridge path ``theta*(beta)`` for every beta from one factorisation.

        With ``A = Lambda + 2C X1_c^T X1_c`` (the clean Hessian, factored once),
        ``U = sqrt(2C) X1_P^T`` and the right-hand sides ``b0 = 2C X1_c^T y_c``,
        ``b1 = 2C X1_P^T y_P``, the optimum solves ``(A + beta U U^T) theta = b0 + beta b1``.
        Woodbury and one eigendecomposition ``U^T A^{-1} U = Q diag(l) Q^T`` give, for each
        beta in O(n_poison (d + n_poison)),

            theta(beta) = theta0 + beta t1 - V Q diag(beta / (1 + beta l)) Q^T (a0 + beta a1)

        with ``theta0 = A^{-1} b0``, ``t1 = A^{-1} b1``, ``V = A^{-1} U``, ``a = U^T t``.
        See :meth:`BinaryClassifier.beta_path` for the parameters.
        """
        is_poison = check_beta_path(X, is_poison, betas)
        self._validate_hyperparameters()
        clean_weight = (~is_poison).astype(np.float64)
        X, signed, _ = check_fit_input(X, y, clean_weight)
        self._set_theta(np.zeros(X.shape[1] + 1))  # the Hessian does not depend on theta
        solver = self._hessian_solver(X, signed, clean_weight, _checked_gram(gram, X))
        X1 = _with_bias(X)
        U = np.sqrt(2.0 * self.C) * X1[is_poison].T
        V = solver.solve(U)
        eigenvalues, Q = np.linalg.eigh(U.T @ V)
        theta0 = solver.solve(X1.T @ (2.0 * self.C * clean_weight * signed))
        t1 = solver.solve(X1[is_poison].T @ (2.0 * self.C * signed[is_poison]))
        VQ = V @ Q
        qa0, qa1 = Q.T @ (U.T @ theta0), Q.T @ (U.T @ t1)
        for beta in betas:
            shrink = beta / (1.0 + beta * eigenvalues)
            self._set_theta(theta0 + beta * t1 - VQ @ (shrink * (qa0 + beta * qa1)))
            weight = np.where(is_poison, beta, 1.0)
            if beta == 0:
                self._fit_hessian = (FitData.of(X, signed, self.C * weight), solver)
            elif hasattr(self, "_fit_hessian"):
                del self._fit_hessian
            self._set_optimum(X, signed, weight)
            yield self
