r"""Influence of the poisons on a trained network's own last layer, without a dense Hessian.

The last layer of a trained network is a softmax head ``Theta`` of shape ``(K, d + 1)`` acting
on ``x~ = [z, 1]`` (penultimate features ``z``, ``d``-dimensional, and a bias):
``p(x) = softmax(Theta x~)``. On the frozen features of the training set its objective mirrors
the network's training loss,

.. math::

    J(\Theta; \beta) = \sum_{i \in C} a_i \, CE_i + \beta \sum_{j \in P} b_j \, CE_j
        + \frac{\lambda}{2} \|\Theta\|_F^2 ,

with clean weights ``a`` and poison weights ``b`` (the per-batch mean of the trainer:
``a_i = 1 / n_c`` and ``b_j = 1 / n_p``; see ``docs/networks.md``) and the weight decay
``lambda``. The network's head ``Theta_0`` was trained jointly with the features, by a finite
number of SGD steps: it is not the minimiser of ``J(.; 0)``. To use it as the expansion
point, the slope describes the *proximal* head

.. math::

    \tilde J(\Theta; \beta) = J(\Theta; \beta) - g_0^\top (\Theta - \Theta_0)
        + \frac{\mu}{2} \|\Theta - \Theta_0\|_F^2 ,
    \qquad g_0 = \nabla J(\Theta_0; 0),

whose minimiser at ``beta = 0`` is exactly ``Theta_0`` (``J`` is convex, so ``tilde J(.; 0)``
is strictly convex with zero gradient there). This is the proximal Bregman response of the head
(Bae et al., NeurIPS 2022): the cross-entropy part of ``tilde J`` is the Bregman divergence of
each sample's loss from its value at ``Theta_0``, and ``mu`` is the damping. Its exact curve
``L_bt(tilde Theta(beta))`` (:func:`proximal_head_curve`) starts at the network's own backdoor
loss, and its derivative at 0 is the damped influence at the network's weights:

.. math::

    s = \frac{d}{d\beta} L_{bt}(\tilde\Theta(\beta)) \Big|_{\beta=0}
      = - \nabla L_{bt}(\Theta_0)^\top (H_0 + \mu I)^{-1} g_P ,

``H_0 = hess J(Theta_0; 0)`` (weight decay included), ``g_P = sum_j b_j grad CE_j(Theta_0)``,
``L_bt`` the mean CE over the backdoor test set. A negative slope means the backdoor loss falls
as the poisons gain weight.

Nothing here forms the ``K (d + 1)``-square Hessian (3.4 GB in float64 for ResNet50's head):
a Hessian-vector product costs two products with the ``(n, d + 1)`` feature matrix,

.. math::

    H V = \bigl[ A \circ (P \circ (X V^\top) - P \circ \mathrm{rowsum}(P \circ X V^\top))
          \bigr]^\top X + \lambda V ,

(``P`` the ``(n, K)`` probabilities, ``A`` the per-sample weights), and the solves are
preconditioned conjugate gradients (Jacobi) on it
(:func:`~backdoor_curves.classifiers.nn.conjugate_gradient.conjugate_gradient`), in float64 on
the features' device (the GPU when the network runs there). The dense solve of
:mod:`backdoor_curves.classifiers.nn.softmax_head` is the oracle of the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F  # noqa: N812  # torch convention

from backdoor_curves.classifiers.nn.conjugate_gradient import conjugate_gradient

__all__ = [
    "HeadProblem",
    "HeadSlope",
    "early_stopping_damping",
    "proximal_head_curve",
    "proximal_head_slope",
]


@dataclass(frozen=True, eq=False)
class HeadProblem:
    """The frozen-feature problem of one network's last layer (torch tensors, float64).

    Attributes
    ----------
    X : torch.Tensor of shape (n, d + 1)
        Training features with a trailing column of ones.
    y : torch.Tensor of shape (n,), int64
        Training labels (targets for poisons).
    clean_weight : torch.Tensor of shape (n,)
        ``a_i`` on clean points, 0 on poisons.
    poison_weight : torch.Tensor of shape (n,)
        ``b_j`` on poisons, 0 on clean points.
    X_backdoor : torch.Tensor of shape (m, d + 1)
        Backdoor test features with a column of ones.
    y_backdoor : torch.Tensor of shape (m,), int64
        Their target labels.
    weight_decay : float
        ``lambda >= 0``.
    """

    X: torch.Tensor
    y: torch.Tensor
    clean_weight: torch.Tensor
    poison_weight: torch.Tensor
    X_backdoor: torch.Tensor
    y_backdoor: torch.Tensor
    weight_decay: float

    @classmethod
    def from_features(
        cls,
        Z: torch.Tensor,
        y: torch.Tensor,
        is_poison: torch.Tensor,
        Z_backdoor: torch.Tensor,
        y_backdoor: torch.Tensor,
        *,
        weight_decay: float,
        per_sample: bool = False,
    ) -> HeadProblem:
        """Build the problem from penultimate features and the poison mask.

        Parameters
        ----------
        Z, Z_backdoor : torch.Tensor of shape (n, d) and (m, d)
            Penultimate features (any float dtype; converted to float64 on their device).
        y, y_backdoor : torch.Tensor of shape (n,) and (m,), int64
        is_poison : torch.Tensor of shape (n,), bool
            At least one poison and one clean point.
        weight_decay : float
        per_sample : bool, default=False
            False: the trainer's per-batch means, ``a = 1 / n_c``, ``b = 1 / n_p``. True: the
            weighted mean, ``a = b = 1 / n`` (a poison counts as ``beta`` clean points).
        """
        is_poison = is_poison.to(Z.device, torch.bool)
        n_poison, n_clean = int(is_poison.sum()), int((~is_poison).sum())
        if n_poison == 0 or n_clean == 0:
            raise ValueError(f"need poisons and clean points, got {n_poison} and {n_clean}")
        if not weight_decay >= 0:
            raise ValueError(f"weight decay must be >= 0, got {weight_decay}")
        scale_clean = 1.0 / (n_clean + n_poison) if per_sample else 1.0 / n_clean
        scale_poison = 1.0 / (n_clean + n_poison) if per_sample else 1.0 / n_poison
        ones = torch.ones(len(Z), dtype=torch.float64, device=Z.device)
        return cls(
            X=_augment(Z),
            y=y.to(Z.device),
            clean_weight=torch.where(is_poison, 0.0, scale_clean * ones),
            poison_weight=torch.where(is_poison, scale_poison * ones, 0.0),
            X_backdoor=_augment(Z_backdoor.to(Z.device)),
            y_backdoor=y_backdoor.to(Z.device),
            weight_decay=float(weight_decay),
        )

    def weights(self, beta: float) -> torch.Tensor:
        """Per-sample weights of ``J(.; beta)``: ``a_i`` (clean points), ``beta b_j`` (poisons)."""
        return self.clean_weight + beta * self.poison_weight

    def objective(self, theta: torch.Tensor, beta: float) -> tuple[float, torch.Tensor]:
        """``J(Theta; beta)`` and its gradient, shape ``(K, d + 1)``."""
        weight = self.weights(beta)
        log_p = torch.log_softmax(self.X @ theta.T, dim=1)
        ce = -log_p.gather(1, self.y[:, None])[:, 0]
        residual = log_p.exp()
        residual[torch.arange(len(self.y)), self.y] -= 1.0
        grad = (residual * weight[:, None]).T @ self.X + self.weight_decay * theta
        value = float(weight @ ce) + 0.5 * self.weight_decay * float((theta * theta).sum())
        return value, grad

    def hessian_product(
        self, theta: torch.Tensor, beta: float
    ) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
        """Return ``V -> hess J(Theta; beta) V`` and the Hessian's diagonal (module docstring).

        Returns
        -------
        product : callable
            Maps ``V`` of shape ``(K, d + 1)`` to ``H V`` of the same shape.
        diagonal : torch.Tensor of shape (K, d + 1)
            ``H_(k j),(k j) = sum_i w_i p_ik (1 - p_ik) x_ij^2 + lambda`` (the preconditioner).
        """
        weight = self.weights(beta)
        p = torch.softmax(self.X @ theta.T, dim=1)

        def product(V: torch.Tensor) -> torch.Tensor:
            pa = p * (self.X @ V.T)
            coupled = pa - p * pa.sum(dim=1, keepdim=True)
            return (coupled * weight[:, None]).T @ self.X + self.weight_decay * V

        diagonal = (weight[:, None] * p * (1 - p)).T @ (self.X * self.X) + self.weight_decay
        return product, diagonal

    def mean_ce_gradient(
        self, theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        """``sum_i weight_i grad CE_i(Theta)``, shape ``(K, d + 1)``."""
        residual = torch.softmax(X @ theta.T, dim=1)
        residual[torch.arange(len(y)), y] -= 1.0
        return (residual * weight[:, None]).T @ X

    def backdoor_loss(self, theta: torch.Tensor) -> float:
        """``L_bt``: mean CE of the head ``Theta`` over the backdoor test set."""
        return float(F.cross_entropy(self.X_backdoor @ theta.T, self.y_backdoor))

    def backdoor_gradient(self, theta: torch.Tensor) -> torch.Tensor:
        """``grad L_bt(Theta)``, shape ``(K, d + 1)``."""
        m = len(self.y_backdoor)
        uniform = torch.full((m,), 1.0 / m, dtype=theta.dtype, device=theta.device)
        return self.mean_ce_gradient(theta, self.X_backdoor, self.y_backdoor, uniform)

    def poison_gradient(self, theta: torch.Tensor) -> torch.Tensor:
        """``g_P = sum_j b_j grad CE_j(Theta)``, shape ``(K, d + 1)``."""
        return self.mean_ce_gradient(theta, self.X, self.y, self.poison_weight)


def _augment(Z: torch.Tensor) -> torch.Tensor:
    """``[Z, 1]`` in float64."""
    Z = Z.to(torch.float64)
    return torch.cat([Z, torch.ones(len(Z), 1, dtype=torch.float64, device=Z.device)], dim=1)


@dataclass(frozen=True)
class HeadSlope:
    """Damped influence slope of a network's last layer at its own weights.

    Attributes
    ----------
    slope : float
        ``s`` of the module docstring (NaN when the solve failed).
    damping : float
        ``mu`` (added to ``H_0``, which already holds the weight decay).
    backdoor_loss : float
        ``L_bt(Theta_0)``: the head's backdoor CE at the network's weights.
    gradient_norm : float
        ``||g_0||``: how far ``Theta_0`` is from the minimiser of ``J(.; 0)`` (0 there).
    cg_iterations : int
        Conjugate-gradient iterations of the solve.
    relative_residual : float
        Final relative residual of the solve.
    status : str
        ``"ok"`` or why the slope is undefined.
    """

    slope: float
    damping: float
    backdoor_loss: float
    gradient_norm: float
    cg_iterations: int
    relative_residual: float
    status: str


def early_stopping_damping(lr: float, momentum: float, n_steps: int) -> float:
    r"""Damping that stands for a finite SGD run: ``mu = (1 - momentum) / (lr * n_steps)``.

    Gradient descent with step ``eta`` and momentum ``m`` moves, on a slowly varying
    objective, with the effective step ``eta / (1 - m)``; stopped after ``t`` steps from its
    start it behaves like the minimiser of the objective plus the proximity term
    ``||theta - theta_start||^2 / (2 tau)`` with ``tau = t eta / (1 - m)`` (early stopping as
    ridge regularisation; Yao, Rosasco and Caponnetto, Constr. Approx. 2007). The trained
    head is that far from the optimum of its own objective, so the proximal head uses
    ``mu = 1 / tau``.

    Parameters
    ----------
    lr, momentum : float
        The SGD settings (``lr > 0``, ``0 <= momentum < 1``).
    n_steps : int
        Optimiser steps taken so far (``>= 1``).

    Returns
    -------
    float
    """
    if not lr > 0 or not 0 <= momentum < 1 or n_steps < 1:
        raise ValueError(
            f"need lr > 0, 0 <= momentum < 1 and n_steps >= 1, got {lr}, {momentum}, {n_steps}"
        )
    return (1.0 - momentum) / (lr * n_steps)


def _damped(
    product: Callable[[torch.Tensor], torch.Tensor], damping: float
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``V -> H V + mu V``."""
    return lambda V: product(V) + damping * V


