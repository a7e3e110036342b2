"""The SVM dual QP and its exact solvers (primal-dual and primal active set).

The dual of ``1/2 ||w||^2 + C sum_i s_i max(0, 1 - y_i f(x_i))`` is

    min_alpha 1/2 alpha^T Q alpha - 1^T alpha   s.t.  y^T alpha = 0,  0 <= alpha_i <= u_i = C s_i,

with ``Q_ij = y_i y_j k(x_i, x_j)``. At the optimum, with margins ``m_i = y_i f(x_i) - 1``,
every point is in one of three sets: reserve ``R`` (``alpha_i = 0``, ``m_i >= 0``), margin
support vectors ``S`` (``0 < alpha_i < u_i``, ``m_i = 0``) and error vectors ``E``
(``alpha_i = u_i``, ``m_i <= 0``). Given the sets, ``alpha_S`` and ``b`` solve the KKT system

    [[Q_SS, y_S], [y_S^T, 0]] [alpha_S; b] = [1 - Q_SE u_E; -y_E^T u_E].

Everything here works on a kernel matrix ``K`` and signed labels; the estimators live in
:mod:`backdoor_curves.classifiers.svm`, the kernels in :mod:`backdoor_curves.classifiers.kernels`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from backdoor_curves.classifiers.linalg import (
    CholeskyFactor,
    damped_cholesky,
    reproducible_estimate,
)

__all__ = [
    "BOUND_TOL",
    "MARGIN_TOL",
    "DualSolution",
    "KKTFactor",
    "bordered_kkt_matrix",
    "dual_margins",
    "dual_sets",
    "margin_hessian",
    "kkt_factor",
    "kkt_violation",
    "solve_dual_active_set",
    "solve_dual_primal_active_set",
]

#: Relative tolerance deciding whether ``alpha_i`` sits on a bound of its box.
BOUND_TOL = 1e-9
#: Absolute tolerance on margins ``m_i = y_i f(x_i) - 1`` in the KKT check.
MARGIN_TOL = 1e-9


@dataclass(frozen=True)
class DualSolution:
    """An SVM dual solution over the full training index set.

    Attributes
    ----------
    alpha : ndarray of shape (n_samples,)
        Dual variables ``0 <= alpha_i <= u_i``.
    intercept : float
        Bias ``b``.
    converged : bool
        Whether the KKT conditions hold to ``MARGIN_TOL`` / ``BOUND_TOL``.
    n_iter : int
        Active-set iterations used.
    kkt : KKTFactor or None
        Factor of the last KKT system solved, if any.
    kkt_set : ndarray of int or None
        The margin set (indices) ``kkt`` was built over; it can differ from the free set of
        the returned ``alpha`` when a free value was clipped onto its bound.
    """

    alpha: np.ndarray
    intercept: float
    converged: bool
    n_iter: int
    kkt: KKTFactor | None = None
    kkt_set: np.ndarray | None = None


def kkt_violation(K: np.ndarray, y: np.ndarray, upper: np.ndarray, solution: DualSolution) -> float:
    """Largest violation of the SVM optimality conditions by ``solution`` (0 at an optimum).

    Margins ``m_i`` must be >= 0 at ``alpha_i = 0``, <= 0 at ``alpha_i = u_i`` and 0 in
    between; the box and ``y^T alpha = 0`` must hold.
    """
    alpha, m = solution.alpha, dual_margins(K, y, solution.alpha, solution.intercept)
    at_zero = alpha <= BOUND_TOL * upper
    at_upper = (upper > 0) & (alpha >= upper * (1.0 - BOUND_TOL))
    free = ~at_zero & ~at_upper
    violations = [
        np.max(-m[at_zero & (upper > 0)], initial=0.0),
        np.max(m[at_upper], initial=0.0),
        np.max(np.abs(m[free]), initial=0.0),
        np.max(alpha - upper, initial=0.0),
        np.max(-alpha, initial=0.0),
        abs(float(y @ alpha)) / max(float(upper.sum()), 1.0),
    ]
    return float(max(violations))


class KKTFactor:
    """Factorisation of the KKT matrix ``B = [[Q_SS, y_S], [y_S^T, 0]]`` over margin SVs.

    Solves ``B [a; c] = [r; t]``. When ``Q_SS`` is well conditioned (typical for the RBF
    kernel) it uses a Cholesky factor of ``Q_SS`` and the Schur complement
    ``y_S^T Q_SS^{-1} y_S`` for ``c``. Otherwise (a linear kernel with more margin support
    vectors than input dimensions makes ``Q_SS`` singular while ``B`` may not be) it
    LU-factors ``B`` itself, and when ``B`` is singular too (degenerate margin sets, where
    ``alpha`` is not unique but ``w``, ``b`` and ``f`` are) it takes the minimum-norm
    least-squares solution. No damping is ever added, so ``damping`` is 0.

    Parameters
    ----------
    Q_ss : ndarray of shape (k, k)
        ``y_i y_j k(x_i, x_j)`` over the margin support vectors.
    y_s : ndarray of shape (k,)
        Their signed labels.
    """

    damping = 0.0

    def __init__(self, Q_ss: np.ndarray, y_s: np.ndarray) -> None:
        self._y = y_s
        self._cholesky: CholeskyFactor | None = None
        try:
            self._cholesky = damped_cholesky(Q_ss, rcond_min=1e-10, allow_damping=False)
        except np.linalg.LinAlgError:
            self._init_bordered(Q_ss, y_s)
            return
        self._q_inv_y = self._cholesky.solve(y_s)
        self._schur = float(y_s @ self._q_inv_y)
        self.condition_number = self._cholesky.condition_number

    def _init_bordered(self, Q_ss: np.ndarray, y_s: np.ndarray) -> None:
        size = y_s.size
        self._bordered = np.zeros((size + 1, size + 1))
        self._bordered[:size, :size] = Q_ss
        self._bordered[:size, size] = y_s
        self._bordered[size, :size] = y_s
        with warnings.catch_warnings():
            # An exactly singular B makes LAPACK warn; the condition estimate below detects
            # it and switches to least squares, so the warning carries no information.
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            self._lu = scipy.linalg.lu_factor(self._bordered, check_finite=False)
        anorm = float(np.abs(self._bordered).sum(axis=0).max())
        rcond, _ = scipy.linalg.lapack.dgecon(self._lu[0], anorm, norm="1")
        self.condition_number = reproducible_estimate(rcond)
        self._singular = not rcond > 1e-12

    def solve(self, rhs_s: np.ndarray, rhs_eq: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(a, c)``; ``rhs_s`` has shape (k,) or (k, m), ``rhs_eq`` () or (m,)."""
        if self._cholesky is not None:
            q_inv_r = self._cholesky.solve(rhs_s)
            c = (self._y @ q_inv_r - rhs_eq) / self._schur
            return q_inv_r - np.multiply.outer(self._q_inv_y, c), np.asarray(c)
        rhs = np.vstack([rhs_s.reshape(self._y.size, -1), np.reshape(rhs_eq, (1, -1))])
        if self._singular:
            solution = scipy.linalg.lstsq(self._bordered, rhs, cond=1e-12)[0]
        else:
            solution = scipy.linalg.lu_solve(self._lu, rhs, check_finite=False)
        a, c = solution[:-1], solution[-1]
        if np.ndim(rhs_s) == 1:
            return a[:, 0], np.asarray(c[0])
        return a, c


