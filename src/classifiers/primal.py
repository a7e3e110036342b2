"""Smooth primal linear models: the shared base of logistic regression and ridge.

Both minimise ``J(theta) = 1/2 ||w||^2 + C sum_i s_i loss(y_i, w.x_i + b)`` over
``theta = [w, b]`` (bias unregularised) with signed labels ``y`` in {-1, +1}
(:class:`~backdoor_curves.classifiers.logistic.LogisticClassifier`,
:class:`~backdoor_curves.classifiers.ridge.RidgeClassifier`).

Derivatives (``X1 = [X, 1]``, ``f = X1 theta``):

    grad J = [w, 0] + X1^T (C s * loss'(f)),
    H = diag(1,..,1,0) + X1^T diag(C s loss''(f)) X1.

The sensitivity of the optimum to the weight ``s_j`` follows from differentiating the
stationarity condition: ``d theta / d s_j = -H^{-1} C loss'(f_j) x1_j``.

Stationarity also gives the representer form ``w = X^T c`` with ``c_i = -C s_i loss'(f_i)``
(``dual_coef_``), so ``f(x) = k(x, X) c + b`` with the linear kernel.

Coordinates. Starting from ``w = 0`` (or from a representer ``X^T a``) every Newton iterate,
every step and every influence right-hand side lies in the row space of ``X`` (``H`` maps it
into itself). Given the Gram matrix ``K = X X^T`` the solvers therefore work in representer
coefficients, ``w = X^T a``: ``f = K a + b``, ``||w||^2 = a^T K a``, the gradient is
``[X^T (a + g); sum(g)]`` with ``g = C s loss'(f)`` and its norm ``sqrt(r^T K r + sum(g)^2)``,
``r = a + g``; Hessian systems go through :class:`RepresenterHessian`. Each iteration then
costs O(n^2), never O(n d), and ``w = X^T a`` is formed once at the end. They do so when the
model is ``precomputed`` (its inputs are kernel rows: ``w`` is never formed, scores are
``k(x, X) a + b``) or has no more samples than features (``K`` is then computed once per fit
or path). Otherwise, or with ``hessian="dense"``, they work on ``w`` itself, the obvious
oracle the tests compare with. Both reach the same optimum.
"""

from __future__ import annotations

from typing import Literal, Self, TypeAlias

import numpy as np

from backdoor_curves.classifiers.base import BinaryClassifier, WeightSensitivity
from backdoor_curves.classifiers.inputs import FitData, check_fit_input
from backdoor_curves.classifiers.kernels import LinearKernel
from backdoor_curves.classifiers.linalg import (
    DenseHessian,
    RepresenterHessian,
    SampleSpaceHessian,
)

__all__ = ["Coordinates", "HessianMethod", "HessianSolver", "PrimalLinearModel"]