def _check_damping(problem: HeadProblem, damping: float) -> None:
    if not damping >= 0 or damping + problem.weight_decay <= 0:
        raise ValueError(
            f"damping must be >= 0 and, with weight decay {problem.weight_decay}, positive in "
            f"sum (H_0 is only positive semi-definite), got {damping}"
        )


def proximal_head_slope(
    problem: HeadProblem, theta0: torch.Tensor, damping: float, *, rtol: float = 1e-10
) -> HeadSlope:
    """Return ``s = - grad L_bt^T (H_0 + mu I)^{-1} g_P`` at the network's head ``Theta_0``.

    Parameters
    ----------
    problem : HeadProblem
    theta0 : torch.Tensor of shape (K, d + 1)
        The trained last layer ``[W, b]`` (float64, on the problem's device).
    damping : float
        ``mu >= 0`` (``mu + lambda > 0``).
    rtol : float, default=1e-10
        Relative residual of the conjugate-gradient solve.

    Returns
    -------
    HeadSlope
    """
    _check_damping(problem, damping)
    product, diagonal = problem.hessian_product(theta0, 0.0)
    solve = conjugate_gradient(
        _damped(product, damping), problem.poison_gradient(theta0), diagonal + damping, rtol=rtol
    )
    slope = -float((problem.backdoor_gradient(theta0) * solve.x).sum())
    _, g0 = problem.objective(theta0, 0.0)
    status = "ok" if solve.converged else "conjugate gradients did not converge"
    return HeadSlope(
        slope=slope if solve.converged else float("nan"),
        damping=float(damping),
        backdoor_loss=problem.backdoor_loss(theta0),
        gradient_norm=float(torch.linalg.vector_norm(g0)),
        cg_iterations=solve.n_iter,
        relative_residual=solve.relative_residual,
        status=status,
    )


