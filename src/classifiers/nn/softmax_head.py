r"""Multiclass logistic (softmax) head on frozen features and its exact learning slope.

Parameters ``Theta`` of shape ``(K, d + 1)`` act on ``x~ = [z, 1]`` (features ``z``,
``d``-dimensional, and a bias), ``p(x) = softmax(Theta x~)``. The weighted objective mirrors
the network's training loss with weight decay ``lambda`` on every parameter (bias included, as
torch's SGD does):

.. math::

    J(\Theta; \beta) = \frac{1}{n_c} \sum_{i \in C} CE_i
        + \frac{\beta}{n_p} \sum_{j \in P} CE_j + \frac{\lambda}{2} \|\Theta\|_F^2 ,

with ``CE_i = -log p_{y_i}(x_i)``. Per sample, with ``theta = vec(Theta)`` (row-major, class
by class), ``grad CE_i = (p_i - e_{y_i}) (x) x~_i`` and
``hess CE_i = (diag(p_i) - p_i p_i^T) (x) x~_i x~_i^T``.

Backdoor learning slope of the head (as for the binary models, ``docs/method.md``, "The backdoor
learning slope", on the network's own weighting):

.. math::

    s = \frac{d}{d\beta} L_{bt}(\Theta^*(\beta)) \Big|_{\beta=0}
      = - \nabla L_{bt}^\top H^{-1} \frac{1}{n_p} \sum_{j \in P} \nabla CE_j ,

``L_bt`` the mean CE over the backdoor test set and ``H = hess J(.; 0)`` at ``Theta*(0)``.
``H`` is factored by Cholesky; with ``lambda = 0`` it is singular (adding one vector to
every row of ``Theta`` leaves the softmax unchanged), and then a damping ``mu I`` is added,
starting at ``1e-8 * trace(H) / dim`` and growing tenfold until the factorisation succeeds;
``mu`` is reported. A negative slope means the backdoor loss falls as poisons gain weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.special import log_softmax

__all__ = ["HeadSlope", "SoftmaxHead", "head_learning_slope"]


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
        Fitted ``Theta`` (last column: bias).
    """

    def __init__(self, weight_decay: float, n_classes: int) -> None:
        self.weight_decay = weight_decay
        self.n_classes = n_classes

    # ------------------------------------------------------------------ objective

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

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        Z: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray,
        *,
        coef_init: np.ndarray | None = None,
        newton_steps: int = 2,
    ) -> SoftmaxHead:
        """Minimise ``J``: L-BFGS, then Newton steps with the exact Hessian.

        Parameters
        ----------
        Z : ndarray of shape (n, d)
            Frozen features.
        y : ndarray of shape (n,), int
            Labels in ``0 .. K - 1``.
        sample_weight : ndarray of shape (n,)
            ``w_i`` (``1/n_c`` for clean points, ``beta/n_p`` for poisons).
        coef_init : ndarray of shape (K, d + 1), optional
            Warm start (e.g. the trained network's last layer).
        newton_steps : int, default=2
            Newton polishing steps after L-BFGS (0 for none).

        Returns
        -------
        self
        """
        Xa, y = _augment(Z), np.asarray(y)
        weight = np.asarray(sample_weight, dtype=np.float64)
        theta0 = (
            np.zeros(self.n_classes * Xa.shape[1])
            if coef_init is None
            else np.asarray(coef_init, dtype=np.float64).ravel()
        )
        result = scipy.optimize.minimize(
            self.objective,
            theta0,
            args=(Xa, y, weight),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 1000, "gtol": 1e-10, "ftol": 1e-15},
        )
        theta = result.x
        for _ in range(newton_steps):
            _, grad = self.objective(theta, Xa, y, weight)
            factor, _ = _damped_cholesky(self.hessian(theta, Xa, weight))
            theta = theta - scipy.linalg.cho_solve(factor, grad)
        self.coef_ = theta.reshape(self.n_classes, -1)
        self.gradient_norm_ = float(np.linalg.norm(self.objective(theta, Xa, y, weight)[1]))
        return self

    def cross_entropy(self, Z: np.ndarray, y: np.ndarray) -> float:
        """Mean CE of the fitted head on ``(Z, y)``."""
        log_p = self._log_proba(self.coef_.ravel(), _augment(Z))
        return float(-log_p[np.arange(len(y)), np.asarray(y)].mean())

    def mean_ce_gradient(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Gradient (flat) of the mean CE over ``(Z, y)`` at the fitted ``Theta``."""
        Xa = _augment(Z)
        log_p = self._log_proba(self.coef_.ravel(), Xa)
        residual = np.exp(log_p)
        residual[np.arange(len(y)), np.asarray(y)] -= 1.0
        return (residual.T @ Xa).ravel() / len(Z)


@dataclass(frozen=True)
class HeadSlope:
    """Exact learning slope of a softmax head, with the retraining check.

    Attributes
    ----------
    slope_if : float
        Influence-function slope ``s`` (module docstring).
    slope_fd : float
        Central difference ``(L_bt(delta) - L_bt(-delta)) / (2 delta)`` of heads refitted at
        ``beta = +-delta`` (NaN when not asked for).
    fd_delta : float
        The step ``delta`` used (see :func:`head_learning_slope`).
    backdoor_ce : float
        ``L_bt`` at ``beta = 0``.
    damping : float
        ``mu`` added to ``H`` (0 when it was positive definite).
    condition_number : float
        ``(max L_ii / min L_ii)^2`` of the Cholesky factor: a lower bound of cond(H).
    gradient_norm : float
        ``||grad J(.; 0)||`` at the fitted head (optimality check).
    status : str
        ``"ok"`` or why the slope is undefined.
    """

    slope_if: float
    slope_fd: float
    fd_delta: float
    backdoor_ce: float
    damping: float
    condition_number: float
    gradient_norm: float
    status: str


def _damped_cholesky(H: np.ndarray) -> tuple[tuple[np.ndarray, bool], float]:
    """Cholesky of ``H + mu I`` with the smallest tried ``mu`` (0 first) that succeeds."""
    damping = 0.0
    scale = max(float(np.trace(H)) / len(H), np.finfo(float).tiny)
    for _ in range(12):
        try:
            shifted = H + damping * np.eye(len(H)) if damping else H
            return scipy.linalg.cho_factor(shifted, lower=True), damping
        except np.linalg.LinAlgError:
            damping = 1e-8 * scale if damping == 0 else 10 * damping
    raise np.linalg.LinAlgError("Hessian not positive definite even with damping")


def _chord_refit(
    head: SoftmaxHead,
    theta0: np.ndarray,
    factor: tuple[np.ndarray, bool],
    Xa: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
) -> np.ndarray | None:
    """Solve ``grad J = 0`` by chord Newton steps with the factored Hessian at ``beta = 0``.

    For a small change of the weights the iteration contracts fast; it runs until the
    gradient norm is below ``1e-11`` (at most 50 steps), so the result is the refitted
    optimum, not an approximation of it; None if it does not get there.
    """
    theta = theta0.copy()
    for _ in range(50):
        _, grad = head.objective(theta, Xa, y, weight)
        if np.linalg.norm(grad) < 1e-11:
            return theta
        theta = theta - scipy.linalg.cho_solve(factor, grad)
    return None


def head_learning_slope(
    Z_train: np.ndarray,
    y_train: np.ndarray,
    is_poison: np.ndarray,
    Z_backdoor: np.ndarray,
    y_backdoor: np.ndarray,
    *,
    weight_decay: float,
    n_classes: int,
    coef_init: np.ndarray | None = None,
    fd_step: float | None = 1e-4,
) -> HeadSlope:
    """Fit the head at ``beta = 0`` on frozen features and return its learning slope.

    Parameters
    ----------
    Z_train : ndarray of shape (n, d)
        Penultimate features of the poisoned training set (poisons included).
    y_train : ndarray of shape (n,), int
        Training labels (targets for poisons).
    is_poison : ndarray of shape (n,), bool
        Poison mask (at least one poison and one clean point).
    Z_backdoor, y_backdoor : ndarray
        Features of the backdoor test set and its target labels.
    weight_decay : float
        ``lambda`` of the training run.
    n_classes : int
    coef_init : ndarray of shape (K, d + 1), optional
        Warm start (the network's trained last layer).
    fd_step : float or None, default=1e-4
        Size of the finite-difference check (None skips it): the step in beta is
        ``delta = fd_step * max(1, L_bt) / max(1, |s|)``, so that the predicted change of
        ``L_bt`` is a small fraction of it. A confident head (large ``L_bt`` on the backdoor
        set, huge ``|s|``) leaves the linear regime after a tiny beta; a fixed step would
        measure a secant, not the derivative.

    Returns
    -------
    HeadSlope
    """
    is_poison = np.asarray(is_poison, dtype=bool)
    n_poison, n_clean = int(is_poison.sum()), int((~is_poison).sum())
    if n_poison == 0 or n_clean == 0:
        raise ValueError(f"need poisons and clean points, got {n_poison} and {n_clean}")
    clean_weight = np.where(is_poison, 0.0, 1.0 / n_clean)
    poison_unit = np.where(is_poison, 1.0 / n_poison, 0.0)
    head = SoftmaxHead(weight_decay, n_classes).fit(
        Z_train, y_train, clean_weight, coef_init=coef_init
    )
    theta = head.coef_.ravel()
    Xa = _augment(Z_train)
    try:
        factor, damping = _damped_cholesky(head.hessian(theta, Xa, clean_weight))
    except np.linalg.LinAlgError as err:
        nan = float("nan")
        ce = head.cross_entropy(Z_backdoor, y_backdoor)
        return HeadSlope(nan, nan, nan, ce, nan, nan, head.gradient_norm_, str(err))
    diagonal = np.abs(np.diag(factor[0]))
    condition = float((diagonal.max() / diagonal.min()) ** 2)
    g_poison = head.mean_ce_gradient(Z_train[is_poison], np.asarray(y_train)[is_poison])
    g_backdoor = head.mean_ce_gradient(Z_backdoor, y_backdoor)
    slope_if = -float(g_backdoor @ scipy.linalg.cho_solve(factor, g_poison))
    backdoor_ce = head.cross_entropy(Z_backdoor, y_backdoor)
    status = "ok" if np.isfinite(slope_if) else "non-finite slope"
    slope_fd, delta = float("nan"), float("nan")
    if fd_step is not None and status == "ok":
        delta = fd_step * max(1.0, backdoor_ce) / max(1.0, abs(slope_if))
        losses = []
        for sign in (1.0, -1.0):
            weight = clean_weight + sign * delta * poison_unit
            refit = _chord_refit(head, theta, factor, Xa, y_train, weight)
            if refit is None:
                status = "finite-difference refit did not converge"
                break
            refit_head = SoftmaxHead(weight_decay, n_classes)
            refit_head.coef_ = refit.reshape(n_classes, -1)
            losses.append(refit_head.cross_entropy(Z_backdoor, y_backdoor))
        else:
            slope_fd = (losses[0] - losses[1]) / (2 * delta)
    return HeadSlope(
        slope_if=slope_if,
        slope_fd=slope_fd,
        fd_delta=delta,
        backdoor_ce=backdoor_ce,
        damping=damping,
        condition_number=condition,
        gradient_norm=head.gradient_norm_,
        status=status,
    )
