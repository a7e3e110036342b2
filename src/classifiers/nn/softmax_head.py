r"""Dense softmax head on frozen features: the slow, obvious oracle of the head slope.

Parameters ``Theta`` of shape ``(K, d + 1)`` act on ``x~ = [z, 1]`` (features ``z``,
``d``-dimensional, and a bias), ``p(x) = softmax(Theta x~)``. With per-sample weights ``w_i``
and weight decay ``lambda`` on every parameter (bias included, as torch's SGD does):

.. math::

    J(\Theta) = \sum_i w_i \, CE_i + \frac{\lambda}{2} \|\Theta\|_F^2 ,

with ``CE_i = -log p_{y_i}(x_i)``. Per sample, with ``theta = vec(Theta)`` (row-major, class
by class), ``grad CE_i = (p_i - e_{y_i}) (x) x~_i`` and
``hess CE_i = (diag(p_i) - p_i p_i^T) (x) x~_i x~_i^T``.

:func:`dense_proximal_slope` forms the ``K (d + 1)``-square Hessian and solves it by Cholesky:
the damped influence slope at a given head
``s = - grad L_bt^T (H + mu I)^{-1} g_P`` of
:mod:`backdoor_curves.classifiers.nn.head_influence`, which computes the same number without
the dense matrix (the tests check one against the other). Fine for a small head; ResNet50's
(``K (d + 1) = 20,490``) would take 3.4 GB.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from scipy.special import log_softmax

__all__ = ["SoftmaxHead", "dense_proximal_slope"]


def _augment(Z: np.ndarray) -> np.ndarray:
    """``[Z, 1]``: features with a bias column, float64."""
    Z = np.asarray(Z, dtype=np.float64)
    return np.hstack([Z, np.ones((len(Z), 1))])


class SoftmaxHead:
    """Softmax regression with per-sample weights and an L2 term ``lambda/2 ||Theta||^2``.

    Parameters
    ----------
    weight_decay : float
        ``lambda >= 0``.
    n_classes : int
        ``K``.

    Attributes
    ----------
    coef_ : ndarray of shape (K, d + 1)
        The head ``Theta`` (last column: bias), set by the caller.
    """

    coef_: np.ndarray

    def __init__(self, weight_decay: float, n_classes: int) -> None:
        self.weight_decay = weight_decay
        self.n_classes = n_classes

    def _log_proba(self, theta: np.ndarray, Xa: np.ndarray) -> np.ndarray:
        return log_softmax(Xa @ theta.reshape(self.n_classes, -1).T, axis=1)

    def objective(
        self, theta: np.ndarray, Xa: np.ndarray, y: np.ndarray, weight: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """``J`` and its gradient at flat ``theta`` (``Xa`` already augmented)."""
        log_p = self._log_proba(theta, Xa)
        ce = -log_p[np.arange(len(y)), y]
        residual = np.exp(log_p)
        residual[np.arange(len(y)), y] -= 1.0
        grad = (residual * weight[:, None]).T @ Xa
        value = float(weight @ ce) + 0.5 * self.weight_decay * float(theta @ theta)
        return value, grad.ravel() + self.weight_decay * theta

    def hessian(self, theta: np.ndarray, Xa: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """``hess J`` at flat ``theta``.

        ``sum_i w_i (diag p_i - p_i p_i^T) (x) x~_i x~_i^T + lambda I``, shape
        ``(K (d + 1), K (d + 1))``.
        """
        K, dim = self.n_classes, Xa.shape[1]
        p = np.exp(self._log_proba(theta, Xa))
        H = np.empty((K * dim, K * dim))
        for k in range(K):
            # Block (k, l) = Xa^T diag(w p_k (delta_kl - p_l)) Xa, for all l at once.
            coupling = -(weight * p[:, k])[:, None] * p
            coupling[:, k] += weight * p[:, k]
            weighted = Xa[:, None, :] * coupling[:, :, None]
            H[k * dim : (k + 1) * dim] = (Xa.T @ weighted.reshape(len(Xa), -1)).reshape(
                dim, K * dim
            )
        H[np.diag_indices_from(H)] += self.weight_decay
        return H

    def cross_entropy(self, Z: np.ndarray, y: np.ndarray) -> float:
        """Mean CE of the head ``coef_`` on ``(Z, y)``."""
        log_p = self._log_proba(self.coef_.ravel(), _augment(Z))
        return float(-log_p[np.arange(len(y)), np.asarray(y)].mean())

    def mean_ce_gradient(
        self, Z: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None
    ) -> np.ndarray:
        """``sum_i weight_i grad CE_i`` (flat) at ``coef_``; by default ``weight_i = 1 / n``."""
        Xa = _augment(Z)
        weight = np.full(len(Z), 1.0 / len(Z)) if weight is None else np.asarray(weight)
        log_p = self._log_proba(self.coef_.ravel(), Xa)
        residual = np.exp(log_p)
        residual[np.arange(len(y)), np.asarray(y)] -= 1.0
        return ((residual * weight[:, None]).T @ Xa).ravel()


def dense_proximal_slope(
    Z: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray,
    poison_weight: np.ndarray,
    Z_backdoor: np.ndarray,
    y_backdoor: np.ndarray,
    coef: np.ndarray,
    *,
    weight_decay: float,
    damping: float,
) -> float:
    """Damped influence slope ``- grad L_bt^T (H + mu I)^{-1} g_P`` at ``coef``, densely.

    Parameters
    ----------
    Z : ndarray of shape (n, d)
        Training features.
    y : ndarray of shape (n,), int
        Training labels.
    sample_weight : ndarray of shape (n,)
        ``w_i`` of the Hessian's objective (clean weights; 0 on poisons).
    poison_weight : ndarray of shape (n,)
        ``b_j`` of ``g_P = sum_j b_j grad CE_j`` (0 on clean points).
    Z_backdoor, y_backdoor : ndarray
        Backdoor test features and target labels (``L_bt`` is their mean CE).
    coef : ndarray of shape (K, d + 1)
        The expansion point ``Theta``.
    weight_decay, damping : float
        ``lambda`` (inside ``H``) and ``mu``.

    Returns
    -------
    float
    """
    coef = np.asarray(coef, dtype=np.float64)
    head = SoftmaxHead(weight_decay, len(coef))
    head.coef_ = coef
    H = head.hessian(coef.ravel(), _augment(Z), np.asarray(sample_weight, dtype=np.float64))
    H[np.diag_indices_from(H)] += damping
    poison = np.asarray(poison_weight, dtype=np.float64) > 0
    weights = np.asarray(poison_weight, dtype=np.float64)[poison]
    g_poison = head.mean_ce_gradient(Z[poison], np.asarray(y)[poison], weights)
    g_backdoor = head.mean_ce_gradient(Z_backdoor, y_backdoor)
    solution = scipy.linalg.solve(H, g_poison, assume_a="pos")
    return -float(g_backdoor @ solution)
