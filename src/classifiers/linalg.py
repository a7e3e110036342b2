"""Damped Cholesky solves and the Hessian of the primal C-form objective.

The smooth primal models (logistic, ridge) have parameters ``theta = [w, b]`` and the
objective ``J(theta) = 1/2 ||w||^2 + C sum_i s_i loss(y_i, w.x_i + b)``, whose Hessian is

    H = Lambda + X1^T diag(c) X1,    Lambda = diag(1, ..., 1, 0),    c_i = C s_i loss''(f_i),

with ``X1 = [X, 1]`` (the bias is not regularised). Two solvers are provided:

- :class:`DenseHessian` forms ``H`` ((d+1) x (d+1)) and factors it: the obvious oracle.
- :class:`SampleSpaceHessian` never forms ``H``: it applies Woodbury to the weight block,
  ``(I + R^T R)^{-1} = I - R^T (I + R R^T)^{-1} R`` with ``R = diag(sqrt(c)) X`` (m x d),
  and a Schur complement for the bias. It factors an m x m matrix, so it is the cheap choice
  when the feature dimension exceeds the number of points with ``c_i > 0`` (deep features).
- :class:`RepresenterHessian` solves the same systems for right-hand sides in the row space
  of ``X`` (``[X^T p; q]``, every gradient and influence right-hand side of these models),
  in representer coefficients, from the Gram matrix ``K = X X^T`` alone: each solve costs
  O(n^2) instead of O(n d), and nothing of size d is touched.

Both solve, never invert. When a factorisation fails, a damping ``delta`` is added to the
diagonal (``H + delta I``), from ``1e-10 * mean(|diag|)`` increased tenfold up to
``mean(|diag|)`` until it succeeds; the damping used and the condition number of the
factored matrix (LAPACK 1-norm estimate) are reported.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.linalg

__all__ = [
    "CholeskyFactor",
    "DenseHessian",
    "RepresenterHessian",
    "SampleSpaceHessian",
    "ESTIMATE_DIGITS",
    "damped_cholesky",
    "primal_hessian",
    "reproducible_estimate",
]


@dataclass(frozen=True)
class CholeskyFactor:
    """Lower Cholesky factor of ``A + damping * I`` with its diagnostics.

    Attributes
    ----------
    lower : ndarray of shape (k, k)
        The factor ``L`` with ``L L^T = A + damping I``.
    damping : float
        Diagonal damping that was needed (0.0 when ``A`` factored as is).
    norm : float
        1-norm of ``A + damping I``.
    rcond : float or None
        LAPACK's estimate of its reciprocal 1-norm condition number, when already computed.
    """

    lower: np.ndarray
    damping: float
    norm: float
    rcond: float | None = None

    @functools.cached_property
    def condition_number(self) -> float:
        """Estimated 1-norm condition number of ``A + damping I`` (rounded).

        :func:`reproducible_estimate` of ``1 / rcond``, with ``rcond`` estimated by ``dpocon``
        when first asked for if the factorisation did not estimate it.
        """
        rcond = self.rcond
        if rcond is None:
            rcond, _ = scipy.linalg.lapack.dpocon(self.lower, self.norm, uplo="L")
        return reproducible_estimate(rcond)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve ``(A + damping I) x = rhs`` for a vector or a matrix of right-hand sides."""
        # LAPACK's dpotrs directly: the factor is already in the Fortran order it reads, and
        # scipy's cho_solve wrapper costs more than the solve itself at these sizes.
        if self.lower.shape[0] == 0:
            return np.zeros(np.shape(rhs))
        solution, info = scipy.linalg.lapack.dpotrs(self.lower, rhs, lower=1)
        if info != 0:
            raise ValueError(f"LAPACK dpotrs rejected argument {-info}")
        return solution


ESTIMATE_DIGITS = 3
"""Significant digits kept of a condition-number estimate (see :func:`reproducible_estimate`)."""


