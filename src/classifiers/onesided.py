"""The one-sided (right) derivative of an SVM optimum at a degenerate margin set.

Notation as in :mod:`backdoor_curves.classifiers.svm`: the dual is

    min_alpha 1/2 alpha^T Q alpha - 1^T alpha   s.t.  y^T alpha = 0,  0 <= alpha_i <= u_i,

with ``Q_ij = y_i y_j k(x_i, x_j)``, margins ``m_i = y_i f(x_i) - 1`` and ``f = K (alpha y) + b``.
The box grows along a direction: ``u(beta) = u + beta du`` (``du_j = C`` for the poisons,
whose ``u_j`` is 0 at ``beta = 0``). When every point is clearly in one of the sets R, S, E
the derivative is the two-sided incremental-SVM one. It is only one-sided when

1. the bias is not unique: with no free support vector (``S`` empty) every ``b`` in an
   interval ``[b_lo, b_hi]`` keeps the KKT sign conditions. For ``beta > 0`` the optimum
   minimises the poisons' hinge loss over the ``beta = 0`` solution set (the perturbation
   selects among the unperturbed optima), so the right limit is

       b(0+) = argmax_{b in [b_lo, b_hi]} sum_j du_j min(0, m_j(b)),

   a concave piecewise-linear maximisation whose optimum lies at an end of the interval or
   at a kink ``m_j(b) = 0``. ``f(0+) - f(0) = b(0+) - b`` is a jump of the decision
   function, not part of the slope: the slope is the right derivative at ``f(0+)``;
2. points lie on the margin (``m_i = 0`` at ``b(0+)``) with ``alpha_i`` on a bound of its
   box (the set ``D``). Their derivatives ``d_i`` obey complementarity with the margin
   derivatives ``dm = Q d + y db``: ``d_i`` strictly inside ``[lo_i, hi_i]`` forces
   ``dm_i = 0``; ``d_i = lo_i`` needs ``dm_i >= 0`` and ``d_i = hi_i`` needs ``dm_i <= 0``,
   where ``lo_i = 0`` at ``alpha_i = 0`` (else ``-inf``) and ``hi_i = du_i`` at
   ``alpha_i = u_i`` (else ``+inf``). These are the KKT conditions of the convex QP
   ``min 1/2 d^T Q d`` over that box with ``y^T d = 0``, so ``Q d`` (hence ``df``) and
   ``db`` are unique.

The small complementarity problem is solved by the incremental-SVM rule: keep the members of
``D`` on the margin ("tight"), solve the KKT system of the free set
``F = S + tight`` for ``d_F`` and ``db``, move every tight point whose ``d_i`` leaves its box
to that bound and every bounded point whose ``dm_i`` has the wrong sign back to tight, and
repeat (one move at a time once a configuration repeats) until the conditions hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from backdoor_curves.classifiers.dual import bordered_kkt_matrix, margin_hessian
from backdoor_curves.classifiers.linalg import reproducible_estimate

__all__ = [
    "OneSidedDerivative",
    "bias_interval",
    "kkt_residual",
    "one_sided_derivative",
    "right_limit_intercept",
    "split_by_direction",
]

#: Absolute tolerance on margins deciding that a point lies on the margin.
ON_MARGIN_TOL = 1e-9
#: Relative tolerance on bounds (``alpha_i`` at 0 or ``u_i``).
AT_BOUND_TOL = 1e-9
#: Relative residual above which a (least-squares) KKT solve counts as inconsistent.
RESIDUAL_TOL = 1e-8


@dataclass(frozen=True)
class OneSidedDerivative:
    """Right derivative of an SVM optimum along a growth ``du`` of the box.

    Attributes
    ----------
    d_alpha : ndarray of shape (n_samples,)
        ``d alpha / d beta`` (one minimiser when ``Q`` is singular; ``Q d_alpha`` is unique).
    d_intercept : float
        ``d b / d beta``.
    intercept : float
        Right-limit bias ``b(0+)`` (equal to the fitted bias unless ``b`` was not unique).
    free : ndarray of int
        Free set ``F`` of the final KKT system (margin support vectors and tight points).
    fixed : ndarray of shape (n_samples,)
        Fixed part of ``d_alpha`` (the points outside ``F``): ``du_i`` for points that enter
        (or stay in) ``E``, the bound for bounded members of ``D``, 0 else.
    residual : float
        Relative residual of the final KKT solve (least squares when it is singular).
    condition_number : float
        2-norm condition number of the final KKT matrix (rounded by
        :func:`~backdoor_curves.classifiers.linalg.reproducible_estimate`).
    n_iter : int
        Active-set iterations.
    converged : bool
        Whether every complementarity condition holds.
    """

    d_alpha: np.ndarray
    d_intercept: float
    intercept: float
    free: np.ndarray
    fixed: np.ndarray
    residual: float
    condition_number: float
    n_iter: int
    converged: bool


def bias_interval(
    f_no_bias: np.ndarray, y: np.ndarray, alpha: np.ndarray, upper: np.ndarray
) -> tuple[float, float]:
    """Interval of biases ``b`` keeping the KKT signs when no ``alpha_i`` is free.

    Reserve points (``alpha_i = 0 < u_i``) need ``y_i (g_i + b) >= 1`` and error vectors
    (``alpha_i = u_i > 0``) need ``y_i (g_i + b) <= 1``, with ``g = K (alpha y)``.
    """
    active = upper > 0
    at_zero = active & (alpha <= AT_BOUND_TOL * upper)
    at_upper = active & ~at_zero
    # y_i b >= 1 - y_i g_i on at_zero and y_i b <= 1 - y_i g_i on at_upper; y_i = +-1.
    edge = y - f_no_bias  # (1 - y_i g_i) / y_i
    lower = (at_zero & (y > 0)) | (at_upper & (y < 0))
    upper_side = (at_zero & (y < 0)) | (at_upper & (y > 0))
    return float(np.max(edge[lower], initial=-np.inf)), float(
        np.min(edge[upper_side], initial=np.inf)
    )


def right_limit_intercept(
    f_no_bias: np.ndarray, y: np.ndarray, d_upper: np.ndarray, interval: tuple[float, float]
) -> float:
    """``b(0+) = argmax_{b in interval} sum_j du_j min(0, y_j (g_j + b) - 1)``.

    The objective is concave and piecewise linear; its maximum is attained at an end of the
    interval or at a kink ``b = y_j - g_j``. Among equal maxima (a flat top, where the
    first-order selection does not decide) the one closest to the middle of the flat top is
    returned, which is then decided by the second-order (KKT) step only through ``D``.

    Raises
    ------
    ValueError
        If the interval is empty or unbounded on a side where the objective does not
        decrease (no finite limit).
    """
    lo, hi = interval
    if lo > hi + ON_MARGIN_TOL:
        raise ValueError(f"empty bias interval [{lo:.6g}, {hi:.6g}]")
    moving = np.flatnonzero(d_upper > 0)
    kinks = y[moving] - f_no_bias[moving]
    candidates = np.concatenate([[lo, hi], kinks[(kinks > lo) & (kinks < hi)]])
    candidates = candidates[np.isfinite(candidates)]
    if candidates.size == 0:
        raise ValueError("the bias is unbounded and no poison pins it")
    margins = y[moving, None] * (f_no_bias[moving, None] + candidates[None, :]) - 1.0
    value = d_upper[moving] @ np.minimum(margins, 0.0)
    best = value >= value.max() - ON_MARGIN_TOL * max(1.0, float(np.abs(value).max()))
    tops = np.sort(candidates[best])
    return float(0.5 * (tops[0] + tops[-1])) if tops.size > 1 else float(tops[0])


def _kkt_solve(
    K: np.ndarray, y: np.ndarray, free: np.ndarray, fixed_d: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Solve ``Q_FF d_F + y_F db = -Q_F. fixed_d``, ``y_F^T d_F = -y^T fixed_d``.

    ``fixed_d`` has shape (n,) or (n, k) (one right-hand side per column). Least squares
    (minimum norm) when the bordered matrix is singular. Returns ``d_F`` ((|F|,) or
    (|F|, k)), ``db`` (() or (k,)), the largest relative residual and the 2-norm condition
    number.
    """
    size = free.size
    system = bordered_kkt_matrix(margin_hessian(K, y, free), y[free])
    columns = fixed_d.reshape(y.size, -1)
    rhs = np.empty((size + 1, columns.shape[1]))
    rhs[:size] = -y[free, None] * (K[free] @ (columns * y[:, None]))
    rhs[size] = -(y @ columns)
    solution, _, _, singular_values = scipy.linalg.lstsq(system, rhs, cond=1e-12)
    residual = np.linalg.norm(system @ solution - rhs, axis=0) / (1.0 + np.linalg.norm(rhs, axis=0))
    largest = float(singular_values[0])
    condition = reproducible_estimate(float(singular_values[-1]) / largest if largest > 0 else 0.0)
    shape = (size,) + fixed_d.shape[1:]
    return (
        solution[:size].reshape(shape),
        solution[size].reshape(fixed_d.shape[1:]),
        float(residual.max(initial=0.0)),
        condition,
    )


