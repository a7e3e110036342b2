"""Fitted SVMs along their exact beta path: :func:`exact_beta_path` and :class:`ModelPath`.

:func:`exact_beta_path` fits an SVM at ``beta = 0`` (poisons weighted 0) and follows its
optimum exactly up to ``beta_end`` (:mod:`backdoor_curves.classifiers.svm_path`); the
:class:`ModelPath` it returns gives, at any ``beta``, a fitted model equal to a fresh exact
fit with weights ``s_i = 1`` (clean) and ``beta`` (poisons), and the path's breakpoints.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Generic, TypeVar

import numpy as np

from backdoor_curves.classifiers.dual import MARGIN_TOL, DualSolution, kkt_violation
from backdoor_curves.classifiers.inputs import check_beta_path, check_fit_input
from backdoor_curves.classifiers.kernel_svm import KernelSVM
from backdoor_curves.classifiers.svm_path import BetaPath, follow_beta_path

__all__ = ["ModelPath", "exact_beta_path"]

M = TypeVar("M", bound=KernelSVM)


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