def reproducible_estimate(reciprocal: float) -> float:
    """Return ``1 / reciprocal`` rounded to :data:`ESTIMATE_DIGITS` significant digits.

    LAPACK's condition estimates (``dpocon``, ``dgecon``) are estimates, good to a small factor,
    and their last digits depend on the memory layout and alignment of the factored matrix
    (the same matrix gives 81953.65281302981 or ...84 from two buffers). Rounded, the recorded
    value is the same in every run; a rounding boundary falls within those last digits with
    probability ~1e-12. ``inf`` for a zero or negative reciprocal (a singular matrix).
    """
    if not reciprocal > 0:
        return float("inf")
    return float(f"{1.0 / reciprocal:.{ESTIMATE_DIGITS}g}")


def damped_cholesky(
    matrix: np.ndarray,
    *,
    rcond_min: float = 1e-13,
    allow_damping: bool = True,
    least_eigenvalue: float = 0.0,
) -> CholeskyFactor:
    """Cholesky-factor a symmetric positive semi-definite matrix, damping it if needed.

    A factorisation of ``matrix + delta I`` is accepted when LAPACK's ``dpotrf`` succeeds and
    the reciprocal 1-norm condition number estimate (``dpocon``) is at least ``rcond_min``.
    The dampings tried are ``delta = 0`` and then, if ``allow_damping``,
    ``delta = 10^k * mean(|diag|)`` for ``k = -10, -9, ..., 0`` (12 attempts in all).

    With a positive ``least_eigenvalue`` ``m`` (a bound the caller knows, e.g. 1 for the
    identity plus a PSD matrix), ``||A^{-1}||_1 <= sqrt(k) / m`` bounds the reciprocal
    condition number from below by ``m / (sqrt(k) ||A||_1)``; when that bound already meets
    ``rcond_min`` (so would the estimate, which never exceeds ``||A^{-1}||_1``), the factor is
    accepted without ``dpocon``, and its condition number is estimated only when asked for
    (a Newton step or a preconditioner never asks).

    Parameters
    ----------
    matrix : ndarray of shape (k, k)
        Symmetric PSD matrix.
    rcond_min : float
        Smallest acceptable reciprocal condition number.
    allow_damping : bool
        If False, only ``delta = 0`` is tried.
    least_eigenvalue : float, default 0
        A lower bound on the smallest eigenvalue of ``matrix`` (0: none known).

    Raises
    ------
    np.linalg.LinAlgError
        If no tried damping gives a factor (the message names the largest damping tried and
        whether the factorisation failed or was too ill-conditioned).
    """
    size = matrix.shape[0]
    if size == 0:
        return CholeskyFactor(np.zeros((0, 0)), 0.0, 0.0, 1.0)
    anorm = float(np.abs(matrix).sum(axis=0).max())
    dampings = [0.0]
    if allow_damping:
        scale = float(np.mean(np.abs(np.diag(matrix)))) or 1.0
        dampings += [scale * 10.0**k for k in range(-10, 1)]
    failure = ""
    for damping in dampings:
        work = matrix if damping == 0.0 else matrix + damping * np.eye(size)
        # LAPACK reads Fortran order; the transpose of a symmetric C-ordered matrix is the
        # same matrix in that order, so it is passed without the transposing copy the
        # wrapper would make (half the time of the factorisation at these sizes).
        lower, info = scipy.linalg.lapack.dpotrf(work.T, lower=1, clean=1)
        if info != 0:
            failure = "not positive definite"
            continue
        norm = anorm + damping
        if least_eigenvalue + damping >= rcond_min * np.sqrt(size) * norm:
            return CholeskyFactor(lower, damping, norm)
        rcond, _ = scipy.linalg.lapack.dpocon(lower, norm, uplo="L")
        if rcond >= rcond_min:
            return CholeskyFactor(lower, damping, norm, rcond)
        failure = f"reciprocal condition number {rcond:.1e} < rcond_min={rcond_min:.1e}"
    raise np.linalg.LinAlgError(
        f"Cholesky of a {size}x{size} matrix failed ({failure}) with every damping tried, "
        f"up to {dampings[-1]:.3g}" + ("" if allow_damping else " (damping not allowed)")
    )


