"""Support vector machines in the dual, with exact KKT solutions and their derivatives.

Both SVMs minimise ``1/2 ||w||^2 + C sum_i s_i max(0, 1 - y_i f(x_i))`` with
``f(x) = sum_i alpha_i y_i k(x_i, x) + b`` and signed labels ``y`` in {-1, +1}. The dual is

    min_alpha 1/2 alpha^T Q alpha - 1^T alpha   s.t.  y^T alpha = 0,  0 <= alpha_i <= u_i = C s_i,

with ``Q_ij = y_i y_j k(x_i, x_j)``. At the optimum, with margins ``m_i = y_i f(x_i) - 1``,
every point is in one of three sets: reserve ``R`` (``alpha_i = 0``, ``m_i >= 0``), margin
support vectors ``S`` (``0 < alpha_i < u_i``, ``m_i = 0``) and error vectors ``E``
(``alpha_i = u_i``, ``m_i <= 0``). Given the sets, ``alpha_S`` and ``b`` solve the KKT system

    [[Q_SS, y_S], [y_S^T, 0]] [alpha_S; b] = [1 - Q_SE u_E; -y_E^T u_E].

This module

- fits with libsvm (scikit-learn ``SVC``, precomputed kernel; points with zero weight are
  dropped by us and indices mapped back, since libsvm drops them and renumbers ``support_``),
- polishes the result with a primal-dual active-set iteration on the KKT system, which makes
  the optimum exact (and restarts cheaply from a nearby solution: the incremental path),
- differentiates the optimum with respect to a sample weight (incremental SVM, Cauwenberghs
  & Poggio): a weighted point ``j`` that violates the margin is an error vector with
  ``alpha_j = C s_j``, so ``d alpha_j / d s_j = C``; the margin support vectors and the bias
  re-solve the KKT system ``[[Q_SS, y_S], [y_S^T, 0]] [d alpha_S; d b] = -C [Q_Sj; y_j]``.

The KKT solve is kernel-agnostic; :class:`LinearSVM` and :class:`RBFSVM` only differ in the
kernel (and the linear model's explicit primal weights).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import scipy.linalg
from sklearn.svm import SVC

from backdoor_curves.classifiers.base import BinaryClassifier, WeightSensitivity, check_fit_input
from backdoor_curves.classifiers.linalg import CholeskyFactor, damped_cholesky
from backdoor_curves.classifiers.onesided import (
    kkt_residual,
    one_sided_derivative,
    split_by_direction,
)

__all__ = [
    "DualSolution",
    "KernelSVM",
    "LinearSVM",
    "RBFSVM",
    "kkt_factor",
    "solve_dual_active_set",
    "solve_dual_primal_active_set",
    "kkt_violation",
]

#: Relative tolerance deciding whether ``alpha_i`` sits on a bound of its box.
BOUND_TOL = 1e-9
#: Absolute tolerance on margins ``m_i = y_i f(x_i) - 1`` in the KKT check.
MARGIN_TOL = 1e-9
#: Status of a derivative computed by the one-sided rule at a degenerate margin set.
ONE_SIDED_STATUS = "one-sided: right derivative at a degenerate margin set"
#: libsvm tolerance of the second cold attempt when the polish of the first one fails.
POLISH_RETRY_TOL = 1e-10


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
        self.condition_number = 1.0 / rcond if rcond > 0 else np.inf
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
        free, bounded = np.flatnonzero(margin), np.flatnonzero(error)
        alpha = np.where(error, upper, 0.0)
        Q_ss = np.outer(y[free], y[free]) * K[np.ix_(free, free)]
        rhs_s = 1.0 - y[free] * (K[np.ix_(free, bounded)] @ (upper[bounded] * y[bounded]))
        rhs_eq = -float(y[bounded] @ upper[bounded])
        kkt = kkt_factor(Q_ss, y[free])
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
    system = np.zeros((size + 1, size + 1))
    system[:size, :size] = Q_ff
    system[:size, size] = y_f
    system[size, :size] = y_f
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
            Q_ff = np.outer(y[free], y[free]) * K[np.ix_(free, free)]
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


class KernelSVM(BinaryClassifier):
    """Hinge-loss SVM solved in the dual (kernel-agnostic base class).

    Parameters
    ----------
    C : float
        Inverse regularisation strength (> 0); the box of point ``i`` is ``[0, C s_i]``.
    tol : float
        libsvm stopping tolerance (the active-set polish makes the result exact anyway).
    polish : bool
        Polish libsvm's solution into an exact KKT point (needed for derivatives).
    warm_start : bool
        On refit, start the active-set solver from the previous solution's sets (the
        incremental path); libsvm is used only if that does not converge.

    Attributes
    ----------
    alpha_ : ndarray of shape (n_samples,)
        Dual variables over the full training index set (zero-weight points included).
    dual_coef_ : ndarray of shape (n_samples,)
        ``alpha_i y_i`` over the full training index set.
    intercept_ : float
        Bias ``b``.
    upper_ : ndarray of shape (n_samples,)
        Box bounds ``C s_i`` used in the fit.
    support_ : ndarray of int
        Indices (into the training set) of the support vectors.
    support_vectors_ : ndarray of shape (n_support, n_features)
    exact_ : bool
        Whether the KKT conditions were verified to ``MARGIN_TOL``.
    solver_ : str
        ``"active-set"`` or ``"primal-active-set"`` (warm starts), ``"libsvm+active-set"``
        or ``"libsvm"`` (cold fits).
    """

    loss_name: ClassVar[str] = "hinge"

    def __init__(
        self, C: float = 1.0, *, tol: float = 1e-3, polish: bool = True, warm_start: bool = False
    ) -> None:
        super().__init__(C)
        self.tol = tol
        self.polish = polish
        self.warm_start = warm_start

    _on_path = False  # True while beta_path refits (small warm-start steps)

    def kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Kernel matrix ``k(A_i, B_j)``, shape (len(A), len(B))."""
        raise NotImplementedError

    def beta_path(
        self,
        X: np.ndarray,
        y: np.ndarray,
        is_poison: np.ndarray,
        betas: Sequence[float],
        *,
        gram: np.ndarray | None = None,
    ) -> Iterator[Self]:
        """Warm-started path (see :meth:`BinaryClassifier.beta_path`).

        While it runs, a failed primal-dual restart continues with the primal active-set
        method instead of a cold fit.
        """
        self._on_path = True
        try:
            yield from super().beta_path(X, y, is_poison, betas, gram=gram)
        finally:
            self._on_path = False

    # --- fitting ---------------------------------------------------------------------------
    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        *,
        gram: np.ndarray | None = None,
    ) -> Self:
        """Fit on ``X`` (n, d), binary ``y`` and weights ``s`` (>= 0).

        ``gram`` optionally passes the precomputed kernel matrix ``k(X, X)`` (n, n).
        """
        self._validate_hyperparameters()
        X, signed, weight = check_fit_input(X, y, sample_weight)
        K = self._training_gram(X, gram)
        upper = self.C * weight
        solution, solver = None, "active-set"
        if self.warm_start and hasattr(self, "alpha_") and self.alpha_.shape == upper.shape:
            solution, solver = self._fit_warm(K, signed, upper)
        if solution is None or not solution.converged:
            solution, solver = self._fit_cold(K, signed, weight, upper)
        self._set_solution(X, signed, upper, solution, solver)
        return self

    def _fit_warm(
        self, K: np.ndarray, signed: np.ndarray, upper: np.ndarray
    ) -> tuple[DualSolution, str]:
        """Restart from the previous optimum.

        First the primal-dual active set from the previous sets (fast, one to three solves).
        On a beta path (small steps), if that fails on a degenerate margin set and the
        previous ``alpha`` is feasible for the new box (a growing poison weight), the primal
        active-set method continues from it; it moves one variable per iteration, so for
        far restarts such as a C sweep a cold fit is cheaper and is used instead.
        """
        margin, error = dual_sets(self.alpha_, self.upper_)
        solution = solve_dual_active_set(K, signed, upper, margin, error, intercept=self.intercept_)
        if solution.converged:
            return solution, "active-set"
        if not self._on_path:
            # Far restarts (a C sweep) would need many single moves: a cold fit is cheaper.
            return solution, "active-set"
        previous = self.alpha_
        feasible = np.all(previous <= upper * (1.0 + BOUND_TOL)) and abs(
            float(signed @ previous)
        ) <= BOUND_TOL * max(float(upper.sum()), 1.0)
        if feasible:
            solution = solve_dual_primal_active_set(K, signed, upper, previous)
            if solution.converged and kkt_violation(K, signed, upper, solution) <= MARGIN_TOL:
                return solution, "primal-active-set"
        return solution, "active-set"

    def _fit_cold(
        self, K: np.ndarray, signed: np.ndarray, weight: np.ndarray, upper: np.ndarray
    ) -> tuple[DualSolution, str]:
        """libsvm, then the active-set polish from its sets.

        If the polish fails from libsvm's ``tol`` solution (degenerate margin sets, e.g. a
        linear kernel in few dimensions), libsvm is rerun at ``POLISH_RETRY_TOL``, whose sets
        are then almost always the optimal ones; if that fails too, libsvm's solution is
        kept and ``exact_`` is False.
        """
        solution = self._fit_libsvm(K, signed, weight, self.tol)
        if not self.polish:
            return solution, "libsvm"
        for attempt, tol in enumerate((self.tol, POLISH_RETRY_TOL)):
            if attempt:
                solution = self._fit_libsvm(K, signed, weight, min(tol, self.tol))
            margin, error = dual_sets(solution.alpha, upper)
            polished = solve_dual_active_set(
                K, signed, upper, margin, error, intercept=solution.intercept
            )
            if polished.converged:
                return polished, "libsvm+active-set"
        return solution, "libsvm"

    def _training_gram(self, X: np.ndarray, gram: np.ndarray | None) -> np.ndarray:
        if gram is None:
            return self.kernel(X, X)
        gram = np.asarray(gram, dtype=np.float64)
        if gram.shape != (X.shape[0], X.shape[0]):
            raise ValueError(f"gram has shape {gram.shape}, expected {(X.shape[0],) * 2}")
        return gram

    def _fit_libsvm(
        self, K: np.ndarray, signed: np.ndarray, weight: np.ndarray, tol: float
    ) -> DualSolution:
        # libsvm silently drops zero-weight samples and numbers support_ in the reduced set,
        # so drop them ourselves and map the indices back.
        keep = np.flatnonzero(weight > 0)
        svc = SVC(C=self.C, kernel="precomputed", tol=tol)
        svc.fit(K[np.ix_(keep, keep)], signed[keep] > 0, sample_weight=weight[keep])
        alpha = np.zeros(signed.size)
        alpha[keep[svc.support_]] = np.abs(svc.dual_coef_.ravel())
        return DualSolution(alpha, float(svc.intercept_[0]), False, 0)

    def _set_solution(
        self,
        X: np.ndarray,
        signed: np.ndarray,
        upper: np.ndarray,
        solution: DualSolution,
        solver: str,
    ) -> None:
        self.alpha_ = solution.alpha
        self.dual_coef_ = solution.alpha * signed
        self.intercept_ = solution.intercept
        self.upper_ = upper
        self.support_ = np.flatnonzero(solution.alpha > 0)
        self.support_vectors_ = X[self.support_]
        self.exact_ = solution.converged
        self.solver_ = solver
        # The final KKT factor, reused by weight_sensitivity when its margin set matches.
        # (keyed by the set the factor was built over, not by the free set of alpha).
        self._kkt = (solution.kkt_set, solution.kkt)

    # --- predictions -----------------------------------------------------------------------
    def decision_from_gram(self, K_eval: np.ndarray) -> np.ndarray:
        """``f`` from a precomputed kernel ``K_eval = k(X_eval, X_train)`` (n_eval, n_train)."""
        return K_eval[:, self.support_] @ self.dual_coef_[self.support_] + self.intercept_

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """``f(x) = sum_i alpha_i y_i k(x_i, x) + b``, shape (n,)."""
        K = self.kernel(np.asarray(X, dtype=np.float64), self.support_vectors_)
        return K @ self.dual_coef_[self.support_] + self.intercept_

    def weight_norm_sq(self) -> float:
        """``||w||^2 = (alpha y)^T K (alpha y)`` (in the RKHS for non-linear kernels)."""
        return self.weight_inner(self)

    def weight_inner(self, other: Self) -> float:
        """``<w_self, w_other> = (alpha y)_self^T K(X_self, X_other) (alpha y)_other``."""
        K = self.kernel(self.support_vectors_, other.support_vectors_)
        return float(self.dual_coef_[self.support_] @ K @ other.dual_coef_[other.support_])

    # --- derivatives -----------------------------------------------------------------------
    def weight_sensitivity(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        X_eval: np.ndarray,
        directions: np.ndarray,
        *,
        gram: np.ndarray | None = None,
        eval_gram: np.ndarray | None = None,
    ) -> WeightSensitivity:
        """``d f(X_eval) / d s_j`` at the fitted optimum (incremental-SVM derivative).

        Direction ``j`` moves the solution only if ``j`` is (or enters as) an error vector:
        ``alpha_j = u_j`` with ``u_j > 0``, or ``u_j = 0`` and ``y_j f(x_j) < 1``. Then
        ``d alpha_j / d s_j = C`` and the margin support vectors and the bias follow the KKT
        system of the module docstring. When no dual variable is free (the bias is then
        not unique) or a point with ``alpha_i`` on a bound lies on the margin (the active
        set may change right at this point), the derivative is the right derivative along
        all ``directions`` together, by the one-sided rule of
        :mod:`backdoor_curves.classifiers.onesided` (status ``ONE_SIDED_STATUS``).

        ``gram`` (``k(X, X)``) and ``eval_gram`` (``k(X_eval, X)``) may pass precomputed
        kernel matrices.
        """
        X, signed, weight = check_fit_input(X, y, sample_weight)
        K = self._training_gram(X, gram)
        directions = np.asarray(directions, dtype=np.intp)
        X_eval = np.asarray(X_eval, dtype=np.float64)
        decision = np.zeros((X_eval.shape[0], directions.size))
        m = self._margins_from_gram(K, signed)
        free, _ = dual_sets(self.alpha_, self.upper_)
        if not free.any():
            return self._one_sided_sensitivity(K, signed, X, X_eval, directions, eval_gram)
        free = np.flatnonzero(free)
        _, error = dual_sets(self.alpha_, self.upper_)
        entering = error[directions] | ((self.upper_[directions] == 0) & (m[directions] < 0))
        moving = directions[entering]
        kkt = self._kkt_for(free, K, signed)
        rhs_s = -self.C * np.outer(signed[free], signed[moving]) * K[np.ix_(free, moving)]
        if self._on_margin_at_bound(m).any():
            return self._one_sided_sensitivity(K, signed, X, X_eval, directions, eval_gram)
        d_alpha, d_intercept = kkt.solve(rhs_s, -self.C * signed[moving])
        residual = kkt_residual(
            np.outer(signed[free], signed[free]) * K[np.ix_(free, free)],
            signed[free],
            (d_alpha, d_intercept),
            (rhs_s, -self.C * signed[moving]),
        )
        decision[:, entering] = (
            self._eval_kernel(X_eval, X, free, eval_gram) @ (d_alpha * signed[free, None])
            + self._eval_kernel(X_eval, X, moving, eval_gram) * (self.C * signed[moving])
            + d_intercept
        )
        return WeightSensitivity(decision, kkt.damping, kkt.condition_number, residual=residual)

    def _eval_kernel(
        self, X_eval: np.ndarray, X: np.ndarray, columns: np.ndarray, eval_gram: np.ndarray | None
    ) -> np.ndarray:
        """``k(X_eval, X[columns])``, sliced from ``eval_gram`` when it is given."""
        if eval_gram is not None:
            return eval_gram[:, columns]
        return self.kernel(X_eval, X[columns])

    def _kkt_for(self, free: np.ndarray, K: np.ndarray, signed: np.ndarray) -> KKTFactor:
        """Return the KKT factor over ``free``: the fit's own when its margin set is the same."""
        fit_free, fit_kkt = getattr(self, "_kkt", (None, None))
        if fit_kkt is not None and fit_free is not None and np.array_equal(fit_free, free):
            return fit_kkt
        return kkt_factor(
            np.outer(signed[free], signed[free]) * K[np.ix_(free, free)], signed[free]
        )

    def _margins_from_gram(self, K: np.ndarray, signed: np.ndarray) -> np.ndarray:
        return dual_margins(K, signed, self.alpha_, self.intercept_)

    def _on_margin_at_bound(self, m: np.ndarray) -> np.ndarray:
        """Points on the margin (``|m_i| <= MARGIN_TOL``) whose ``alpha_i`` is on a bound."""
        margin, _ = dual_sets(self.alpha_, self.upper_)
        return ~margin & (np.abs(m) <= MARGIN_TOL)

    def _one_sided_sensitivity(
        self,
        K: np.ndarray,
        signed: np.ndarray,
        X: np.ndarray,
        X_eval: np.ndarray,
        directions: np.ndarray,
        eval_gram: np.ndarray | None,
    ) -> WeightSensitivity:
        """Right derivative along all ``directions`` together (degenerate margin sets).

        See :mod:`backdoor_curves.classifiers.onesided`; column ``j`` is the share of
        direction ``j`` at the active set the joint direction selects, so the columns sum
        to the joint derivative. ``offset`` carries the right-limit jump ``b(0+) - b``.
        """
        d_upper = np.zeros(signed.size)
        d_upper[directions] = self.C
        result = one_sided_derivative(K, signed, self.alpha_, self.upper_, self.intercept_, d_upper)
        decision = np.full((X_eval.shape[0], directions.size), np.nan)
        if not result.converged:
            status = "undefined: the one-sided rule found no consistent active set"
            return WeightSensitivity(decision, 0.0, result.condition_number, status)
        d_alpha, d_intercept = split_by_direction(K, signed, result, directions)
        rows = np.flatnonzero(np.any(d_alpha != 0.0, axis=1))
        decision = (
            self._eval_kernel(X_eval, X, rows, eval_gram) @ (d_alpha[rows] * signed[rows, None])
            + d_intercept
        )
        return WeightSensitivity(
            decision,
            0.0,
            result.condition_number,
            ONE_SIDED_STATUS,
            offset=result.intercept - self.intercept_,
            residual=result.residual,
        )