@dataclass(frozen=True, eq=False)
class _ProximalHead:
    """``tilde J(.; beta)`` of a problem around ``Theta_0`` (module docstring)."""

    problem: HeadProblem
    theta0: torch.Tensor
    g0: torch.Tensor
    damping: float

    def value_and_gradient(self, theta: torch.Tensor, beta: float) -> tuple[float, torch.Tensor]:
        """``tilde J(Theta; beta)`` and its gradient."""
        value, grad = self.problem.objective(theta, beta)
        shift = theta - self.theta0
        proximity = float((shift * shift).sum())
        value += -float((self.g0 * shift).sum()) + 0.5 * self.damping * proximity
        return value, grad - self.g0 + self.damping * shift

    def minimise(
        self, theta: torch.Tensor, beta: float, gtol: float, max_steps: int = 50
    ) -> torch.Tensor | None:
        """Minimise ``tilde J(.; beta)`` from ``theta``: Newton-CG steps with backtracking.

        A step is accepted when it decreases ``tilde J`` enough (Armijo) or, near the optimum
        where the decrease falls below float64 resolution, when it decreases the gradient
        norm. Returns the minimiser once ``||grad tilde J|| <= gtol``; None if ``max_steps``
        do not get there.
        """
        value, grad = self.value_and_gradient(theta, beta)
        grad_norm = float(torch.linalg.vector_norm(grad))
        for _ in range(max_steps):
            if grad_norm <= gtol:
                return theta
            product, diagonal = self.problem.hessian_product(theta, beta)
            step = conjugate_gradient(
                _damped(product, self.damping), -grad, diagonal + self.damping, rtol=1e-12
            ).x
            decrease = float((grad * step).sum())
            size = 1.0
            while size > 1e-10:
                candidate = theta + size * step
                new_value, new_grad = self.value_and_gradient(candidate, beta)
                new_norm = float(torch.linalg.vector_norm(new_grad))
                if new_value <= value + 1e-4 * size * decrease or new_norm < grad_norm:
                    break
                size /= 2
            else:
                return None
            theta, value, grad, grad_norm = candidate, new_value, new_grad, new_norm
        return theta if grad_norm <= gtol else None


