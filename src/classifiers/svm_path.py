r"""The exact path of an SVM optimum along the poison weight: breakpoints and affine pieces.

Notation as in :mod:`backdoor_curves.classifiers.kernel_svm`. With clean points weighted 1 and
poisons weighted ``beta``, the dual box is ``0 <= alpha_i <= u_i(beta) = u_i + beta du_i``
(``u_i = C`` and ``du_i = 0`` for a clean point, ``u_j = 0`` and ``du_j = C`` for a poison),
a convex QP whose constraints move linearly with ``beta``. Between two *breakpoints*, where a
point enters or leaves the margin set, the sets R, S, E are fixed and the KKT system

.. math::

    Q_{SS} \alpha_S + y_S b = 1 - Q_{SE} u_E(\beta), \qquad y_S^\top \alpha_S = -y_E^\top u_E(\beta)

is linear in ``beta``: ``alpha(beta)`` and ``b(beta)``, hence every decision value, are affine
on each piece (Cauwenberghs and Poggio's incremental SVM; Hastie et al.'s regularisation path
does the same in ``C``). :func:`follow_beta_path` starts from an exact optimum at ``beta_0``
and walks the pieces:

1. the direction ``(d alpha, d b)`` of the piece is the right derivative of the optimum
   (:func:`~backdoor_curves.classifiers.onesided.one_sided_derivative`), which is the
   two-sided incremental-SVM step on a non-degenerate set and resolves degenerate ones (ties
   at the bounds, several points on the margin, a bias that is not unique) by the one-sided
   rule the learning slope already uses;
2. the piece ends at the first event: a free ``alpha_i`` reaching ``0`` or its moving upper
   bound ``u_i + beta du_i``, or the margin ``m_i = y_i f(x_i) - 1`` of a bounded point
   reaching 0 (``m_i + t dm_i = 0``); the step to it is exact (a ratio of two numbers);
3. at the breakpoint the free values are re-solved from the KKT system of the new piece's
   free set (a corrector that keeps rounding from accumulating along many pieces).

The result (:class:`BetaPath`) gives ``alpha`` and ``b`` at any ``beta`` in closed form;
:mod:`backdoor_curves.classifiers.exact_path` turns it into fitted models.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import scipy.linalg

from backdoor_curves.classifiers.dual import bordered_kkt_matrix, margin_hessian
from backdoor_curves.classifiers.onesided import AT_BOUND_TOL, RESIDUAL_TOL, one_sided_derivative

__all__ = ["PATH_DEGENERATE_STATUS", "BetaPath", "follow_beta_path"]

#: Status of a path on which some breakpoint had several simultaneous events (resolved by the
#: one-sided rule; the path is still exact).
PATH_DEGENERATE_STATUS = (
    "ok: simultaneous events at some breakpoints, resolved by the one-sided rule"
)

# Events closer than this (relative to the path's length) to the piece's start are the
# breakpoint itself, already resolved by the direction of the piece.
_EVENT_TOL = 1e-12


@dataclasses.dataclass(frozen=True)
class BetaPath:
    """The optimum of an SVM dual as an affine function of ``beta`` on each piece.

    Piece ``k`` covers ``[breakpoints[k], breakpoints[k + 1])`` (the last one includes its
    end): ``alpha(beta) = alpha[k] + (beta - breakpoints[k]) d_alpha[k]`` and likewise ``b``.

    Attributes
    ----------
    breakpoints : ndarray of shape (n_pieces + 1,)
        ``beta_0 < beta_1 < ... < beta_end``; the inner ones are where the sets change.
    alpha, d_alpha : ndarray of shape (n_pieces, n_samples)
        Start value and slope of ``alpha`` on each piece.
    intercept, d_intercept : ndarray of shape (n_pieces,)
        Start value and slope of ``b`` on each piece (``b`` may jump at a breakpoint where
        no ``alpha_i`` is free: then it is the right limit).
    status : str
        ``"ok"``, :data:`PATH_DEGENERATE_STATUS`, or ``"undefined: ..."`` when a piece's
        direction could not be found (the path stops there; ``breakpoints[-1]`` says where).
    """

    breakpoints: np.ndarray
    alpha: np.ndarray
    d_alpha: np.ndarray
    intercept: np.ndarray
    d_intercept: np.ndarray
    status: str

    @property
    def inner_breakpoints(self) -> np.ndarray:
        """The betas where the sets change (the path's ends excluded)."""
        return self.breakpoints[1:-1]

    def piece(self, beta: float) -> int:
        """Index of the piece holding ``beta`` (right-continuous at breakpoints)."""
        return int(self.pieces([beta])[0])

    def pieces(self, betas: np.ndarray | Sequence[float]) -> np.ndarray:
        """Index of the piece holding each beta, shape (m,) (see :meth:`piece`).

        Raises
        ------
        ValueError
            If a beta lies outside ``[breakpoints[0], breakpoints[-1]]``.
        """
        betas = np.asarray(betas, dtype=np.float64)
        outside = betas[~((self.breakpoints[0] <= betas) & (betas <= self.breakpoints[-1]))]
        if outside.size:
            raise ValueError(
                f"beta = {outside[0]} is outside the path "
                f"[{self.breakpoints[0]}, {self.breakpoints[-1]}]"
            )
        index = np.searchsorted(self.breakpoints, betas, side="right") - 1
        return np.minimum(index, self.alpha.shape[0] - 1)

    def at(self, beta: float) -> tuple[np.ndarray, float]:
        """Return ``alpha(beta)`` and ``b(beta)``."""
        alpha, intercept = self.at_betas([beta])
        return alpha[0], float(intercept[0])

    def at_betas(self, betas: np.ndarray | Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Return ``alpha`` and ``b`` at every beta, shapes (m, n_samples) and (m,).

        Row ``r`` is ``alpha[k] + (betas[r] - breakpoints[k]) d_alpha[k]`` on the piece ``k``
        holding ``betas[r]`` (:meth:`pieces`), and likewise ``b``.
        """
        betas = np.asarray(betas, dtype=np.float64)
        k = self.pieces(betas)
        step = betas - self.breakpoints[k]
        return (
            self.alpha[k] + step[:, None] * self.d_alpha[k],
            self.intercept[k] + step * self.d_intercept[k],
        )


# Sets of a point on a piece: reserve (alpha = 0), margin (free), error (alpha at its bound).
_RESERVE, _MARGIN, _ERROR = 0, 1, 2


class _Piece:
    """The KKT system of one margin set, factored once: corrector and direction of a piece."""

    def __init__(self, K: np.ndarray, y: np.ndarray, free: np.ndarray) -> None:
        system = bordered_kkt_matrix(margin_hessian(K, y, free), y[free])
        self.K, self.y, self.free, self.system = K, y, free, system
        # LAPACK's LU directly: what scipy.linalg.lu_factor / lu_solve call, the same numbers
        # without their argument checks (a path factors thousands of small systems).
        self.lu, self.pivots, _ = scipy.linalg.lapack.dgetrf(system)
        #: An exactly singular system (more margin vectors than a linear kernel's dimension
        #: allows): the margin set does not decide the optimum, the one-sided rule does.
        self.singular = not np.all(np.diag(self.lu))

    def solve(self, fixed: np.ndarray, ones: float) -> tuple[np.ndarray, float, float]:
        """Solve for the free values given the fixed ones; return them, ``b`` and the residual.

        The system is ``Q_FF v_F + y_F c = ones - Q_F. fixed``, ``y_F^T v_F = -y^T fixed``
        (``ones = 1`` for the optimum itself, 0 for its derivative).
        """
        free, y = self.free, self.y
        rhs = np.empty(free.size + 1)
        rhs[:-1] = ones - y[free] * (self.K[free] @ (fixed * y))
        rhs[-1] = -(y @ fixed)
        solution, _ = scipy.linalg.lapack.dgetrs(self.lu, self.pivots, rhs)
        residual = float(np.linalg.norm(self.system @ solution - rhs)) / (
            1.0 + float(np.linalg.norm(rhs))
        )
        values = fixed.copy()
        values[free] = solution[:-1]
        return values, float(solution[-1]), residual


def _sets(
    alpha: np.ndarray, box: np.ndarray, d_upper: np.ndarray, free: np.ndarray, fixed: np.ndarray
) -> np.ndarray:
    """Return the set of every point, from a one-sided derivative's free set and fixed values."""
    state = np.full(alpha.size, _RESERVE, dtype=np.int8)
    on_top = (box > 0) & (alpha >= box * (1.0 - AT_BOUND_TOL))
    entering = (box == 0) & (d_upper > 0) & (fixed > 0)
    state[on_top | entering] = _ERROR
    state[free] = _MARGIN
    return state


def _events(
    state: np.ndarray,
    alpha: np.ndarray,
    box: np.ndarray,
    d_upper: np.ndarray,
    d_alpha: np.ndarray,
    margins: np.ndarray,
    d_margins: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Step length to each point's next change of set (``inf``: none) and its new set."""
    t = np.full(alpha.size, np.inf)
    target = state.copy()
    free = state == _MARGIN
    with np.errstate(divide="ignore", invalid="ignore"):
        to_zero = free & (d_alpha < 0)
        t[to_zero] = alpha[to_zero] / -d_alpha[to_zero]
        target[to_zero] = _RESERVE
        to_top = np.flatnonzero(free & (d_alpha > d_upper))
        top = (box[to_top] - alpha[to_top]) / (d_alpha[to_top] - d_upper[to_top])
        sooner = to_top[top < t[to_top]]
        t[sooner] = top[top < t[to_top]]
        target[sooner] = _ERROR
        falling = (state == _RESERVE) & (d_margins < 0)
        t[falling] = np.maximum(margins[falling], 0.0) / -d_margins[falling]
        rising = (state == _ERROR) & (d_margins > 0)
        t[rising] = np.maximum(-margins[rising], 0.0) / d_margins[rising]
    target[falling | rising] = _MARGIN
    return t, target


def _entry_is_consistent(
    previous: np.ndarray,
    state: np.ndarray,
    d_alpha: np.ndarray,
    d_upper: np.ndarray,
    d_margins: np.ndarray,
    tol: float,
) -> bool:
    """Whether the points that changed set at a breakpoint move the way their new set needs."""
    if previous.size != state.size:
        return True
    changed = previous != state
    from_zero = changed & (previous == _RESERVE) & (d_alpha < -tol)
    from_top = changed & (previous == _ERROR) & (d_alpha > d_upper + tol)
    to_zero = changed & (state == _RESERVE) & (d_margins < -tol)
    to_top = changed & (state == _ERROR) & (d_margins > tol)
    return not (from_zero.any() or from_top.any() or to_zero.any() or to_top.any())


def _margin_piece(K: np.ndarray, y: np.ndarray, free: np.ndarray) -> _Piece | None:
    """Return the piece of the margin set ``free`` (a mask); None if it is empty or singular."""
    if not free.any():
        return None
    piece = _Piece(K, y, np.flatnonzero(free))
    return None if piece.singular else piece


def _optimum(piece: _Piece, bounds: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Return the optimum of the piece's sets (error points at ``bounds``) and its bias.

    None when the KKT solve is not accurate or a free value leaves its box (beyond rounding,
    which is clipped): the sets are then not the optimum's.
    """
    alpha, b, residual = piece.solve(bounds, 1.0)
    free = piece.free
    inside = (alpha[free] >= -1e-9 * box[free]).all() and (
        alpha[free] <= box[free] * (1.0 + 1e-9)
    ).all()
    if not residual <= RESIDUAL_TOL or not inside:  # also NaN
        return None
    alpha[free] = np.clip(alpha[free], 0.0, box[free])
    return alpha, b


def _fast_direction(
    K: np.ndarray,
    y: np.ndarray,
    state: np.ndarray,
    previous: np.ndarray,
    box: np.ndarray,
    d_upper: np.ndarray,
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray] | None:
    """Return the optimum and direction of the piece whose sets are ``state``.

    Re-solves ``alpha_S`` and ``b`` from the KKT system of the margin set (the corrector:
    reserve points at 0, error points at their bound) and the direction from the same
    factor. Returns ``(alpha, b, [d_alpha; d_b], margins, d_margins)``, or None when the
    sets are not those of the optimum (a point that changed set moves the wrong way, a free
    value leaves its box, or the system is singular): the one-sided rule decides then.
    """
    piece = _margin_piece(K, y, state == _MARGIN)
    optimum = None if piece is None else _optimum(piece, np.where(state == _ERROR, box, 0.0), box)
    if piece is None or optimum is None:
        return None
    alpha, b = optimum
    d_alpha, d_b, d_residual = piece.solve(np.where(state == _ERROR, d_upper, 0.0), 0.0)
    d_margins = y * (K @ (d_alpha * y) + d_b)
    tol = 1e-9 * max(1.0, float(np.abs(d_alpha).max()))
    if not d_residual <= RESIDUAL_TOL or not _entry_is_consistent(
        previous, state, d_alpha, d_upper, d_margins, tol
    ):
        return None
    margins = y * (K @ (alpha * y) + b) - 1.0
    return alpha, b, np.append(d_alpha, d_b), margins, d_margins


def _polished(
    K: np.ndarray, y: np.ndarray, alpha: np.ndarray, intercept: float, box: np.ndarray
) -> tuple[np.ndarray, float]:
    """Re-solve the free values of a stepped optimum from their KKT system (rounding only).

    The free set is the values strictly inside their box; when its system is singular or
    inaccurate (or the set empty) the stepped values are kept.
    """
    inside = (alpha > AT_BOUND_TOL * box) & (alpha < box * (1.0 - AT_BOUND_TOL))
    piece = _margin_piece(K, y, inside)
    at_top = ~inside & (box > 0) & (alpha >= box * (1.0 - AT_BOUND_TOL))
    optimum = None if piece is None else _optimum(piece, np.where(at_top, box, 0.0), box)
    return (alpha, intercept) if optimum is None else optimum


def follow_beta_path(
    K: np.ndarray,
    y: np.ndarray,
    upper: np.ndarray,
    d_upper: np.ndarray,
    alpha: np.ndarray,
    intercept: float,
    beta_end: float,
    *,
    beta_start: float = 0.0,
    max_pieces: int | None = None,
) -> BetaPath:
    """Follow the exact SVM optimum from ``beta_start`` to ``beta_end`` (module docstring).

    Parameters
    ----------
    K : ndarray of shape (n, n)
        Training kernel matrix.
    y : ndarray of shape (n,)
        Signed labels in {-1, +1}.
    upper, d_upper : ndarray of shape (n,)
        The box is ``[0, upper + beta * d_upper]``; ``d_upper >= 0``.
    alpha, intercept
        An exact optimum at ``beta_start`` (e.g. a polished fit, ``exact_`` True).
    beta_end : float
        Where the path ends (> ``beta_start``).
    beta_start : float, default 0
        Where it starts.
    max_pieces : int or None
        Bound on the number of pieces (default ``10 n + 10``); reaching it ends the path with
        an ``"undefined"`` status.

    Returns
    -------
    BetaPath
    """
    if not beta_end > beta_start:
        raise ValueError(f"beta_end must exceed beta_start, got {beta_end} <= {beta_start}")
    if np.any(d_upper < 0):
        raise ValueError("d_upper must be non-negative (the box may only grow)")
    max_pieces = 10 * y.size + 10 if max_pieces is None else max_pieces
    beta, alpha = float(beta_start), np.asarray(alpha, dtype=np.float64).copy()
    pieces: list[tuple[float, np.ndarray, np.ndarray, float, float]] = []
    status = "ok"
    state: np.ndarray | None = None  # None: the one-sided rule finds the sets
    previous = np.zeros(0, dtype=np.int8)
    while True:
        box = upper + beta * d_upper
        fast = None if state is None else _fast_direction(K, y, state, previous, box, d_upper)
        if state is not None and fast is not None:
            current = state
            alpha, intercept, packed, margins, d_margins = fast
            d_alpha, d_b = packed[:-1], float(packed[-1])
        else:
            alpha, intercept = _polished(K, y, alpha, intercept, box)
            step = one_sided_derivative(K, y, alpha, box, intercept, d_upper)
            if not step.converged:
                status = f"undefined: no consistent direction at beta = {beta:.6g}"
                break
            intercept = step.intercept  # the right limit where the bias was not unique
            current = _sets(alpha, box, d_upper, step.free, step.fixed)
            d_alpha, d_b = step.d_alpha, step.d_intercept
            margins = y * (K @ (alpha * y) + intercept) - 1.0
            d_margins = y * (K @ (d_alpha * y) + d_b)
        t, target = _events(current, alpha, box, d_upper, d_alpha, margins, d_margins)
        t[t <= _EVENT_TOL * max(1.0, abs(beta_end))] = np.inf
        length = min(float(t.min(initial=np.inf)), beta_end - beta)
        pieces.append((beta, alpha.copy(), d_alpha.copy(), intercept, d_b))
        if beta + length >= beta_end or len(pieces) >= max_pieces:
            if beta + length < beta_end:
                status = f"undefined: more than {max_pieces} pieces"
            beta = min(beta + length, beta_end)
            break
        beta += length
        alpha = np.clip(alpha + length * d_alpha, 0.0, upper + beta * d_upper)
        intercept += length * d_b
        events = np.flatnonzero(t <= length * (1.0 + 1e-9))
        previous = current.copy()
        if events.size == 1:
            state = current.copy()
            state[events] = target[events]
        else:  # simultaneous events: the one-sided rule decides the new sets
            status = PATH_DEGENERATE_STATUS
            state = None
    starts, alphas, d_alphas, intercepts, d_intercepts = zip(*pieces, strict=True)
    return BetaPath(
        breakpoints=np.asarray([*starts, beta]),
        alpha=np.asarray(alphas),
        d_alpha=np.asarray(d_alphas),
        intercept=np.asarray(intercepts),
        d_intercept=np.asarray(d_intercepts),
        status=status,
    )