def one_sided_derivative(
    K: np.ndarray,
    y: np.ndarray,
    alpha: np.ndarray,
    upper: np.ndarray,
    intercept: float,
    d_upper: np.ndarray,
    *,
    max_iter: int = 200,
) -> OneSidedDerivative:
    """Right derivative of the SVM optimum as the box grows by ``du`` (module docstring).

    Parameters
    ----------
    K : ndarray of shape (n, n)
        Training kernel matrix.
    y : ndarray of shape (n,)
        Signed labels in {-1, +1}.
    alpha : ndarray of shape (n,)
        An exact dual optimum for the box ``[0, upper]``.
    upper : ndarray of shape (n,)
        Box bounds ``u_i = C s_i``.
    intercept : float
        Its bias.
    d_upper : ndarray of shape (n,)
        Growth of the box, ``du_i >= 0`` (``C`` for each poison of the slope).
    max_iter : int
        Iteration limit of the active-set rule.

    Returns
    -------
    OneSidedDerivative
    """
    f_no_bias = K @ (alpha * y)
    at_zero = alpha <= AT_BOUND_TOL * upper
    at_upper = (alpha >= upper * (1.0 - AT_BOUND_TOL)) & ~(at_zero & (upper > 0))
    if not (upper > 0)[~at_zero & ~at_upper].any():
        intercept = right_limit_intercept(
            f_no_bias, y, d_upper, bias_interval(f_no_bias, y, alpha, upper)
        )
    m = y * (f_no_bias + intercept) - 1.0
    lo = np.where(at_zero, 0.0, -np.inf)
    hi = np.where(at_upper, d_upper, np.inf)
    movable = (upper > 0) | (d_upper > 0)
    # A value strictly inside its box is on the margin at an optimum, whatever rounding left
    # in its margin (a path's stepped optimum carries some).
    interior = ~at_zero & ~at_upper
    on_margin = movable & ((np.abs(m) <= ON_MARGIN_TOL) | interior)
    # Off the margin the sign of m fixes d: m > 0 -> lower bound, m < 0 -> upper bound.
    design = np.where(movable & ~on_margin & (m < 0), hi, 0.0)
    degenerate = on_margin & (np.isfinite(lo) | np.isfinite(hi))
    # State of each point of D: 0 tight (free), -1 at lo, +1 at hi.
    state = np.zeros(y.size, dtype=np.int8)
    seen: set[bytes] = set()
    single = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        fixed_d = design.copy()
        fixed_d[degenerate & (state < 0)] = lo[degenerate & (state < 0)]
        fixed_d[degenerate & (state > 0)] = hi[degenerate & (state > 0)]
        free = np.flatnonzero(on_margin & (state == 0))
        d_free, d_b_arr, residual, condition = _kkt_solve(K, y, free, fixed_d)
        d_b = float(d_b_arr)
        d = fixed_d.copy()
        d[free] = d_free
        dm = y * (K @ (d * y) + d_b)
        scale = max(1.0, float(np.abs(d).max(initial=0.0)))
        tol = 1e-9 * scale
        below = degenerate & (state == 0) & (d < lo - tol)
        above = degenerate & (state == 0) & (d > hi + tol)
        release = degenerate & (((state < 0) & (dm < -tol)) | ((state > 0) & (dm > tol)))
        if not (below.any() or above.any() or release.any()):
            return OneSidedDerivative(
                d, d_b, intercept, free, fixed_d, residual, condition, n_iter,
                residual <= RESIDUAL_TOL,
            )  # fmt: skip
        key = state.tobytes()
        single = single or key in seen
        seen.add(key)
        if single:
            amount = np.where(below, lo - d, 0.0) + np.where(above, d - hi, 0.0)
            amount += np.where(release, np.abs(dm), 0.0)
            keep = np.zeros_like(below)
            keep[np.argmax(amount)] = True
            below, above, release = below & keep, above & keep, release & keep
        state[below] = -1
        state[above] = 1
        state[release] = 0
    return OneSidedDerivative(
        d, d_b, intercept, free, fixed_d, residual, condition, n_iter, False
    )  # fmt: skip