HessianMethod = Literal["auto", "dense", "sample"]
HessianSolver: TypeAlias = DenseHessian | SampleSpaceHessian | RepresenterHessian


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
    the matrix of columns ``h_j e_{rows_j}`` and ``scores(K_eval, a) = K_eval a`` from the
    kernel rows ``K_eval = X_eval X^T``.
    """

    def __init__(self, gram: np.ndarray) -> None:
        self.gram = gram
        self.size = gram.shape[0]

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

    def scores(self, K_eval: np.ndarray, v: np.ndarray) -> np.ndarray:
        return K_eval @ v

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
        How Hessian systems are solved (see the module docstring): ``"dense"`` forms the
        (d+1)^2 Hessian on ``w`` (not for ``precomputed`` models); ``"sample"`` works in
        sample space: in representer coefficients when the model is ``precomputed`` or has
        no more samples than features, with Woodbury on ``w`` otherwise; ``"auto"`` is
        ``"sample"`` except that it takes the smaller of the two systems on ``w``.
    precomputed : bool
        Inputs are kernel matrices ``X_rows X_train^T`` (see
        :mod:`backdoor_curves.classifiers.base`).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        ``w`` (not for ``precomputed`` models).
    intercept_ : float
    representer_coef_ : ndarray of shape (n_samples,)
        ``a`` with ``w = X^T a``, when the fit ran in representer coefficients.
    dual_coef_ : ndarray of shape (n_samples,)
        ``c_i = -C s_i loss'(y_i, f_i)``, with ``w = X^T c`` at the optimum.
    exact_ : bool
        Always True: the optimum is a Newton / normal-equation solution.
    """

    _fit_hessian: tuple[type, HessianSolver] | None = None

    def __init__(
        self, C: float = 1.0, hessian: HessianMethod = "auto", *, precomputed: bool = False
    ) -> None:
        super().__init__(C, precomputed=precomputed)
        self.hessian = hessian

    @property
    def kernel_function(self) -> LinearKernel:
        """The linear kernel."""
        return LinearKernel()

    def _set_optimum(self, X: np.ndarray, signed: np.ndarray, weight: np.ndarray) -> None:
        """Record the fitted optimum's representer coefficients, data and exactness."""
        loss_derivative = self.margin_loss.first_derivative(signed, self.decision_function(X))
        self.dual_coef_ = -self.C * weight * loss_derivative
        self._fit_data = FitData.of(X, signed, self.C * weight)
        self.exact_ = True

    @property
    def theta_(self) -> np.ndarray:
        """Parameters ``[w, b]``, shape (n_features + 1,)."""
        return np.append(self.coef_, self.intercept_)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Scores ``w.x + b``, shape (n,) (``k(x, X) a + b`` from kernel rows when precomputed)."""
        if self.precomputed:
            K_eval = self._eval_inputs(X, self.representer_coef_.size)
            return K_eval @ self.representer_coef_ + self.intercept_
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_

    def input_gradient(self, X: np.ndarray) -> np.ndarray:
        """``d f / d x = w`` for every row, shape (n, n_features)."""
        if self.precomputed:
            raise self._no_input_space("input_gradient")
        return np.broadcast_to(self.coef_, np.shape(X)).copy()

    def weight_norm_sq(self) -> float:
        """``||w||^2`` (``a^T K a`` when precomputed)."""
        return self.weight_inner(self)

    def weight_inner(self, other: Self) -> float:
        """``w_self . w_other`` (``a_self^T K a_other`` when precomputed)."""
        if self.precomputed:
            K = self._shared_training_kernel(other)
            return float(self.representer_coef_ @ K @ other.representer_coef_)
        return float(self.coef_ @ other.coef_)

    # --- derivatives of the objective ------------------------------------------------------
    def objective_gradient(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        """``grad J`` at the fitted parameters, shape (n_features + 1,)."""
        if self.precomputed:
            raise self._no_input_space("objective_gradient")
        return self._gradient(*check_fit_input(X, y, sample_weight))

    def hessian_solver(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> DenseHessian | SampleSpaceHessian:
        """Return a solver for ``H z = r`` with the objective's Hessian at the fitted parameters."""
        if self.precomputed:
            raise self._no_input_space("hessian_solver")
        X, signed, weight = check_fit_input(X, y, sample_weight)
        coordinates = _WeightCoordinates(X, self.hessian)
        return coordinates.solver(self._curvature(self.decision_function(X), signed, weight))

    # The private versions take validated arrays: X float64 2-D, signed labels, weights.
    def _gradient(self, X: np.ndarray, signed: np.ndarray, weight: np.ndarray) -> np.ndarray:
        loss_derivative = self.margin_loss.first_derivative(
            signed, X @ self.coef_ + self.intercept_
        )
        scaled = self.C * weight * loss_derivative
        return np.append(self.coef_ + X.T @ scaled, scaled.sum())

    def _in_representer_coordinates(self, X: np.ndarray) -> bool:
        """Whether the solvers work in representer coefficients (see the module docstring)."""
        if self.hessian not in ("auto", "dense", "sample"):
            raise ValueError(f"unknown hessian method {self.hessian!r}; valid: auto, dense, sample")
        if self.precomputed:
            if self.hessian == "dense":
                raise ValueError(
                    "hessian='dense' solves on the weights w, which a precomputed model does "
                    "not have; use 'auto' or 'sample'"
                )
            return True
        return self.hessian != "dense" and X.shape[0] <= X.shape[1]

    def _path_gram(self, X: np.ndarray) -> np.ndarray | None:
        """``K = X X^T`` for the fits of a path in representer coefficients, else None."""
        X = np.asarray(X, dtype=np.float64)
        return self._training_kernel(X) if self._in_representer_coordinates(X) else None

    def _coordinates(self, X: np.ndarray, gram: np.ndarray | None) -> Coordinates:
        """Representer coefficients (over ``gram``, computed if None) or ``w`` itself."""
        if not self._in_representer_coordinates(X):
            return _WeightCoordinates(X, self.hessian)
        return _RepresenterCoordinates(self._training_kernel(X) if gram is None else gram)

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

    def _set_parameters(
        self, X: np.ndarray, coordinates: Coordinates, parameters: np.ndarray
    ) -> None:
        """Set the fitted weights and ``intercept_`` from parameters ``[v, b]``.

        In representer coefficients ``v = a`` is kept as ``representer_coef_`` and
        ``coef_ = X^T a`` is formed unless the model is precomputed.
        """
        if isinstance(coordinates, _RepresenterCoordinates):
            self.representer_coef_ = np.array(parameters[:-1])
            if not self.precomputed:
                self.coef_ = X.T @ self.representer_coef_
        else:
            self.coef_ = np.array(parameters[:-1])
        self.intercept_ = float(parameters[-1])

    def _keep_hessian(self, coordinates: Coordinates, solver: HessianSolver | None) -> None:
        """Keep the Hessian factored at the optimum for :meth:`weight_sensitivity` (None: none).

        Only for fits whose Hessian does not depend on ``theta`` (ridge); it is reused for the
        data of the fit (:class:`~backdoor_curves.classifiers.inputs.FitData`) only.
        """
        self._fit_hessian = None if solver is None else (type(coordinates), solver)

    def _solver_from_fit(
        self, X: np.ndarray, signed: np.ndarray, weight: np.ndarray, coordinates: Coordinates
    ) -> HessianSolver | None:
        """Return the Hessian factored by the last fit if it came from this very data.

        A fit whose Hessian does not depend on ``theta`` (ridge) can hand its factorisation
        over; it is keyed on the fit's :class:`~backdoor_curves.classifiers.inputs.FitData`
        (inputs, labels, ``C s``) and on the kind of coordinates it solves in.
        """
        cached = self._fit_hessian
        if cached is None:
            return None
        kind, solver = cached
        same = kind is type(coordinates) and self._fit_data.matches(X, signed, self.C * weight)
        return solver if same else None

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
        coordinates = self._coordinates(X, None)
        solver = self._solver_from_fit(X, signed, weight, coordinates)
        if solver is None:
            curvature = self._curvature(self.decision_function(X), signed, weight)
            solver = coordinates.solver(curvature)
        directions = np.asarray(directions)
        decision = self.decision_function(X[directions])
        derivative = solver.solve(self._weight_gradients(coordinates, signed, decision, directions))
        X_eval = self._eval_inputs(X_eval, X.shape[0])
        if isinstance(coordinates, _RepresenterCoordinates) and not self.precomputed:
            X_eval = self.kernel(X_eval, X)  # X_eval X^T: cheaper than forming X^T v
        decision = -(coordinates.scores(X_eval, derivative[:-1]) + derivative[-1])
        return WeightSensitivity(decision, solver.damping, solver.condition_number)

    def _weight_gradients(
        self,
        coordinates: Coordinates,
        signed: np.ndarray,
        decision: np.ndarray,
        directions: np.ndarray,
    ) -> np.ndarray:
        """``d grad J / d s_j = C loss'(f_j) x1_j`` for ``j in directions``, in ``coordinates``.

        ``signed`` holds all training labels, ``decision`` the scores ``f_j`` of the
        ``directions`` only. Returns the matrix of columns ``[combine(C loss'(f_j) e_j);
        C loss'(f_j)]``, shape (size + 1, len(directions)); ``-H^{-1}`` of a column is
        ``d theta / d s_j``, and of their sum over the poisons ``d theta / d beta``.
        """
        scaled = self.C * self.margin_loss.first_derivative(signed[directions], decision)
        return np.vstack([coordinates.columns(directions, scaled), scaled[None, :]])

    def _hessian_product(
        self, coordinates: Coordinates, curvature: np.ndarray, z: np.ndarray
    ) -> np.ndarray:
        """``H z`` in ``coordinates``, with ``c = curvature`` (see :meth:`_curvature`).

        ``H = Lambda + X1^T diag(c) X1`` applied to ``z = [v; z_b]``:
        ``[v + combine(c (image(v) + z_b)); sum(c (image(v) + z_b))]`` (on ``w``:
        ``[v + X^T (c (X v + z_b)); ...]``; in representer coefficients, with ``w = X^T v``,
        the coefficients of ``H z``). Costs one product with ``X`` (or ``K``), no factorisation.
        """
        scaled = curvature * (coordinates.image(z[:-1]) + z[-1])
        return np.append(z[:-1] + coordinates.combine(scaled), scaled.sum())