def primal_hessian(X: np.ndarray, curvature: np.ndarray) -> np.ndarray:
    """Form ``H = Lambda + X1^T diag(curvature) X1`` explicitly, shape (d+1, d+1)."""
    n_features = X.shape[1]
    weighted = X * curvature[:, None]
    hessian = np.empty((n_features + 1, n_features + 1))
    hessian[:n_features, :n_features] = X.T @ weighted
    hessian[:n_features, :n_features] += np.eye(n_features)
    hessian[:n_features, n_features] = weighted.sum(axis=0)
    hessian[n_features, :n_features] = hessian[:n_features, n_features]
    hessian[n_features, n_features] = curvature.sum()
    return hessian


def _identity_plus_scaled(block: np.ndarray, root: np.ndarray) -> CholeskyFactor:
    """Factor ``M = I + diag(root) block diag(root)`` (``block``: the active points' Gram)."""
    system = block * root
    system *= root[:, None]
    system.flat[:: root.size + 1] += 1.0
    return damped_cholesky(system, least_eigenvalue=1.0)


def _bias_schur(
    root: np.ndarray, factor: CholeskyFactor, curvature: np.ndarray
) -> tuple[float, float]:
    """Return the bias Schur complement ``S = sqrt(c)^T M^{-1} sqrt(c)`` and the damping.

    ``S`` vanishes when no point has curvature; it is then damped by ``1e-8 sum(c)`` (at least
    the damping of ``M``), so the bias stays determined.
    """
    schur = float(root @ factor.solve(root)) if root.size else 0.0
    scale = float(curvature.sum()) or 1.0
    damping = factor.damping
    if schur <= 1e-12 * scale:
        damping = max(damping, 1e-8 * scale)
        schur += damping
    return schur, damping


class DenseHessian:
    """Solve ``H z = r`` by forming ``H`` and factoring it (the oracle).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training inputs.
    curvature : ndarray of shape (n_samples,)
        ``c_i = C s_i loss''(f_i) >= 0``.
    """

    def __init__(self, X: np.ndarray, curvature: np.ndarray) -> None:
        self._factor = damped_cholesky(primal_hessian(X, curvature))
        self.damping = self._factor.damping
        self.condition_number = self._factor.condition_number

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve ``(H + damping I) z = rhs``; ``rhs`` has shape (d+1,) or (d+1, k)."""
        return self._factor.solve(rhs)


class SampleSpaceHessian:
    """Solve ``H z = r`` in sample space (Woodbury for the weights, Schur for the bias).

    With ``R = diag(sqrt(c)) X`` over the m points with ``c_i > 0``, ``u = R^T sqrt(c)``
    and ``M = I_m + R R^T``:

    - weight block ``A = I + R^T R``, solved as ``A^{-1} g = g - R^T M^{-1} R g``;
    - bias Schur complement ``S = sqrt(c)^T M^{-1} sqrt(c)`` (a scalar).

    The damping (if any) is applied to the bias Schur complement only, since the weight
    block is at least the identity. ``condition_number`` is that of ``M``, which equals the
    condition number of the weight block ``A``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training inputs.
    curvature : ndarray of shape (n_samples,)
        ``c_i = C s_i loss''(f_i) >= 0``.
    gram : ndarray of shape (n_samples, n_samples), optional
        Precomputed ``X X^T``; then forming the m x m system costs O(m^2), not O(m^2 d),
        which makes repeated solves (Newton steps, a C sweep) cheap.
    """

    def __init__(
        self, X: np.ndarray, curvature: np.ndarray, gram: np.ndarray | None = None
    ) -> None:
        active = curvature > 0
        everyone = bool(active.all())
        root = np.sqrt(curvature[active])
        # R = diag(root) X_active is never formed: R v = root * (X_active v).
        self._X = X if everyone else X[active]
        self._root = root
        if gram is None:
            block = self._X @ self._X.T
        else:
            block = gram if everyone else gram[np.ix_(active, active)]
        self._factor = _identity_plus_scaled(block, root)
        self._coupling = self._X.T @ curvature[active]  # u = X^T c, the weight-bias block
        self._a_inv_coupling = self._solve_weights(self._coupling)
        self._schur, self.damping = _bias_schur(root, self._factor, curvature)

    def _solve_weights(self, rhs: np.ndarray) -> np.ndarray:
        """Apply ``A^{-1} = I - R^T M^{-1} R`` to a vector or matrix."""
        if self._root.size == 0:
            return rhs
        root = self._root if rhs.ndim == 1 else self._root[:, None]
        return rhs - self._X.T @ (root * self._factor.solve(root * (self._X @ rhs)))

    @property
    def condition_number(self) -> float:
        """Estimated 1-norm condition number of ``M`` (estimated when first asked for)."""
        return self._factor.condition_number

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve ``H z = rhs``; ``rhs`` has shape (d+1,) or (d+1, k)."""
        matrix = rhs.reshape(rhs.shape[0], -1)
        rhs_w, rhs_b = matrix[:-1], matrix[-1]
        a_inv_rhs = self._solve_weights(rhs_w)
        z_b = (rhs_b - self._coupling @ a_inv_rhs) / self._schur
        z_w = a_inv_rhs - np.outer(self._a_inv_coupling, z_b)
        return np.vstack([z_w, z_b[None, :]]).reshape(rhs.shape)


