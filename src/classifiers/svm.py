"""The two support vector machines of the paper: :class:`LinearSVM` and :class:`RBFSVM`.

Both minimise ``1/2 ||w||^2 + C sum_i s_i max(0, 1 - y_i f(x_i))`` in the dual, with exact
KKT solutions and their derivatives (:class:`~backdoor_curves.classifiers.kernel_svm.KernelSVM`,
whose module docstring writes out the dual, the KKT system and the derivative); they differ
only in their kernel (:mod:`backdoor_curves.classifiers.kernels`) and in what the linear
kernel adds: the explicit primal weights ``w = X^T (alpha y)``.
"""

from __future__ import annotations

from typing import Self

import numpy as np

from backdoor_curves.classifiers.dual import (
    DualSolution,
    dual_margins,
    dual_sets,
    kkt_factor,
    kkt_violation,
    solve_dual_active_set,
    solve_dual_primal_active_set,
)
from backdoor_curves.classifiers.kernel_svm import ONE_SIDED_STATUS, KernelSVM
from backdoor_curves.classifiers.kernels import (
    LinearKernel,
    RBFKernel,
    rbf_kernel,
    squared_distances,
)

__all__ = [
    "ONE_SIDED_STATUS",
    "RBFSVM",
    "DualSolution",
    "KernelSVM",
    "LinearSVM",
    "dual_margins",
    "dual_sets",
    "kkt_factor",
    "kkt_violation",
    "rbf_kernel",
    "solve_dual_active_set",
    "solve_dual_primal_active_set",
    "squared_distances",
]


class LinearSVM(KernelSVM):
    """Linear SVM, ``k(a, b) = a . b``; exposes the primal weights ``coef_ = X^T (alpha y)``.

    See :class:`~backdoor_curves.classifiers.kernel_svm.KernelSVM` for the parameters. A
    ``precomputed`` model has no ``coef_`` (it never sees the inputs).
    """

    @property
    def kernel_function(self) -> LinearKernel:
        """The linear kernel."""
        return LinearKernel()

    def _set_solution(
        self,
        X: np.ndarray,
        signed: np.ndarray,
        upper: np.ndarray,
        solution: DualSolution,
        solver: str,
    ) -> None:
        """Store the dual solution and the primal weights ``w = X^T (alpha y)``."""
        super()._set_solution(X, signed, upper, solution, solver)
        if not self.precomputed:
            self.coef_ = self.support_vectors_.T @ self.dual_coef_[self.support_]

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """``f(x) = w . x + b``, shape (n,) (from kernel rows when precomputed)."""
        if self.precomputed:
            return super().decision_function(X)
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_

    def input_gradient(self, X: np.ndarray) -> np.ndarray:
        """``d f / d x = w`` for every row, shape (n, n_features)."""
        if self.precomputed:
            raise self._no_input_space("input_gradient")
        return np.broadcast_to(self.coef_, np.shape(X)).copy()

    def weight_inner(self, other: Self) -> float:
        """``w_self . w_other`` in input space."""
        if self.precomputed:
            return super().weight_inner(other)
        return float(self.coef_ @ other.coef_)


class RBFSVM(KernelSVM):
    """RBF-kernel SVM, ``k(a, b) = exp(-gamma ||a - b||^2)``.

    Parameters
    ----------
    C : float
        Inverse regularisation strength (> 0).
    gamma : float
        Kernel width (> 0).
    tol, polish, precomputed
        See :class:`~backdoor_curves.classifiers.kernel_svm.KernelSVM`.
    """

    def __init__(
        self,
        C: float = 1.0,
        gamma: float = 1.0,
        *,
        tol: float = 1e-3,
        polish: bool = True,
        precomputed: bool = False,
    ) -> None:
        super().__init__(C, tol=tol, polish=polish, precomputed=precomputed)
        self.gamma = gamma

    def _validate_hyperparameters(self) -> None:
        super()._validate_hyperparameters()
        if not (np.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"gamma must be a positive finite number, got {self.gamma!r}")

    @property
    def kernel_function(self) -> RBFKernel:
        """The RBF kernel of width ``gamma``."""
        return RBFKernel(self.gamma)

    def input_gradient(self, X: np.ndarray) -> np.ndarray:
        """``d f / d x = -2 gamma sum_i alpha_i y_i k(x_i, x) (x - x_i)``, shape (n, d)."""
        if self.precomputed:
            raise self._no_input_space("input_gradient")
        X = np.asarray(X, dtype=np.float64)
        weighted = self.kernel(X, self.support_vectors_) * self.dual_coef_[self.support_]
        return (
            -2.0
            * self.gamma
            * (weighted.sum(axis=1)[:, None] * X - weighted @ self.support_vectors_)
        )