def proximal_head_curve(
    problem: HeadProblem,
    theta0: torch.Tensor,
    damping: float,
    betas: Sequence[float],
    *,
    gtol: float = 1e-11,
) -> list[float]:
    """Backdoor loss of the refitted proximal head, ``L_bt(tilde Theta(beta))``, per beta.

    Each ``tilde Theta(beta)`` minimises ``tilde J(.; beta)`` (module docstring) to a gradient
    norm of at most ``gtol``, warm-started from the previous beta's (betas in increasing
    order; ``beta = 0`` gives ``Theta_0`` itself).

    Parameters
    ----------
    problem : HeadProblem
    theta0 : torch.Tensor of shape (K, d + 1)
        The network's last layer (float64).
    damping : float
        ``mu`` (as for :func:`proximal_head_slope`).
    betas : sequence of float
        Increasing poison weights ``>= 0``.
    gtol : float, default=1e-11
        Gradient-norm tolerance of each refit.

    Returns
    -------
    list of float
        ``L_bt`` per beta; NaN where the refit did not converge (and after it).
    """
    _check_damping(problem, damping)
    if any(b < 0 for b in betas) or list(betas) != sorted(betas):
        raise ValueError(f"betas must be increasing and >= 0, got {list(betas)}")
    _, g0 = problem.objective(theta0, 0.0)
    proximal = _ProximalHead(problem, theta0, g0, damping)
    theta: torch.Tensor | None = theta0
    losses = []
    for beta in betas:
        if theta is not None:
            theta = proximal.minimise(theta, beta, gtol)
        losses.append(float("nan") if theta is None else problem.backdoor_loss(theta))
    return losses