class RepresenterHessian:
    """Solve ``H z = r`` for ``r`` in the row space of ``X``, in representer coefficients.

    ``H`` maps ``w = X^T u`` into the row space of ``X``, so for ``r = [X^T p; q]`` the
    solution is ``z = [X^T u; z_b]`` with (``K = X X^T``, ``D = diag(c)``)

        (I + D K) u + c z_b = p,        c^T K u + sum(c) z_b = q.

    With ``R = diag(sqrt(c_A))`` over the points ``A`` with ``c_i > 0`` and
    ``M = I_A + R K_AA R`` (the matrix :class:`SampleSpaceHessian` factors), push-through gives
    ``(I + D K)^{-1} v = v - E_A R M^{-1} R (K v)_A =: P v`` (``E_A`` embeds ``A`` in all points),
    ``c^T K P v = sqrt(c_A)^T M^{-1} R (K v)_A``, and eliminating ``u``:

        z_b = (q - sqrt(c_A)^T M^{-1} R (K p)_A) / S,    u = P p - z_b P c,

    with the bias Schur complement ``S = sqrt(c_A)^T M^{-1} sqrt(c_A)``. ``M`` is formed from
    ``K`` exactly as :class:`SampleSpaceHessian` forms it, so the damping and condition number
    are the same.

    Parameters
    ----------
    gram : ndarray of shape (n_samples, n_samples)
        ``K = X X^T``.
    curvature : ndarray of shape (n_samples,)
        ``c_i = C s_i loss''(f_i) >= 0``.
    """

    def __init__(self, gram: np.ndarray, curvature: np.ndarray) -> None:
        active = curvature > 0
        everyone = bool(active.all())
        root = np.sqrt(curvature[active])
        self._gram = gram
        self._active = slice(None) if everyone else np.flatnonzero(active)
        self._root = root
        block = gram if everyone else gram[np.ix_(active, active)]
        self._factor = _identity_plus_scaled(block, root)
        self._p_coupling, _ = self._push_through(curvature)  # P c
        self._schur, self.damping = _bias_schur(root, self._factor, curvature)

    def _push_through(self, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``P rhs`` and ``sqrt(c_A)^T M^{-1} R (K rhs)_A`` (``rhs``: (n,) or (n, k))."""
        result = np.array(rhs, dtype=np.float64)
        if self._root.size == 0:
            return result, np.zeros(rhs.shape[1:])
        root = self._root if rhs.ndim == 1 else self._root[:, None]
        solved = self._factor.solve(root * (self._gram @ rhs)[self._active])
        result[self._active] -= root * solved
        return result, self._root @ solved

    @property
    def condition_number(self) -> float:
        """Estimated 1-norm condition number of ``M`` (estimated when first asked for)."""
        return self._factor.condition_number

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Return ``[u; z_b]`` for ``rhs = [p; q]``, both of shape (n+1,) or (n+1, k)."""
        matrix = rhs.reshape(rhs.shape[0], -1)
        pushed, cross = self._push_through(matrix[:-1])
        z_b = (matrix[-1] - cross) / self._schur
        u = pushed - np.outer(self._p_coupling, z_b)
        return np.vstack([u, z_b[None, :]]).reshape(rhs.shape)
