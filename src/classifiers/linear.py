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

Coordinates. Starting from ``w = 0`` (or from a representer ``X^T a``) every Newton iterate,
every step and every influence right-hand side lies in the row space of ``X`` (``H`` maps it
into itself). Given the Gram matrix ``K = X X^T`` the solvers therefore work in representer
coefficients, ``w = X^T a``: ``f = K a + b``, ``||w||^2 = a^T K a``, the gradient is
``[X^T (a + g); sum(g)]`` with ``g = C s loss'(f)`` and its norm ``sqrt(r^T K r + sum(g)^2)``,
``r = a + g``; Hessian systems go through :class:`RepresenterHessian`. Each iteration then
costs O(n^2), never O(n d), and ``w = X^T a`` is formed once at the end. Without a Gram matrix
(or with ``hessian="dense"``) they work on ``w`` itself, the obvious oracle the tests compare
with. Both reach the same optimum.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar, Literal, Self, TypeAlias

import numpy as np

from backdoor_curves.classifiers.base import (
    BinaryClassifier,
    FitData,
    WeightSensitivity,
    check_beta_path,
    check_fit_input,
)
from backdoor_curves.classifiers.kernels import inner_products
from backdoor_curves.classifiers.linalg import (
    DenseHessian,
    RepresenterHessian,
    SampleSpaceHessian,
)

__all__ = ["LogisticClassifier", "PrimalLinearModel", "RidgeClassifier"]

HessianMethod = Literal["auto", "dense", "sample"]
HessianSolver: TypeAlias = DenseHessian | SampleSpaceHessian | RepresenterHessian


def _checked_gram(gram: np.ndarray, X: np.ndarray) -> np.ndarray:
    if np.shape(gram) != (X.shape[0], X.shape[0]):
        raise ValueError(f"gram has shape {np.shape(gram)}, expected {(X.shape[0],) * 2}")
    return gram