def margin_hessian(K: np.ndarray, y: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Return ``Q_FF = diag(y_F) K_FF diag(y_F)``, the dual Hessian over the indices ``free``."""
    return np.outer(y[free], y[free]) * K[np.ix_(free, free)]


def bordered_kkt_matrix(Q_ff: np.ndarray, y_f: np.ndarray) -> np.ndarray:
    """Return the KKT matrix ``[[Q_FF, y_F], [y_F^T, 0]]`` of a margin set, (|F| + 1) square."""
    size = y_f.size
    system = np.zeros((size + 1, size + 1))
    system[:size, :size] = Q_ff
    system[:size, size] = y_f
    system[size, :size] = y_f
    return system


def kkt_factor(Q_ss: np.ndarray, y_s: np.ndarray) -> KKTFactor:
    """Factor the KKT matrix over the margin support vectors (see :class:`KKTFactor`)."""
    return KKTFactor(Q_ss, y_s)


def dual_margins(K: np.ndarray, y: np.ndarray, alpha: np.ndarray, intercept: float) -> np.ndarray:
    """Margins ``m_i = y_i f(x_i) - 1`` of every training point, shape (n,)."""
    return y * (K @ (alpha * y) + intercept) - 1.0


def dual_sets(alpha: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks ``(margin, error)`` of the free and upper-bounded dual variables."""
    error = (upper > 0) & (alpha >= upper * (1.0 - BOUND_TOL))
    margin = (alpha > upper * BOUND_TOL) & ~error
    return margin, error


def solve_dual_active_set(
    K: np.ndarray,
    y: np.ndarray,
    upper: np.ndarray,
    margin: np.ndarray,
    error: np.ndarray,
    *,
    intercept: float = 0.0,
    max_iter: int = 100,
) -> DualSolution:
    """Solve the SVM dual exactly by a primal-dual active-set iteration.

    Starting from a guess of the margin set ``S`` and the error set ``E`` (everything else
    at ``alpha = 0``), solve the KKT system for ``alpha_S`` and ``b``, then move the
    violators: ``alpha_S < 0`` to the reserve set, ``alpha_S > u`` to ``E``, reserve points
    with ``m < 0`` and error vectors with ``m > 0`` into ``S``. All violators move at once;
    if a set configuration repeats (cycling), only the worst violator moves from then on.
    An empty ``S`` (the bias is then free) is seeded with the point whose margin under
    ``intercept`` is closest to zero. The iteration stops when no point violates the KKT
    conditions (an exact optimum, ``converged=True``) or after ``max_iter`` iterations
    (``converged=False``: the caller must not use the result). From a nearby optimum
    (libsvm's, or the previous point of a path) it typically needs one to three solves.

    Parameters
    ----------
    K : ndarray of shape (n, n)
        Kernel matrix of the training points.
    y : ndarray of shape (n,)
        Signed labels in {-1, +1}.
    upper : ndarray of shape (n,)
        Box bounds ``u_i = C s_i``; points with ``u_i = 0`` stay at ``alpha_i = 0``.
    margin, error : ndarray of shape (n,), bool
        Initial guesses of ``S`` and ``E``.
    intercept : float
        Bias used to seed an empty ``S``.
    max_iter : int
        Iteration limit.
    """
    movable = upper > 0
    margin = margin & movable
    error = error & movable & ~margin
    alpha = np.where(error, upper, 0.0)
    seen: set[bytes] = set()
    single_moves = False
    for iteration in range(1, max_iter + 1):
        if not margin.any():
            m = dual_margins(K, y, np.where(error, upper, 0.0), intercept)
            candidates = np.flatnonzero(movable)
            margin = margin.copy()
            margin[candidates[np.argmin(np.abs(m[candidates]))]] = True
            error = error & ~margin
        free = np.flatnonzero(margin)
        alpha = np.where(error, upper, 0.0)
        y_s = y[free]
        # The rows of S (K is symmetric: also its columns), gathered once: Q_SS and the
        # error vectors' term Q_SE u_E both come from them.
        K_s = K[free]
        Q_ss = K_s[:, free]
        Q_ss *= y_s
        Q_ss *= y_s[:, None]
        rhs_s = 1.0 - y_s * (K_s @ (alpha * y))
        rhs_eq = -float(y @ alpha)
        kkt = kkt_factor(Q_ss, y_s)
        alpha_s, intercept_arr = kkt.solve(rhs_s, rhs_eq)
        alpha[free] = alpha_s
        intercept = float(intercept_arr)
        m = dual_margins(K, y, alpha, intercept)
        # Violation amounts (positive = violated) of each kind of move.
        below = np.where(margin, -alpha / np.maximum(upper, 1e-300), 0.0)
        above = np.where(margin, alpha / np.maximum(upper, 1e-300) - 1.0, 0.0)
        reserve_in = np.where(~margin & ~error & movable, -m, 0.0)
        error_in = np.where(error, m, 0.0)
        to_zero, to_upper = below > BOUND_TOL, above > BOUND_TOL
        enter = (reserve_in > MARGIN_TOL) | (error_in > MARGIN_TOL)
        if np.abs(m[free]).max() > MARGIN_TOL:
            # Singular, inconsistent KKT system (a least-squares answer): no optimum has
            # these sets, and no move rule applies; report failure rather than guess.
            return DualSolution(alpha, intercept, False, iteration)
        if not (to_zero.any() or to_upper.any() or enter.any()):
            alpha[free] = np.clip(alpha[free], 0.0, upper[free])
            return DualSolution(alpha, intercept, True, iteration, kkt, free)
        state = margin.tobytes() + error.tobytes()
        single_moves = single_moves or state in seen
        seen.add(state)
        if single_moves:
            worst = np.argmax(np.maximum.reduce([below, above, reserve_in, error_in]))
            keep = np.zeros_like(margin)
            keep[worst] = True
            to_zero, to_upper, enter = to_zero & keep, to_upper & keep, enter & keep
        margin = (margin & ~to_zero & ~to_upper) | enter
        error = (error & ~enter) | to_upper
    return DualSolution(alpha, intercept, False, max_iter)


def _equality_qp_step(
    Q_ff: np.ndarray, y_f: np.ndarray, g_f: np.ndarray
) -> tuple[np.ndarray, float, bool]:
    """Step of the equality-constrained subproblem over the free set ``F``.

    Solves ``[[Q_FF, y_F], [y_F^T, 0]] [p; nu] = [-g_F; 0]``. When that system is singular
    and inconsistent the subproblem is unbounded below; the least-squares residual is then a
    direction ``z`` with ``Q_FF z = -nu y_F``, ``y_F^T z = 0`` and ``g_F^T z < 0`` (zero
    curvature, descent), returned with ``bounded = False``.
    """
    size = y_f.size
    system = bordered_kkt_matrix(Q_ff, y_f)
    rhs = np.append(-g_f, 0.0)
    solution = scipy.linalg.lstsq(system, rhs, cond=1e-12)[0]
    residual = rhs - system @ solution
    if np.linalg.norm(residual) > 1e-9 * (1.0 + np.linalg.norm(rhs)):
        return residual[:size], float("nan"), False
    return solution[:size], float(solution[size]), True


def solve_dual_primal_active_set(
    K: np.ndarray,
    y: np.ndarray,
    upper: np.ndarray,
    alpha: np.ndarray,
    *,
    max_iter: int = 1000,
) -> DualSolution:
    """Solve the SVM dual by a primal (feasible) active-set method from a feasible ``alpha``.

    Robust where :func:`solve_dual_active_set` is not (degenerate, singular margin sets of
    linear kernels): every iteration keeps ``alpha`` feasible and does not increase the dual
    objective. Variables on a bound form the working set; the others take the step of the
    equality-constrained subproblem (or its descent direction when it is unbounded), cut by
    a ratio test that adds the first blocking variable to the working set. With a zero step
    the multipliers (the margins ``m_i``) of the working set are checked and the most
    violating variable is released; when none violates, ``alpha`` is optimal.

    Parameters
    ----------
    K, y, upper
        As in :func:`solve_dual_active_set`.
    alpha : ndarray of shape (n,)
        Feasible start: ``0 <= alpha <= upper`` and ``y^T alpha = 0`` (e.g. the optimum for
        a smaller box).
    max_iter : int
        Iteration limit (then ``converged`` is False).
    """
    alpha = np.clip(np.asarray(alpha, dtype=np.float64), 0.0, upper)
    tol = BOUND_TOL * np.maximum(upper, 1e-300)
    at_bound = (alpha <= tol) | (alpha >= upper - tol)
    intercept = 0.0
    for iteration in range(1, max_iter + 1):
        free = np.flatnonzero(~at_bound)
        gradient = y * (K @ (alpha * y)) - 1.0  # g = Q alpha - 1
        if free.size:
            Q_ff = margin_hessian(K, y, free)
            step, nu, bounded = _equality_qp_step(Q_ff, y[free], gradient[free])
        else:
            step, nu, bounded = np.zeros(0), float("nan"), True
        if bounded and np.abs(step).max(initial=0.0) <= 1e-12 * (1.0 + np.abs(alpha).max()):
            if free.size:
                intercept = nu
            released = _most_violating_bound(gradient + y * intercept, alpha, upper, at_bound)
            if released is None:
                return DualSolution(alpha, intercept, free.size > 0, iteration)
            at_bound[released] = False
            continue
        length, blocking = _ratio_test(alpha[free], step, upper[free], bounded)
        alpha[free] += length * step
        if blocking is not None:
            index = free[blocking]
            alpha[index] = 0.0 if step[blocking] < 0 else upper[index]
            at_bound[index] = True
    return DualSolution(alpha, intercept, False, max_iter)


def _ratio_test(
    alpha_f: np.ndarray, step: np.ndarray, upper_f: np.ndarray, bounded: bool
) -> tuple[float, int | None]:
    """Longest feasible step length (at most 1 for a bounded step) and the blocking index."""
    with np.errstate(divide="ignore", invalid="ignore"):
        limits = np.where(
            step < 0, -alpha_f / step, np.where(step > 0, (upper_f - alpha_f) / step, np.inf)
        )
    blocking = int(np.argmin(limits)) if limits.size else None
    if blocking is None or (bounded and limits[blocking] >= 1.0):
        return 1.0, None
    return float(max(limits[blocking], 0.0)), blocking


def _most_violating_bound(
    margins: np.ndarray, alpha: np.ndarray, upper: np.ndarray, at_bound: np.ndarray
) -> int | None:
    """Working-set variable whose margin violates its bound's KKT condition the most."""
    movable = at_bound & (upper > 0)
    at_zero = movable & (alpha <= BOUND_TOL * upper)
    at_upper = movable & ~at_zero
    violation = np.where(at_zero, -margins, 0.0) + np.where(at_upper, margins, 0.0)
    worst = int(np.argmax(violation))
    return worst if violation[worst] > MARGIN_TOL else None
