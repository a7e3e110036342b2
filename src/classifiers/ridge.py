"""Ridge classification, ``loss(y, f) = (y - f)^2`` on signed targets, solved exactly.

``1/2 ||w||^2 + C sum s_i (y_i - f_i)^2`` is quadratic, so its minimiser solves the normal
equations ``H theta = X1^T (2 C s y)`` with the Hessian ``H = diag(1,..,1,0) + 2 C X1^T diag(s)
X1`` (the objective, its derivatives and the coordinates are those of
:mod:`backdoor_curves.classifiers.primal`). It equals scikit-learn's ``Ridge`` with
``alpha = 1 / (2 C)`` (its objective divided by ``2 C``), the test oracle. The Hessian does not
depend on ``theta``: the factor of a fit serves its own
:meth:`~backdoor_curves.classifiers.primal.PrimalLinearModel.weight_sensitivity`, and the whole
beta path, with its derivative, follows from one factorisation (:class:`RidgePath`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar, Self

import numpy as np

from backdoor_curves.classifiers.inputs import check_beta_path, check_fit_input
from backdoor_curves.classifiers.primal import HessianMethod, PrimalLinearModel
from backdoor_curves.classifiers.primal_path import PathPoint, PrimalPath

__all__ = ["RidgeClassifier", "RidgePath"]


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

        The optimum at each beta is :class:`RidgePath`'s closed form. See
        :meth:`~backdoor_curves.classifiers.base.BinaryClassifier.beta_path` for the
        parameters.
        """
        check_beta_path(X, is_poison, betas)
        path = RidgePath(self, X, y, is_poison)
        for beta in betas:
            path._fill(self, path.optimum(beta))
            yield self


class RidgePath(PrimalPath[RidgeClassifier]):
    r"""The ridge optimum ``theta*(beta)`` and its tangent in closed form, at any beta.

    With ``A = Lambda + 2C X1_c^T X1_c`` (the clean Hessian, factored once),
    ``U = sqrt(2C) X1_P^T`` and the right-hand sides ``b0 = 2C X1_c^T y_c``,
    ``b1 = 2C X1_P^T y_P``, the optimum solves ``(A + beta U U^T) theta = b0 + beta b1``.
    Woodbury and one eigendecomposition ``U^T A^{-1} U = Q diag(l) Q^T`` give, for each
    beta in O(n_poison (d + n_poison)),

    .. math::

        \theta(\beta) = \theta_0 + \beta t_1 - V Q\, g(\beta), \qquad
        g(\beta) = \frac{\beta}{1 + \beta l} \odot (a_0 + \beta a_1),

    with ``theta0 = A^{-1} b0``, ``t1 = A^{-1} b1``, ``V = A^{-1} U``, ``a = Q^T U^T t``, and
    its derivative

    .. math::

        \frac{d\theta}{d\beta} = t_1 - V Q \Bigl(\frac{a_0 + \beta a_1}{(1 + \beta l)^2}
        + \frac{\beta}{1 + \beta l} \odot a_1\Bigr).

    The same formulas hold in representer coefficients (``U``'s columns are then
    ``sqrt(2C) [e_j; 1]``, and ``U^T t`` reads the scores of ``t`` at the poisons). See
    :class:`~backdoor_curves.classifiers.primal_path.PrimalPath` for the parameters.
    """

    def __init__(
        self, model: RidgeClassifier, X: np.ndarray, y: np.ndarray, is_poison: np.ndarray
    ) -> None:
        super().__init__(model, X, y, is_poison)
        model, coordinates, poisons = self._model, self._coordinates, self._poisons
        clean_weight = (~self._is_poison).astype(np.float64)
        signed = self._signed
        self._clean_solver = coordinates.solver(
            model._curvature(np.zeros(signed.size), signed, clean_weight)
        )
        root = np.sqrt(2.0 * model.C)
        U = root * np.vstack([coordinates.columns(poisons, np.ones(poisons.size)),
                              np.ones((1, poisons.size))])  # fmt: skip
        V = self._clean_solver.solve(U)

        def at_poisons(parameters: np.ndarray) -> np.ndarray:
            """``U^T parameters = sqrt(2C) (scores at the poisons)``."""
            return root * (coordinates.image(parameters[:-1])[poisons] + parameters[-1])

        self._eigenvalues, Q = np.linalg.eigh(at_poisons(V))
        clean_targets = 2.0 * model.C * clean_weight * signed
        self._theta0 = self._solve_normal(clean_targets)
        self._t1 = self._solve_normal(np.where(self._is_poison, 2.0 * model.C * signed, 0.0))
        self._VQ = V @ Q
        self._a0, self._a1 = Q.T @ at_poisons(self._theta0), Q.T @ at_poisons(self._t1)

    def _solve_normal(self, targets: np.ndarray) -> np.ndarray:
        """``A^{-1} X1^T targets`` on the clean factor."""
        combined = np.append(self._coordinates.combine(targets), targets.sum())
        return self._clean_solver.solve(combined)

    def optimum(self, beta: float, start: PathPoint | None = None) -> PathPoint:
        """Return the optimum at ``beta`` and its tangent in closed form, ``n_iter = 0``.

        ``start`` is not needed: every point is exact on its own; see
        :meth:`PrimalPath.optimum`.
        """
        check_beta_path(self._X, self._is_poison, [beta])
        denominator = 1.0 + beta * self._eigenvalues
        combined = self._a0 + beta * self._a1
        parameters = self._theta0 + beta * self._t1 - self._VQ @ (beta / denominator * combined)
        rate = combined / denominator**2 + beta / denominator * self._a1
        tangent = self._t1 - self._VQ @ rate
        return PathPoint(float(beta), parameters, tangent, 0)

    def _fill(self, model: RidgeClassifier, point: PathPoint) -> RidgeClassifier:
        """Set the optimum; the clean factor is this point's Hessian only at ``beta = 0``."""
        super()._fill(model, point)
        model._keep_hessian(self._coordinates, None if point.beta else self._clean_solver)
        return model