class LinearSVM(KernelSVM):
    """Linear SVM, ``k(a, b) = a . b``; exposes the primal weights ``coef_ = X^T (alpha y)``.

    See :class:`KernelSVM` for the parameters.
    """

    def kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Linear kernel ``A B^T``."""
        return A @ B.T

    def _set_solution(
        self,
        X: np.ndarray,
        signed: np.ndarray,
        upper: np.ndarray,
        solution: DualSolution,
        solver: str,
    ) -> None:
        """Store the dual solution and the primal weights ``w = X^T (alpha y)``."""
        super()._set_solution(X, signed, upper, solution, solver)
        self.coef_ = self.support_vectors_.T @ self.dual_coef_[self.support_]

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """``f(x) = w . x + b``, shape (n,)."""
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_

    def input_gradient(self, X: np.ndarray) -> np.ndarray:
        """``d f / d x = w`` for every row, shape (n, n_features)."""
        return np.broadcast_to(self.coef_, np.shape(X)).copy()

    def weight_inner(self, other: Self) -> float:
        """``w_self . w_other`` in input space."""
        return float(self.coef_ @ other.coef_)


class RBFSVM(KernelSVM):
    """RBF-kernel SVM, ``k(a, b) = exp(-gamma ||a - b||^2)``.

    Parameters
    ----------
    C : float
        Inverse regularisation strength (> 0).
    gamma : float
        Kernel width (> 0).
    **kwargs
        See :class:`KernelSVM`.
    """

    def __init__(self, C: float = 1.0, gamma: float = 1.0, **kwargs: object) -> None:
        super().__init__(C, **kwargs)  # type: ignore[arg-type]  # forwarded keyword options
        self.gamma = gamma

    def _validate_hyperparameters(self) -> None:
        super()._validate_hyperparameters()
        if not (np.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"gamma must be a positive finite number, got {self.gamma!r}")

    def kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """RBF kernel ``exp(-gamma ||a - b||^2)``."""
        return rbf_kernel(A, B, self.gamma)

    def input_gradient(self, X: np.ndarray) -> np.ndarray:
        """``d f / d x = -2 gamma sum_i alpha_i y_i k(x_i, x) (x - x_i)``, shape (n, d)."""
        X = np.asarray(X, dtype=np.float64)
        weighted = self.kernel(X, self.support_vectors_) * self.dual_coef_[self.support_]
        return (
            -2.0
            * self.gamma
            * (weighted.sum(axis=1)[:, None] * X - weighted @ self.support_vectors_)
        )


def squared_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances, shape (len(A), len(B)), clipped at 0."""
    sq = np.einsum("ij,ij->i", A, A)[:, None] + np.einsum("ij,ij->i", B, B)[None, :]
    return np.maximum(sq - 2.0 * (A @ B.T), 0.0)


def rbf_kernel(A: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    """``exp(-gamma ||a - b||^2)`` for all pairs of rows, shape (len(A), len(B))."""
    return np.exp(-gamma * squared_distances(A, B))