class _WeightCoordinates:
    """The weights ``w`` themselves: parameters ``[w, b]`` (the oracle's coordinates).

    ``image(v) = X v`` (scores), ``metric(v) = v`` (``||w||^2 = w . metric(w)``; both at
    once: ``image_and_metric``),
    ``combine(h) = X^T h``, ``columns(rows, h)`` the matrix of columns ``h_j x_{rows_j}`` and
    ``scores(X_eval, v) = X_eval v``.
    """

    def __init__(self, X: np.ndarray, method: HessianMethod) -> None:
        self.X = X
        self.method = method
        self.size = X.shape[1]

    def row_norms(self) -> np.ndarray:
        """``||x1_i||`` for every training point."""
        return np.sqrt(np.einsum("ij,ij->i", self.X, self.X) + 1.0)

    def image(self, v: np.ndarray) -> np.ndarray:
        return self.X @ v

    def metric(self, v: np.ndarray) -> np.ndarray:
        return v

    def image_and_metric(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.X @ v, v

    def combine(self, h: np.ndarray) -> np.ndarray:
        return self.X.T @ h

    def columns(self, rows: np.ndarray, h: np.ndarray) -> np.ndarray:
        return self.X[rows].T * h

    def weights(self, v: np.ndarray) -> np.ndarray:
        return v

    def scores(self, X_eval: np.ndarray, v: np.ndarray) -> np.ndarray:
        return X_eval @ v

    def solver(self, curvature: np.ndarray) -> DenseHessian | SampleSpaceHessian:
        """Dense or sample-space (Woodbury) solver, as ``method`` says (``auto``: smaller)."""
        method = self.method
        if method == "auto":
            method = "sample" if np.count_nonzero(curvature) < self.size else "dense"
        if method == "dense":
            return DenseHessian(self.X, curvature)
        return SampleSpaceHessian(self.X, curvature)


class _RepresenterCoordinates:
    """Representer coefficients ``a`` with ``w = X^T a``: parameters ``[a, b]``.

    ``image(v) = metric(v) = K v`` with ``K = X X^T``, ``combine(h) = h``, ``columns(rows, h)``
    the matrix of columns ``h_j e_{rows_j}``, ``weights(a) = X^T a`` and
    ``scores(X_eval, a) = X_eval X^T a``.
    """

    def __init__(self, X: np.ndarray, gram: np.ndarray) -> None:
        self.X = X
        self.gram = gram
        self.size = X.shape[0]

    def row_norms(self) -> np.ndarray:
        return np.sqrt(np.diag(self.gram) + 1.0)

    def image(self, v: np.ndarray) -> np.ndarray:
        return self.gram @ v

    def metric(self, v: np.ndarray) -> np.ndarray:
        return self.gram @ v

    def image_and_metric(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        product = self.gram @ v
        return product, product

    def combine(self, h: np.ndarray) -> np.ndarray:
        return h

    def columns(self, rows: np.ndarray, h: np.ndarray) -> np.ndarray:
        matrix = np.zeros((self.size, len(rows)))
        matrix[rows, np.arange(len(rows))] = h
        return matrix

    def weights(self, v: np.ndarray) -> np.ndarray:
        return self.X.T @ v

    def scores(self, X_eval: np.ndarray, v: np.ndarray) -> np.ndarray:
        # X_eval X^T v from the products X_eval X^T (cached for immutable sets): cheaper than
        # forming the weights X^T v when v has several columns.
        return inner_products(X_eval, self.X) @ v

    def solver(self, curvature: np.ndarray) -> RepresenterHessian:
        return RepresenterHessian(self.gram, curvature)


Coordinates: TypeAlias = _WeightCoordinates | _RepresenterCoordinates


class PrimalLinearModel(BinaryClassifier):
    """Linear model ``f(x) = w.x + b`` with a twice-differentiable loss.

    Parameters
    ----------
    C : float
        Inverse regularisation strength (> 0).
    hessian : {"auto", "dense", "sample"}
        How Hessian systems are solved: ``"dense"`` forms the (d+1)^2 Hessian (always on
        ``w``); ``"sample"`` works in sample space: in representer coefficients when a Gram
        matrix is passed, with Woodbury on ``w`` otherwise; ``"auto"`` is ``"sample"`` with a
        Gram matrix and the smaller system without one.

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
        return inner_products(A, B)

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
    def _gradient(self, X: np.ndarray, signed: np.ndarray, weight: np.ndarray) -> np.ndarray:
        loss_derivative = self.margin_loss.first_derivative(
            signed, X @ self.coef_ + self.intercept_
        )
        scaled = self.C * weight * loss_derivative
        return np.append(self.coef_ + X.T @ scaled, scaled.sum())

    def _hessian_solver(
        self, X: np.ndarray, signed: np.ndarray, weight: np.ndarray
    ) -> DenseHessian | SampleSpaceHessian:
        coordinates = _WeightCoordinates(X, self.hessian)
        return coordinates.solver(self._curvature(self.decision_function(X), signed, weight))

    def _coordinates(self, X: np.ndarray, gram: np.ndarray | None) -> Coordinates:
        """Representer coefficients when a Gram matrix is given (unless ``"dense"``), else ``w``."""
        if self.hessian not in ("auto", "dense", "sample"):
            raise ValueError(f"unknown hessian method {self.hessian!r}; valid: auto, dense, sample")
        if gram is None or self.hessian == "dense":
            return _WeightCoordinates(X, self.hessian)
        return _RepresenterCoordinates(X, _checked_gram(gram, X))

    def _curvature(
        self, decision: np.ndarray, signed: np.ndarray, weight: np.ndarray
    ) -> np.ndarray:
        """``c_i = C s_i loss''(f_i)``, with negligible values set to exactly zero."""
        curvature = self.C * weight * self.margin_loss.second_derivative(signed, decision)
        # Confidently classified points have curvature ~ exp(-|f|), down to subnormal
        # numbers that slow every floating-point operation on them a hundredfold; below
        # 1e-15 of the largest curvature a point's contribution is lost to rounding anyway.
        curvature[curvature < 1e-15 * curvature.max(initial=0.0)] = 0.0
        return curvature

    def _set_parameters(self, coordinates: Coordinates, parameters: np.ndarray) -> None:
        """Set ``coef_`` and ``intercept_`` from parameters ``[v, b]`` in ``coordinates``."""
        self.coef_ = np.array(coordinates.weights(parameters[:-1]))
        self.intercept_ = float(parameters[-1])

    def _solver_from_fit(
        self, X: np.ndarray, signed: np.ndarray, weight: np.ndarray, coordinates: Coordinates
    ) -> HessianSolver | None:
        """Return the Hessian factored by the last fit if it came from this very data.

        A fit whose Hessian does not depend on ``theta`` (ridge) can hand its factorisation
        over; it is keyed on the fit's :class:`FitData` (inputs, labels, ``C s``) and on the
        kind of coordinates it solves in.
        """
        cached = getattr(self, "_fit_hessian", None)
        if cached is None:
            return None
        fit_data, kind, solver = cached
        same = kind is type(coordinates) and fit_data.matches(X, signed, self.C * weight)
        return solver if same else None

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

        ``gram`` optionally passes the precomputed ``X X^T`` (the solve then runs in
        representer coefficients).
        """
        X, signed, weight = check_fit_input(X, y, sample_weight)
        coordinates = self._coordinates(X, gram)
        solver = self._solver_from_fit(X, signed, weight, coordinates)
        if solver is None:
            curvature = self._curvature(self.decision_function(X), signed, weight)
            solver = coordinates.solver(curvature)
        directions = np.asarray(directions)
        scaled = self.C * self.margin_loss.first_derivative(
            signed[directions], self.decision_function(X[directions])
        )
        rhs = np.vstack([coordinates.columns(directions, scaled), scaled[None, :]])
        derivative = solver.solve(rhs)
        X_eval = np.asarray(X_eval, dtype=np.float64)
        decision = -(coordinates.scores(X_eval, derivative[:-1]) + derivative[-1])
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
        as many features) or from zero. ``gram`` optionally passes the precomputed ``X X^T``;
        Newton's method then runs in representer coefficients and starts from ``init``'s
        ``dual_coef_`` (the same parameters when ``init`` was fitted on this ``X``).
        """
        self._validate_hyperparameters()
        previous = self._check_init(init)
        X, signed, weight = check_fit_input(X, y, sample_weight)
        coordinates = self._coordinates(X, gram)
        parameters = np.zeros(coordinates.size + 1)
        if previous is not None:
            start = previous.dual_coef_ if coordinates.size == X.shape[0] else previous.coef_
            if start.shape == (coordinates.size,):
                parameters = np.append(start, previous.intercept_)
                parameters = self._predict_along_C(
                    coordinates, parameters, signed, weight, previous
                )
        parameters = self._newton(coordinates, parameters, signed, weight)
        self._set_parameters(coordinates, parameters)
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
        coordinates = self._coordinates(X, gram)
        parameters = np.zeros(coordinates.size + 1)
        poisons = np.flatnonzero(is_poison)
        previous = None
        for beta in betas:
            weight = np.where(is_poison, beta, 1.0)
            if previous is not None:
                parameters = self._predict_along_path(
                    coordinates, parameters, signed, weight, poisons, beta - previous
                )
            parameters = self._newton(
                coordinates, parameters, signed, weight, reuse_factor=previous is not None
            )
            self._set_parameters(coordinates, parameters)
            self._set_optimum(X, signed, weight)
            previous = beta
            yield self

    def _objective_at(
        self,
        coordinates: Coordinates,
        parameters: np.ndarray,
        signed: np.ndarray,
        weight: np.ndarray,
    ) -> float:
        """``J`` at ``parameters`` (in ``coordinates``)."""
        decision = coordinates.image(parameters[:-1]) + parameters[-1]
        regulariser = float(parameters[:-1] @ coordinates.metric(parameters[:-1]))
        loss = self.margin_loss.value(signed, decision)
        return 0.5 * regulariser + self.C * float(weight @ loss)

    def _predict_along_path(
        self,
        coordinates: Coordinates,
        parameters: np.ndarray,
        signed: np.ndarray,
        weight: np.ndarray,
        poisons: np.ndarray,
        step: float,
    ) -> np.ndarray:
        """Return ``parameters + step * tangent``, or ``parameters`` if that raises ``J``."""
        decision = coordinates.image(parameters[:-1])[poisons] + parameters[-1]
        scaled = self.C * self.margin_loss.first_derivative(signed[poisons], decision)
        at_poisons = np.zeros(signed.size)
        at_poisons[poisons] = scaled
        rhs = np.append(coordinates.combine(at_poisons), scaled.sum())
        predicted = parameters - step * self._last_solver.solve(rhs)
        current = self._objective_at(coordinates, parameters, signed, weight)
        if self._objective_at(coordinates, predicted, signed, weight) > current:
            return parameters
        return predicted

    def _predict_along_C(
        self,
        coordinates: Coordinates,
        parameters: np.ndarray,
        signed: np.ndarray,
        weight: np.ndarray,
        previous: LogisticClassifier,
    ) -> np.ndarray:
        """Predict the optimum at this ``C`` from ``previous``'s (a C sweep's last point).

        At an optimum the gradient ``[v + C X1^T (s loss'(f))]`` is zero, so its derivative in
        ``log C`` is ``[-v; 0]`` and the optimum moves as ``d theta / d log C = H^{-1} [v; 0]``,
        with the Hessian ``previous`` factored last (no new factorisation). Returns
        ``parameters + log(C / C_prev) H^{-1} [v; 0]``, or ``parameters`` when that does not
        lower ``J`` (``previous`` fitted on other data, or a step too long for the tangent);
        Newton's method then reaches the same optimum either way, in fewer steps.
        """
        solver = getattr(previous, "_last_solver", None)
        if solver is None or previous.C == self.C or previous._last_kind is not type(coordinates):
            return parameters
        tangent = solver.solve(np.append(parameters[:-1], 0.0))
        predicted = parameters + np.log(self.C / previous.C) * tangent
        current = self._objective_at(coordinates, parameters, signed, weight)
        if not self._objective_at(coordinates, predicted, signed, weight) < current:
            return parameters
        return predicted

    def _newton(
        self,
        coordinates: Coordinates,
        parameters: np.ndarray,
        signed: np.ndarray,
        weight: np.ndarray,
        *,
        reuse_factor: bool = False,
    ) -> np.ndarray:
        """Newton's method with an Armijo line search from ``parameters``; return the optimum.

        The gradient in ``coordinates`` is ``[v + combine(g); sum(g)]`` with
        ``g = C s loss'(f)`` (``v`` the weight part of ``parameters``), its norm
        ``sqrt(r . metric(r) + sum(g)^2)`` (the norm of the gradient in ``theta``).
        With ``reuse_factor`` the Hessian factored last (on the path, at a nearby optimum) is
        kept for the steps as long as each step shrinks the gradient at least fourfold; the
        Hessian is refactored otherwise. Convergence is judged on the exact gradient either
        way, so the optimum is the same.
        """
        threshold = self.gtol * self.C * float(weight @ coordinates.row_norms())
        solver = getattr(self, "_last_solver", None) if reuse_factor else None
        previous_norm = np.inf
        for iteration in range(self.max_iter):
            image, metric = coordinates.image_and_metric(parameters[:-1])
            decision = image + parameters[-1]
            scaled = self.C * weight * self.margin_loss.first_derivative(signed, decision)
            gradient = np.append(parameters[:-1] + coordinates.combine(scaled), scaled.sum())
            squared_norm = gradient[:-1] @ coordinates.metric(gradient[:-1]) + gradient[-1] ** 2
            norm = float(np.sqrt(squared_norm))
            if norm <= threshold:
                self.n_iter_ = iteration
                return parameters
            if solver is None or norm > 0.25 * previous_norm:
                curvature = self._curvature(decision, signed, weight)
                solver = self._last_solver = coordinates.solver(curvature)
                self._last_kind = type(coordinates)
            previous_norm = norm
            step = solver.solve(gradient)
            parameters = self._line_search(
                coordinates, parameters, metric, decision, signed, weight, step, gradient
            )
        raise RuntimeError(
            f"logistic Newton solver did not converge in {self.max_iter} iterations (C={self.C})"
        )

    def _line_search(
        self,
        coordinates: Coordinates,
        parameters: np.ndarray,
        metric: np.ndarray,
        decision: np.ndarray,
        signed: np.ndarray,
        weight: np.ndarray,
        step: np.ndarray,
        gradient: np.ndarray,
    ) -> np.ndarray:
        """Backtrack along ``-step`` from ``parameters`` until Armijo's condition holds.

        ``metric`` and ``decision`` belong to ``parameters``; along the line both change
        linearly, so each trial costs O(n): ``||w||^2`` is ``(v - t s) . (metric - t Gs)``.
        Returns ``parameters`` unchanged when no trial decreases ``J``.
        """
        step_image, step_metric = coordinates.image_and_metric(step[:-1])
        step_decision = step_image + step[-1]
        decrease = float(gradient[:-1] @ step_metric + gradient[-1] * step[-1])

        def objective(shrink: float) -> float:
            moved = parameters[:-1] - shrink * step[:-1]
            regulariser = float(moved @ (metric - shrink * step_metric))
            loss = self.margin_loss.value(signed, decision - shrink * step_decision)
            return 0.5 * regulariser + self.C * float(weight @ loss)

        current = objective(0.0)
        shrink = 1.0
        for _ in range(30):
            # Armijo decrease, with slack for rounding error of J near the optimum.
            slack = 1e-4 * shrink * decrease - 1e-13 * abs(current)
            if objective(shrink) <= current - slack:
                return parameters - shrink * step
            shrink *= 0.5
        return parameters


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
        has nothing to save). ``gram`` optionally passes the precomputed ``X X^T`` (the
        system is then solved in representer coefficients).
        """
        self._validate_hyperparameters()
        self._check_init(init)
        X, signed, weight = check_fit_input(X, y, sample_weight)
        coordinates = self._coordinates(X, gram)
        # The Hessian does not depend on theta: its curvature is 2 C s.
        solver = coordinates.solver(self._curvature(np.zeros(X.shape[0]), signed, weight))
        targets = 2.0 * self.C * weight * signed
        parameters = solver.solve(np.append(coordinates.combine(targets), targets.sum()))
        self._set_parameters(coordinates, parameters)
        fit_data = FitData.of(X, signed, self.C * weight)
        self._fit_hessian = (fit_data, type(coordinates), solver)
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
        The same formulas hold in representer coefficients (``U``'s columns are then
        ``sqrt(2C) [e_j; 1]``, and ``U^T t`` reads the scores of ``t`` at the poisons). See
        :meth:`BinaryClassifier.beta_path` for the parameters.
        """
        is_poison = check_beta_path(X, is_poison, betas)
        self._validate_hyperparameters()
        clean_weight = (~is_poison).astype(np.float64)
        X, signed, _ = check_fit_input(X, y, clean_weight)
        coordinates = self._coordinates(X, gram)
        clean_curvature = self._curvature(np.zeros(X.shape[0]), signed, clean_weight)
        solver = coordinates.solver(clean_curvature)
        poisons = np.flatnonzero(is_poison)
        root = np.sqrt(2.0 * self.C)
        U = root * np.vstack([coordinates.columns(poisons, np.ones(poisons.size)),
                              np.ones((1, poisons.size))])  # fmt: skip
        V = solver.solve(U)

        def at_poisons(parameters: np.ndarray) -> np.ndarray:
            """``U^T parameters = sqrt(2C) (scores at the poisons)``."""
            return root * (coordinates.image(parameters[:-1])[poisons] + parameters[-1])

        eigenvalues, Q = np.linalg.eigh(at_poisons(V))
        clean_targets = 2.0 * self.C * clean_weight * signed
        theta0 = solver.solve(np.append(coordinates.combine(clean_targets), clean_targets.sum()))
        poison_targets = np.where(is_poison, 2.0 * self.C * signed, 0.0)
        t1 = solver.solve(np.append(coordinates.combine(poison_targets), poison_targets.sum()))
        VQ = V @ Q
        qa0, qa1 = Q.T @ at_poisons(theta0), Q.T @ at_poisons(t1)
        for beta in betas:
            shrink = beta / (1.0 + beta * eigenvalues)
            parameters = theta0 + beta * t1 - VQ @ (shrink * (qa0 + beta * qa1))
            self._set_parameters(coordinates, parameters)
            weight = np.where(is_poison, beta, 1.0)
            if beta == 0:
                fit_data = FitData.of(X, signed, self.C * weight)
                self._fit_hessian = (fit_data, type(coordinates), solver)
            elif hasattr(self, "_fit_hessian"):
                del self._fit_hessian
            self._set_optimum(X, signed, weight)
            yield self