def split_by_direction(
    K: np.ndarray, y: np.ndarray, result: OneSidedDerivative, directions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Share of each direction ``j`` in a one-sided derivative, at its final active set.

    With ``F`` and the bounded points frozen as ``result`` found them, the KKT system is
    linear in the fixed values, so the response to the fixed value of ``j`` alone (column
    ``j``) is well defined and the columns sum to ``result.d_alpha`` and
    ``result.d_intercept``. Fixed values of points that are not directions (0 for the
    usual clean points) are not attributed.

    Returns
    -------
    d_alpha : ndarray of shape (n_samples, n_directions)
    d_intercept : ndarray of shape (n_directions,)
    """
    directions = np.asarray(directions, dtype=np.intp)
    fixed = np.zeros((y.size, directions.size))
    fixed[directions, np.arange(directions.size)] = result.fixed[directions]
    d_free, d_b, _, _ = _kkt_solve(K, y, result.free, fixed)
    fixed[result.free] = d_free
    return fixed, np.asarray(d_b)


def kkt_residual(
    Q_ss: np.ndarray,
    y_s: np.ndarray,
    solution: tuple[np.ndarray, np.ndarray],
    rhs: tuple[np.ndarray, np.ndarray],
) -> float:
    """Largest relative residual of ``[[Q_SS, y_S], [y_S^T, 0]] [a; c] = [r; t]`` per column.

    Measures how well a (possibly least-squares) KKT solve satisfies its system: an
    inconsistent singular system leaves a residual far above rounding.

    Parameters
    ----------
    Q_ss : ndarray of shape (k, k)
    y_s : ndarray of shape (k,)
    solution : (ndarray of shape (k, m), ndarray of shape (m,))
        ``(a, c)`` as returned by the solve.
    rhs : (ndarray of shape (k, m), ndarray of shape (m,))
        ``(r, t)``.
    """
    size = y_s.size
    a, r = np.reshape(solution[0], (size, -1)), np.reshape(rhs[0], (size, -1))
    c, t = np.reshape(solution[1], (1, -1)), np.reshape(rhs[1], (1, -1))
    top = Q_ss @ a + y_s[:, None] * c - r
    bottom = (y_s @ a)[None, :] - t
    residual = np.sqrt((top**2).sum(axis=0) + (bottom**2).ravel())
    scale = 1.0 + np.sqrt((r**2).sum(axis=0) + (t**2).ravel())
    return float(np.max(residual / scale, initial=0.0))
