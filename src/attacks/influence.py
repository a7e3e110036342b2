"""Influence functions and the backdoor learning slope (``docs/method.md``, the learning slope).

The poisons ``P`` enter the training objective with weight ``beta``:
``J(theta; beta) = 1/2 ||w||^2 + C sum_{i clean} loss_i + beta C sum_{j in P} loss_j``.
At ``beta = 0`` the model is trained on the clean points only. The backdoor learning slope is
the exact derivative of the mean backdoor-test loss along the optimum ``theta*(beta)``:

    s = d/d beta L_bt(theta*(beta)) |_{beta=0}
      = - grad_theta L_bt^T H^{-1} sum_{j in P} C grad_theta loss(z_j; theta*)

with ``L_bt`` the mean of the model's own loss over the backdoor test set and ``H`` the
Hessian of the clean objective (for the SVMs: the incremental-SVM derivative on the KKT
system, see :mod:`backdoor_curves.classifiers.kernel_svm`). With ``D_tj = d f(x_t) / d s_j`` from
the model's :meth:`weight_sensitivity`, the pairwise influence of poison ``j`` on the loss of
backdoor test point ``t`` is ``I_tj = loss'(y_t, f_t) D_tj`` and ``s = mean_t sum_j I_tj``.
A negative slope means the backdoor loss drops as the poisons gain weight; the paper's
normalised slope is ``theta = -(2 / pi) arctan(s)`` in (-1, 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backdoor_curves.attacks.status import slope_is_defined, slope_status
from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.losses import to_signed

__all__ = ["SlopeResult", "learning_slope", "normalised_slope"]


@dataclass(frozen=True)
class SlopeResult:
    """The backdoor learning slope at ``beta = 0`` and its pairwise influences.

    Attributes
    ----------
    slope : float
        ``s = d L_bt / d beta`` at ``beta = 0``; NaN when undefined (see ``status``).
    theta : float
        Normalised slope ``-(2 / pi) arctan(s)``.
    influence : ndarray of shape (n_backdoor_test, n_poison)
        ``I_tj = d loss_t / d s_j``: effect of up-weighting poison ``j`` on test point ``t``.
    backdoor_loss : float
        ``L_bt`` at ``beta = 0`` (mean own loss on the backdoor test set).
    damping : float
        Damping added to the factored system.
    condition_number : float
        Condition number estimate of the factored system.
    status : str
        ``"ok"``, or what was not exact and why (see :mod:`backdoor_curves.attacks.status`).
    """

    slope: float
    theta: float
    influence: np.ndarray
    backdoor_loss: float
    damping: float
    condition_number: float
    status: str

    @property
    def influence_mean(self) -> float:
        """Mean of ``I_tj`` over all (test, poison) pairs."""
        return float(np.mean(self.influence)) if self.influence.size else float("nan")

    @property
    def influence_abs_mean(self) -> float:
        """Mean of ``|I_tj|`` over all (test, poison) pairs."""
        return float(np.mean(np.abs(self.influence))) if self.influence.size else float("nan")


def normalised_slope(slope: float) -> float:
    """Return the paper's normalised slope ``theta = -(2 / pi) arctan(s)``, in (-1, 1)."""
    return float(-2.0 / np.pi * np.arctan(slope))


def learning_slope(
    model: BinaryClassifier,
    X_train: np.ndarray,
    y_train: np.ndarray,
    is_poison: np.ndarray,
    X_backdoor: np.ndarray,
    y_backdoor: np.ndarray,
) -> SlopeResult:
    """Backdoor learning slope of a model fitted at ``beta = 0``.

    Parameters
    ----------
    model : BinaryClassifier
        Fitted on ``(X_train, y_train)`` with ``sample_weight = ~is_poison`` (the clean
        points only). A ``precomputed`` model takes kernel matrices in place of the inputs:
        ``X_train`` is then ``k(X_train, X_train)`` and ``X_backdoor`` is
        ``k(X_backdoor, X_train)``.
    X_train : ndarray of shape (n_train, n_features)
        Poisoned training set (poisons included, at the rows flagged by ``is_poison``).
    y_train : ndarray of shape (n_train,)
        Binary labels in {0, 1} after poisoning.
    is_poison : ndarray of shape (n_train,), bool
        Poison mask.
    X_backdoor : ndarray of shape (n_test, n_features)
        Backdoor test set (triggered test points).
    y_backdoor : ndarray of shape (n_test,)
        Target labels in {0, 1}.

    Returns
    -------
    SlopeResult
    """
    is_poison = np.asarray(is_poison, dtype=bool)
    if is_poison.shape != (np.shape(X_train)[0],):
        raise ValueError(
            f"is_poison has shape {is_poison.shape}, expected ({np.shape(X_train)[0]},)"
        )
    if not is_poison.any():
        raise ValueError("is_poison flags no training point; the slope needs poisons")
    sensitivity = model.weight_sensitivity(
        X_train,
        y_train,
        (~is_poison).astype(np.float64),
        X_backdoor,
        np.flatnonzero(is_poison),
    )
    signed = to_signed(y_backdoor)
    # The right limit f(0+) where the optimum jumps.
    scores = model.decision_function(X_backdoor) + sensitivity.offset
    loss = model.margin_loss
    influence = loss.first_derivative(signed, scores)[:, None] * sensitivity.decision
    slope = float(influence.sum(axis=1).mean())
    status = slope_status(
        derivative=sensitivity.status,
        exact_optimum=bool(getattr(model, "exact_", True)),
        damping=sensitivity.damping,
        condition_number=sensitivity.condition_number,
        residual=sensitivity.residual,
        slope=slope,
    )
    if not slope_is_defined(status):
        slope = float("nan")
    return SlopeResult(
        slope=slope,
        theta=normalised_slope(slope),
        influence=influence,
        backdoor_loss=float(loss.value(signed, scores).mean()),
        damping=sensitivity.damping,
        condition_number=sensitivity.condition_number,
        status=status,
    )
