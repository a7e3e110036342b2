"""Conjugate gradients on a matrix given only by its products, in torch.

Solves ``A x = b`` for a symmetric positive definite ``A`` of which only ``v -> A v`` is known
(a Hessian-vector product, :mod:`backdoor_curves.classifiers.nn.head_influence`), with a Jacobi
preconditioner ``M = diag(A)``: no matrix is formed, tensors of any shape are flat vectors,
and the work stays on the tensors' device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["CGResult", "conjugate_gradient"]


@dataclass(frozen=True)
class CGResult:
    """Outcome of :func:`conjugate_gradient`.

    Attributes
    ----------
    x : torch.Tensor
        The solution (same shape as the right-hand side).
    n_iter : int
        Iterations run.
    relative_residual : float
        ``||b - A x|| / ||b||`` at the end (0 for ``b = 0``).
    converged : bool
        Whether ``relative_residual <= rtol``.
    """

    x: torch.Tensor
    n_iter: int
    relative_residual: float
    converged: bool


def conjugate_gradient(
    product: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    diagonal: torch.Tensor,
    *,
    rtol: float = 1e-10,
    max_iter: int | None = None,
) -> CGResult:
    """Solve ``A x = b`` for a symmetric positive definite ``A`` given as a product.

    Jacobi-preconditioned conjugate gradients (Hestenes-Stiefel, with ``M = diag(A)``),
    started at ``x = 0``; tensors of any shape are treated as flat vectors.

    Parameters
    ----------
    product : callable
        ``v -> A v``.
    b : torch.Tensor
        Right-hand side.
    diagonal : torch.Tensor
        ``diag(A)``, same shape as ``b``, positive.
    rtol : float, default=1e-10
        Stop when ``||b - A x|| <= rtol ||b||``.
    max_iter : int, optional
        At most this many iterations (default: ``10 * b.numel()``).

    Returns
    -------
    CGResult
    """
    if bool((diagonal <= 0).any()):
        raise ValueError("the preconditioner diagonal must be positive (A positive definite)")
    max_iter = 10 * b.numel() if max_iter is None else max_iter
    x = torch.zeros_like(b)
    b_norm = float(torch.linalg.vector_norm(b))
    if b_norm == 0:
        return CGResult(x, 0, 0.0, True)
    r = b.clone()
    z = r / diagonal
    d = z.clone()
    rz = float((r * z).sum())
    n_iter, relative = 0, 1.0
    while n_iter < max_iter:
        Ad = product(d)
        step = rz / float((d * Ad).sum())
        x = x + step * d
        r = r - step * Ad
        n_iter += 1
        relative = float(torch.linalg.vector_norm(r)) / b_norm
        if relative <= rtol:
            break
        z = r / diagonal
        rz_next = float((r * z).sum())
        d = z + (rz_next / rz) * d
        rz = rz_next
    return CGResult(x, n_iter, relative, relative <= rtol)
