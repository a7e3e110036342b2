r"""Fitted SVMs along their exact beta path: :func:`exact_beta_path` and :class:`ModelPath`.

:func:`exact_beta_path` fits an SVM at ``beta = 0`` (poisons weighted 0) and follows its
optimum exactly up to ``beta_end`` (:mod:`backdoor_curves.classifiers.svm_path`); the
:class:`ModelPath` it returns gives, at any ``beta``, a fitted model equal to a fresh exact
fit with weights ``s_i = 1`` (clean) and ``beta`` (poisons), and the path's breakpoints.

Many betas at once: :meth:`ModelPath.optima` returns the optima at ``m`` betas as one
:class:`PathOptima`, the rows ``A[r] = alpha(beta_r) * y`` (shape (m, n)) and the biases
``b`` (m,), from which every quantity of a curve is a few matrix products with the kernel:

.. math::

    F = A K(X_\mathrm{train}, X_\mathrm{eval}) + b 1^\top, \qquad
    \lVert w(\beta_r) \rVert^2 = (A K A^\top)_{rr}, \qquad
    \langle w(\beta_0), w(\beta_r) \rangle = (A K a_0)_r,

with ``K`` the training kernel and ``a_0`` the dual coefficients of the start model (the RKHS
inner products of :meth:`~backdoor_curves.classifiers.kernel_svm.KernelSVM.weight_inner`).
Only the columns of points that are a support vector at some beta enter the products.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Generic, TypeVar

import numpy as np

from backdoor_curves.classifiers.dual import MARGIN_TOL, DualSolution, kkt_violation
from backdoor_curves.classifiers.inputs import check_beta_path, check_fit_input
from backdoor_curves.classifiers.kernel_svm import KernelSVM
from backdoor_curves.classifiers.svm_path import BetaPath, follow_beta_path

__all__ = ["ModelPath", "PathOptima", "exact_beta_path"]

M = TypeVar("M", bound=KernelSVM)


@dataclasses.dataclass(frozen=True)
class PathOptima:
    """The optima of a :class:`ModelPath` at ``m`` betas (module docstring).

    Row ``r`` is the fitted SVM at ``betas[r]``: ``f_r(x) = sum_i A[r, i] k(x_i, x) + b_r``,
    what :meth:`ModelPath.model_at` gives as a model.

    Attributes
    ----------
    betas : ndarray of shape (m,)
        The poison weights.
    dual_coef : ndarray of shape (m, n_samples)
        ``A[r, i] = alpha_i(beta_r) y_i`` over the full training index set.
    intercept : ndarray of shape (m,)
        ``b(beta_r)``.
    start : KernelSVM
        The path's start model (its kernel, its inputs and ``w(beta_0)``).
    """

    betas: np.ndarray
    dual_coef: np.ndarray
    intercept: np.ndarray
    start: KernelSVM
    _inputs: np.ndarray
    _kernel: np.ndarray

    @property
    def _support(self) -> np.ndarray:
        """Indices of the points that are a support vector at some beta (or at the start)."""
        used = np.any(self.dual_coef != 0.0, axis=0) | (self.start.dual_coef_ != 0.0)
        return np.flatnonzero(used)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """``F[r, t] = f_r(x_t)``, shape (m, n_eval); ``X`` as for the start model's."""
        support = self._support
        X = self.start._eval_inputs(X, self._kernel.shape[0])
        rows = self.start._eval_kernel(X, self._inputs, support)
        return self.dual_coef[:, support] @ rows.T + self.intercept[:, None]

    def weight_norm_sq(self) -> np.ndarray:
        """``||w(beta_r)||^2 = (A K A^T)_rr``, shape (m,) (RKHS norms)."""
        support = self._support
        coef = self.dual_coef[:, support]
        return np.einsum("ij,ij->i", coef @ self._kernel[np.ix_(support, support)], coef)

    def start_inner(self) -> np.ndarray:
        """``<w(beta_0), w(beta_r)> = (A K a_0)_r``, shape (m,), ``a_0`` the start's."""
        support = self._support
        start = self._kernel[np.ix_(support, support)] @ self.start.dual_coef_[support]
        return self.dual_coef[:, support] @ start


