"""Ridge classification, ``loss(y, f) = (y - f)^2`` on signed targets, solved exactly.

``1/2 ||w||^2 + C sum s_i (y_i - f_i)^2`` is quadratic, so its minimiser solves the normal
equations ``H theta = X1^T (2 C s y)`` with the Hessian ``H = diag(1,..,1,0) + 2 C X1^T diag(s)
X1`` (the objective, its derivatives and the coordinates are those of
:mod:`backdoor_curves.classifiers.primal`). It equals scikit-learn's ``Ridge`` with
``alpha = 1 / (2 C)`` (its objective divided by ``2 C``), the test oracle. The Hessian does not
depend on ``theta``: the factor of a fit serves its own
:meth:`~backdoor_curves.classifiers.primal.PrimalLinearModel.weight_sensitivity`, and the whole
beta path follows from one factorisation (:meth:`RidgeClassifier.beta_path`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar, Self

import numpy as np

from backdoor_curves.classifiers.inputs import check_beta_path, check_fit_input
from backdoor_curves.classifiers.primal import HessianMethod, PrimalLinearModel

__all__ = ["RidgeClassifier"]


class RidgeClassifier(PrimalLinearModel):
    """Ridge classification, ``loss(y, f) = (y - f)^2`` on signed targets.

    Parameters
    ----------
    C : float
        Inverse regularisation strength (> 0).
    hessian : {"auto", "dense", "sample"}
        Hessian solver (see :class:`~backdoor_curves.classifiers.primal.PrimalLinearModel`).
    precomputed : bool
        Inputs are kernel matrices ``X_rows X_train^T``.
    """

    loss_name: ClassVar[str] = "squared"

    def __init__(
        self, C: float = 1.0, hessian: HessianMethod = "auto", *, precomputed: bool = False
    ) -> None:
        super().__init__(C, hessian, precomputed=precomputed)

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

        The normal equations are solved exactly, so a warm ``start`` has nothing to save.
        """
        X, signed, weight = check_fit_input(X, y, sample_weight)
        coordinates = self._coordinates(X, gram)
        # The Hessian does not depend on theta: its curvature is 2 C s.
        solver = coordinates.solver(self._curvature(np.zeros(X.shape[0]), signed, weight))
        targets = 2.0 * self.C * weight * signed
        parameters = solver.solve(np.append(coordinates.combine(targets), targets.sum()))
        self._set_parameters(X, coordinates, parameters)
        self._keep_hessian(coordinates, solver)
        self._set_optimum(X, signed, weight)
        return self

    def beta_path(
        self,
        X: np.ndarray,
        y: np.ndarray,
        is_poison: np.ndarray,
        betas: Sequence[float],
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
        :meth:`~backdoor_curves.classifiers.base.BinaryClassifier.beta_path` for the
        parameters.
        """
        is_poison = check_beta_path(X, is_poison, betas)
        self._validate_hyperparameters()
        clean_weight = (~is_poison).astype(np.float64)
        X, signed, _ = check_fit_input(X, y, clean_weight)
        coordinates = self._coordinates(X, None)
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
            self._set_parameters(X, coordinates, parameters)
            # The clean factor is this point's Hessian only at beta = 0.
            self._keep_hessian(coordinates, None if beta else solver)
            self._set_optimum(X, signed, np.where(is_poison, beta, 1.0))
            yield self
