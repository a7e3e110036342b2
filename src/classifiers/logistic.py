"""Logistic regression, ``loss(y, f) = log(1 + exp(-y f))``, fitted by Newton's method.

The objective, its derivatives and the coordinates the solver works in are those of
:mod:`backdoor_curves.classifiers.primal`. Newton's method runs on our own gradient and
Hessian with a backtracking (Armijo) line search, so the optimum is exact to rounding
(derivatives and finite-difference checks need that). Along a path it starts from the
previous optimum, moved by a first-order prediction: along ``C``
(:meth:`~backdoor_curves.classifiers.base.BinaryClassifier.C_path`) with
``d theta / d log C = H^{-1} [v; 0]``, along ``beta`` (:meth:`LogisticClassifier.beta_path`)
with the tangent of the path, both from the Hessian factored last (no extra factorisation).
scikit-learn's ``LogisticRegression``, whose objective is ours up to a positive factor, is
the test oracle.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar, Self

import numpy as np

from backdoor_curves.classifiers.inputs import check_beta_path, check_fit_input
from backdoor_curves.classifiers.primal import (
    Coordinates,
    HessianMethod,
    HessianSolver,
    PrimalLinearModel,
)

__all__ = ["LogisticClassifier"]


class LogisticClassifier(PrimalLinearModel):
    """Logistic regression, ``loss(y, f) = log(1 + exp(-y f))``.

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
        Hessian solver (see :class:`~backdoor_curves.classifiers.primal.PrimalLinearModel`).
    precomputed : bool
        Inputs are kernel matrices ``X_rows X_train^T``.

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
        precomputed: bool = False,
    ) -> None:
        super().__init__(C, hessian, precomputed=precomputed)
        self.gtol = gtol
        self.max_iter = max_iter

    def _fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        *,
        start: Self | None,
        gram: np.ndarray | None,
    ) -> Self:
        """Fit on ``X`` (n, d), binary ``y`` and optional ``sample_weight`` (>= 0).

        Newton's method starts from the parameters of ``start`` (a fitted logistic model on
        the same points, predicted along ``C``) or from zero; in representer coefficients
        it starts from ``start``'s ``dual_coef_`` (the same parameters at its optimum).
        """
        X, signed, weight = check_fit_input(X, y, sample_weight)
        coordinates = self._coordinates(X, gram)
        parameters = np.zeros(coordinates.size + 1)
        if start is not None:
            previous = start.dual_coef_ if coordinates.size == X.shape[0] else start.coef_
            if previous.shape == (coordinates.size,):
                parameters = np.append(previous, start.intercept_)
                parameters = self._predict_along_C(coordinates, parameters, signed, weight, start)
        parameters = self._newton(coordinates, parameters, signed, weight)
        self._set_parameters(X, coordinates, parameters)
        self._set_optimum(X, signed, weight)
        return self

    def beta_path(
        self,
        X: np.ndarray,
        y: np.ndarray,
        is_poison: np.ndarray,
        betas: Sequence[float],
    ) -> Iterator[Self]:
        """Follow ``theta*(beta)`` by predictor-corrector continuation.

        Between grid points the optimum is predicted with the tangent of the path
        (:meth:`_beta_tangent`), using the Hessian factored in the last Newton step (no extra
        factorisation), and Newton's method corrects it to the exact optimum, reusing that
        factorisation while it converges fast. The prediction is dropped when it raises the
        objective. See :meth:`~backdoor_curves.classifiers.base.BinaryClassifier.beta_path`
        for the parameters; :class:`~backdoor_curves.classifiers.logistic_path.LogisticPath`
        follows the same path with the Hessian at each optimum (exact tangents).
        """
        is_poison = check_beta_path(X, is_poison, betas)
        self._validate_hyperparameters()
        X, signed, _ = check_fit_input(X, y, np.where(is_poison, 0.0, 1.0))
        coordinates = self._coordinates(X, None)
        parameters = np.zeros(coordinates.size + 1)
        poisons = np.flatnonzero(is_poison)
        previous = None
        for beta in betas:
            weight = np.where(is_poison, beta, 1.0)
            solver = None
            if previous is not None:
                solver = self._last_solver
                tangent = self._beta_tangent(coordinates, parameters, signed, poisons, solver)
                parameters = self._predict_along_path(
                    coordinates, parameters, signed, weight, beta - previous, tangent
                )
            parameters = self._newton(coordinates, parameters, signed, weight, solver=solver)
            self._set_parameters(X, coordinates, parameters)
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

    def _beta_gradient(
        self,
        coordinates: Coordinates,
        parameters: np.ndarray,
        signed: np.ndarray,
        poisons: np.ndarray,
    ) -> np.ndarray:
        """Return ``d grad J / d beta = C sum_{j in P} loss'(y_j, f_j) x1_j`` at ``parameters``.

        The sum over the poisons of the columns of :meth:`_weight_gradients` (poison weights
        ``s_j = beta``), in ``coordinates``; ``d theta / d beta = -H^{-1}`` of it.
        """
        decision = coordinates.image(parameters[:-1])[poisons] + parameters[-1]
        return self._weight_gradients(coordinates, signed, decision, poisons).sum(axis=1)

    def _beta_tangent(
        self,
        coordinates: Coordinates,
        parameters: np.ndarray,
        signed: np.ndarray,
        poisons: np.ndarray,
        solver: HessianSolver,
    ) -> np.ndarray:
        """Return ``d theta / d beta = -H^{-1} C sum_{j in P} loss'(y_j, f_j) x1_j``.

        The derivative of the optimum along the poison weight (:meth:`_beta_gradient`), with
        the Hessian factored in ``solver`` (exact when factored at ``parameters``).
        """
        return -solver.solve(self._beta_gradient(coordinates, parameters, signed, poisons))

    def _predict_along_path(
        self,
        coordinates: Coordinates,
        parameters: np.ndarray,
        signed: np.ndarray,
        weight: np.ndarray,
        step: float,
        tangent: np.ndarray,
    ) -> np.ndarray:
        """Return ``parameters + step * tangent``, or ``parameters`` if that raises ``J``.

        ``weight`` are the weights at the end of the step, where ``J`` is compared.
        """
        predicted = parameters + step * tangent
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
        """Predict the optimum at this ``C`` from ``previous``'s (a C path's last point).

        At an optimum the gradient ``[v + C X1^T (s loss'(f))]`` is zero, so its derivative in
        ``log C`` is ``[-v; 0]`` and the optimum moves as ``d theta / d log C = H^{-1} [v; 0]``,
        with the Hessian ``previous`` factored last (no new factorisation). Returns
        ``parameters + log(C / C_prev) H^{-1} [v; 0]``, or ``parameters`` when that does not
        lower ``J`` (a step too long for the tangent); Newton's method then reaches the same
        optimum either way, in fewer steps.
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
        solver: HessianSolver | None = None,
    ) -> np.ndarray:
        """Newton's method with an Armijo line search from ``parameters``; return the optimum.

        The gradient in ``coordinates`` is ``[v + combine(g); sum(g)]`` with
        ``g = C s loss'(f)`` (``v`` the weight part of ``parameters``), its norm
        ``sqrt(r . metric(r) + sum(g)^2)`` (the norm of the gradient in ``theta``).
        A given ``solver`` (a Hessian factored at a nearby point, e.g. the last optimum of a
        path) is kept for the steps as long as each step shrinks the gradient at least
        fourfold; the Hessian is refactored otherwise. Convergence is judged on the exact
        gradient either way, so the optimum is the same. ``_last_solver`` is the factorisation
        used last.
        """
        threshold = self.gtol * self.C * float(weight @ coordinates.row_norms())
        if solver is not None:
            self._last_solver, self._last_kind = solver, type(coordinates)
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