@dataclasses.dataclass(frozen=True)
class ModelPath(Generic[M]):
    """The exact beta path of a fitted SVM: :attr:`path` and the model at any ``beta``.

    Attributes
    ----------
    path : BetaPath
        Breakpoints and pieces.
    start : KernelSVM
        The model fitted at ``path.breakpoints[0]``; :meth:`model_at` copies it.
    """

    path: BetaPath
    start: M
    _inputs: np.ndarray
    _kernel: np.ndarray
    _signed: np.ndarray
    _upper: np.ndarray
    _d_upper: np.ndarray

    def model_at(self, beta: float) -> M:
        """Return a new fitted model holding the path's optimum at ``beta``.

        Its ``exact_`` says whether that optimum satisfies the KKT conditions to the
        fit's tolerance (it does, up to rounding, on a path whose status is not undefined).
        """
        alpha, intercept = self.path.at(beta)
        upper = self._upper + beta * self._d_upper
        solution = DualSolution(alpha, intercept, True, 0)
        exact = kkt_violation(self._kernel, self._signed, upper, solution) <= MARGIN_TOL
        model = copy.copy(self.start)
        model._set_solution(
            self._inputs,
            self._signed,
            upper,
            DualSolution(alpha, intercept, exact, 0),
            "exact-path",
        )
        return model

    def optima(self, betas: np.ndarray | Sequence[float]) -> PathOptima:
        """Return the optima at every beta at once (see :class:`PathOptima`).

        At the path's first beta the row is the start model's own optimum (the fit itself;
        the path holds the right limit of the bias there, which differs where the bias is
        not unique), elsewhere :meth:`BetaPath.at_betas`.
        """
        betas = np.asarray(betas, dtype=np.float64)
        alpha, intercept = self.path.at_betas(betas)
        at_start = betas == self.path.breakpoints[0]
        alpha[at_start] = self.start.alpha_
        intercept[at_start] = self.start.intercept_
        return PathOptima(
            betas, alpha * self._signed, intercept, self.start, self._inputs, self._kernel
        )


def exact_beta_path(
    model: M, X: np.ndarray, y: np.ndarray, is_poison: np.ndarray, beta_end: float = 1.0
) -> ModelPath[M]:
    """Fit ``model`` at ``beta = 0`` and follow its optimum exactly up to ``beta_end``.

    The weights are ``s_i = 1`` for clean points and ``beta`` for poisons, as in
    :meth:`~backdoor_curves.classifiers.base.BinaryClassifier.beta_path`; the box of the
    dual is ``[0, C s_i]`` (module docstring).

    Parameters
    ----------
    model : KernelSVM
        An unfitted (or fitted: it is not changed) SVM; ``precomputed`` models take the
        training kernel matrix as ``X``.
    X, y, is_poison
        Training inputs, labels in {0, 1} and the poison mask.
    beta_end : float, default 1
        Where the path ends.

    Returns
    -------
    ModelPath
    """
    is_poison = check_beta_path(X, is_poison, [0.0, beta_end])
    X, signed, _ = check_fit_input(X, y, np.where(is_poison, beta_end, 1.0))
    start = model.with_params().fit(X, y, np.where(is_poison, 0.0, 1.0))
    K = start._training_kernel(X)
    upper = start.C * (~is_poison).astype(np.float64)
    d_upper = start.C * is_poison.astype(np.float64)
    path = follow_beta_path(K, signed, upper, d_upper, start.alpha_, start.intercept_, beta_end)
    if not start.exact_:
        path = dataclasses.replace(path, status="undefined: the fit at beta = 0 is not exact")
    return ModelPath(path, start, X, K, signed, upper, d_upper)
