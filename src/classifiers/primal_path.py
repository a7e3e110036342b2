r"""The optimum of a primal linear model along the poison weight: :class:`PrimalPath`.

With weights ``s_i = 1`` for the clean points and ``s_j = beta`` for the poisons, a model of
:mod:`backdoor_curves.classifiers.primal` has a smooth optimum ``theta*(beta) = [w, b]`` (the
objective is analytic in ``(theta, beta)`` and its Hessian is positive definite). A path gives
the optimum at any ``beta`` with its derivative ``d theta* / d beta`` (:class:`PathPoint`):
ridge in closed form (:class:`~backdoor_curves.classifiers.ridge.RidgePath`), logistic by
predictor-corrector continuation
(:class:`~backdoor_curves.classifiers.logistic_path.LogisticPath`). This module holds what the
two share: the data, the models at the points and the mean losses along the path with their
exact derivatives,

.. math::

    \frac{dL}{d\beta} = \operatorname{mean}_t\, \ell'(y_t, f_t)\, \frac{df_t}{d\beta},
    \qquad \frac{df_t}{d\beta} = x_{1,t}^\top \frac{d\theta^*}{d\beta},

for ``L(beta) = mean_t ell(y_t, f_t)`` over an evaluation set (the score ``f`` is linear in
``theta``, ``ell`` the model's own loss).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from backdoor_curves.classifiers.inputs import check_beta_path, check_fit_input
from backdoor_curves.classifiers.losses import to_signed
from backdoor_curves.classifiers.primal import PrimalLinearModel

__all__ = ["PathPoint", "PrimalPath"]

Model = TypeVar("Model", bound=PrimalLinearModel)


@dataclass(frozen=True)
class PathPoint:
    """The optimum at one poison weight and its derivative along the path.

    Attributes
    ----------
    beta : float
        The poison weight.
    parameters : ndarray of shape (size + 1,)
        ``theta*(beta)`` in the solver's coordinates (weights or representer coefficients,
        then the bias).
    tangent : ndarray of shape (size + 1,)
        ``d theta* / d beta`` in the same coordinates.
    n_iter : int
        Newton iterations of the corrector that reached it (0 for a closed form).
    """

    beta: float
    parameters: np.ndarray
    tangent: np.ndarray
    n_iter: int


class PrimalPath(ABC, Generic[Model]):
    """The optimum ``theta*(beta)`` of a primal linear model on one poisoned training set.

    The model is not changed; the path works on a copy of its hyperparameters.

    Parameters
    ----------
    model : PrimalLinearModel
        The model (fitted or not); ``precomputed`` models take kernel matrices.
    X : ndarray of shape (n_samples, n_features)
        Poisoned training inputs (the training kernel matrix when ``precomputed``).
    y : ndarray of shape (n_samples,)
        Binary labels in {0, 1}.
    is_poison : ndarray of shape (n_samples,), bool
        Poison mask (at least one poison).
    """

    def __init__(self, model: Model, X: np.ndarray, y: np.ndarray, is_poison: np.ndarray) -> None:
        self._is_poison = check_beta_path(X, is_poison, [0.0])
        self._model = model.with_params()
        self._model._validate_hyperparameters()
        self._X, self._signed, _ = check_fit_input(X, y, None)
        self._coordinates = self._model._coordinates(self._X, None)
        self._poisons = np.flatnonzero(self._is_poison)

    def _weight(self, beta: float) -> np.ndarray:
        return np.where(self._is_poison, beta, 1.0)

    @abstractmethod
    def optimum(self, beta: float, start: PathPoint | None = None) -> PathPoint:
        """Return the optimum at ``beta`` with its tangent.

        Parameters
        ----------
        beta : float
            Poison weight in [0, 1].
        start : PathPoint or None
            A point of this path (any beta) to start from, or None.

        Returns
        -------
        PathPoint
            The optimum and its tangent ``d theta* / d beta``.
        """

    def model_at(self, point: PathPoint) -> Model:
        """Return a new fitted model holding ``point``'s optimum (as :meth:`fit` sets it)."""
        return self._fill(self._model.with_params(), point)

    def _fill(self, model: Model, point: PathPoint) -> Model:
        """Set ``model``'s fitted state to ``point``'s optimum; return it."""
        model._set_parameters(self._X, self._coordinates, point.parameters)
        model._set_optimum(self._X, self._signed, self._weight(point.beta))
        return model

    def _scoring_model(self, parameters: np.ndarray) -> Model:
        """Return a model whose scores are ``x1 . theta`` for ``parameters`` (scores only)."""
        model = self._model.with_params()
        model._set_parameters(self._X, self._coordinates, parameters)
        return model

    def mean_losses(
        self, point: PathPoint, evaluation: Sequence[tuple[np.ndarray, np.ndarray]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean losses on evaluation sets at ``point`` and their ``beta``-derivatives.

        Parameters
        ----------
        point : PathPoint
            A point of this path.
        evaluation : sequence of (X_eval, y_eval)
            Evaluation inputs (kernel rows against the training points when
            ``precomputed``) and binary labels in {0, 1}.

        Returns
        -------
        values, derivatives : ndarray of shape (len(evaluation),)
            ``L = mean_t ell(y_t, f_t)`` (the model's own loss) and ``dL / d beta`` (module
            docstring).
        """
        model = self._scoring_model(point.parameters)
        # f is linear in theta: the scores of the tangent are d f / d beta.
        derivative_model = self._scoring_model(point.tangent)
        loss = model.margin_loss
        values, derivatives = [], []
        for X_eval, y_eval in evaluation:
            signed = to_signed(y_eval)
            decision = model.decision_function(X_eval)
            values.append(float(loss.value(signed, decision).mean()))
            slope = loss.first_derivative(signed, decision) * derivative_model.decision_function(
                X_eval
            )
            derivatives.append(float(slope.mean()))
        return np.array(values), np.array(derivatives)
