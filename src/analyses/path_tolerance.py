r"""Follow a smooth curve in beta with step-size control, to a chord tolerance.

A learning curve ``L(beta)`` (one or several quantities: the backdoor and the clean test
loss) is reported at a grid of betas plus the points this module adds; a reader interpolates
linearly between consecutive reported betas. :func:`follow_to_tolerance` adds points until,
on every interval ``[a, b]`` and for every quantity,

.. math::

    \max_{\beta \in [a, b]} \Bigl| L(\beta) - \bigl(L(a) + \tfrac{\beta - a}{b - a}
    (L(b) - L(a))\bigr) \Bigr| \;\le\; \mathrm{tol} \cdot
    \bigl(\max_{\text{grid}} L - \min_{\text{grid}} L\bigr).

**The chord miss from both ends' derivatives.** With ``h = b - a``, ``Delta = L(b) - L(a)``,
``d_0 = h L'(a) - Delta`` and ``d_1 = h L'(b) - Delta``, the cubic Hermite interpolant of the
values and derivatives at both ends misses the chord by

.. math::

    g(t) = t (1 - t) \bigl((1 - t) d_0 - t d_1\bigr), \qquad t = (\beta - a) / h \in [0, 1],

and :func:`hermite_chord_miss` returns ``max_t |g(t)|`` (at a root of the quadratic ``g'``).
It equals the true curve's chord miss up to ``O(h^4)`` (the Hermite interpolation error),
and to leading order ``h^2 |L''| / 8``, the same as ``h |L'(b) - L'(a)| / 8``.

**Step control.** The curve is first evaluated on the grid, each point from the previous
one (the caller's ``evaluate`` predicts and corrects). ``e`` is the estimated miss relative to
``0.9`` times the tolerance, a margin for the estimate's own error (on the MNIST curves fresh
fits missed the chord by up to 1.004 times the estimate's bound without it). On a grid
interval whose ``e`` exceeds 1, steps ``h`` are taken from the left end: a step is accepted
when ``e <= 1`` and rejected otherwise, and the next step is (the chord miss is ``O(h^2)``)

.. math::

    h_{\text{new}} = h \cdot \min\bigl(g_{\max}, \max(s_{\min}, \rho\, e^{-1/2})\bigr),
    \qquad \rho = 0.9,\ g_{\max} = 4,\ s_{\min} = 0.2,

never stepping over the grid beta that ends the interval (a step that would end within a
tenth of itself from it ends on it; the grid point is known, so that trial costs nothing).
The first trial step of an interval is the smaller of the step proposed at the end of the
previous interval and the one that the interval's own miss proposes.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from backdoor_curves.classifiers.primal_path import PathPoint, PrimalPath

__all__ = [
    "REFINE_TOLERANCE",
    "CurvePoint",
    "FollowedCurve",
    "follow_path_losses",
    "follow_to_tolerance",
    "hermite_chord_miss",
    "loss_along",
]

REFINE_TOLERANCE = 1e-3
"""Largest miss of the chord between reported betas, relative to the curve's range.

For each quantity of a curve, linear interpolation between consecutive reported betas stays
within ``REFINE_TOLERANCE * (max - min of the quantity over the grid)`` of the curve: a
thousandth of the curve's height, well below what a figure shows. The steps hold the miss
estimated from the values and derivatives at both ends to ``0.9`` of it (module docstring).
"""

_ESTIMATE_MARGIN = 0.9  # the Hermite estimate's bound, as a fraction of the tolerance
_SAFETY = 0.9
_MAX_GROWTH = 4.0
_MIN_SHRINK = 0.2
_MIN_STEP = 1e-9  # relative to the grid's span: a smooth curve never needs one this short

State = TypeVar("State")


@dataclass(frozen=True)
class CurvePoint(Generic[State]):
    """The curve at one beta: its quantities, their derivatives and the caller's state.

    Attributes
    ----------
    beta : float
    values : ndarray of shape (n_quantities,)
        ``L_k(beta)``.
    derivatives : ndarray of shape (n_quantities,)
        ``d L_k / d beta``.
    state : object
        What the caller needs to go on from here (e.g. the fitted optimum).
    """

    beta: float
    values: np.ndarray
    derivatives: np.ndarray
    state: State


@dataclass(frozen=True)
class FollowedCurve(Generic[State]):
    """The reported points of a followed curve, in increasing beta.

    Attributes
    ----------
    points : tuple of CurvePoint
        The grid's points and the points added between them.
    on_grid : tuple of bool
        Whether each point is a grid beta.
    n_evaluations : int
        Points evaluated (grid, accepted and rejected steps).
    n_rejected : int
        Steps rejected (a rejected step onto a grid beta costs no evaluation).
    """

    points: tuple[CurvePoint[State], ...]
    on_grid: tuple[bool, ...]
    n_evaluations: int
    n_rejected: int


def hermite_chord_miss(left: CurvePoint[State], right: CurvePoint[State]) -> np.ndarray:
    """Return ``max_t |g(t)|`` per quantity: the Hermite estimate of the chord miss.

    ``g(t) = t (1 - t) ((1 - t) d_0 - t d_1)`` (module docstring), shape (n_quantities,).
    """
    width = right.beta - left.beta
    rise = right.values - left.values
    misses = []
    for d0, d1 in zip(
        width * left.derivatives - rise, width * right.derivatives - rise, strict=True
    ):
        total = d0 + d1
        # g(t) = total t^3 - (total + d0) t^2 + d0 t: g' = 3 total t^2 - 2 (total + d0) t + d0.
        roots = np.roots([3.0 * total, -2.0 * (total + d0), d0])
        t = np.real(roots[np.isreal(roots)])
        t = t[(t > 0.0) & (t < 1.0)]
        misses.append(float(np.max(np.abs(t * (1 - t) * ((1 - t) * d0 - t * d1)), initial=0.0)))
    return np.array(misses)


def _step_factor(error: float) -> float:
    """``min(g_max, max(s_min, rho e^{-1/2}))``: the next step over the last one."""
    if error == 0.0:
        return _MAX_GROWTH
    return min(_MAX_GROWTH, max(_MIN_SHRINK, _SAFETY / np.sqrt(error)))


def follow_to_tolerance(
    evaluate: Callable[[float, CurvePoint[State] | None], CurvePoint[State]],
    betas: Sequence[float],
    tolerance: float = REFINE_TOLERANCE,
) -> FollowedCurve[State]:
    """Evaluate a curve on ``betas`` and add points until its chords hold (module docstring).

    Parameters
    ----------
    evaluate : callable
        ``evaluate(beta, start)`` returns the curve at ``beta``, computed from ``start``, a
        point already evaluated at a smaller beta (None for the first grid beta).
    betas : sequence of float
        The grid, at least two, strictly increasing; every grid beta is reported.
    tolerance : float, default REFINE_TOLERANCE
        Relative tolerance (> 0) on the chord miss.

    Returns
    -------
    FollowedCurve

    Raises
    ------
    ValueError
        A tolerance that is not a positive number, or a grid that is not increasing.
    RuntimeError
        A step shorter than ``1e-9`` of the grid's span would be needed (the curve is not
        smooth there).
    """
    if not (np.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"tolerance must be a positive number, got {tolerance}")
    betas = [float(beta) for beta in betas]
    if len(betas) < 2 or any(b <= a for a, b in zip(betas[:-1], betas[1:], strict=True)):
        raise ValueError(f"the betas must be at least two, strictly increasing, got {betas}")
    grid = [evaluate(betas[0], None)]
    for beta in betas[1:]:
        grid.append(evaluate(beta, grid[-1]))
    values = np.array([point.values for point in grid])
    spans = np.maximum(values.max(axis=0) - values.min(axis=0), 1e-12)
    scale = _ESTIMATE_MARGIN * tolerance * spans
    min_step = _MIN_STEP * (betas[-1] - betas[0])
    points, on_grid = [grid[0]], [True]
    n_evaluations, n_rejected, step = len(grid), 0, np.inf
    for left, right in zip(grid[:-1], grid[1:], strict=True):
        inserted, evaluations, rejected, step = _between(
            evaluate, left, right, scale, min_step, step
        )
        points += [*inserted, right]
        on_grid += [False] * len(inserted) + [True]
        n_evaluations, n_rejected = n_evaluations + evaluations, n_rejected + rejected
    return FollowedCurve(tuple(points), tuple(on_grid), n_evaluations, n_rejected)


def _between(
    evaluate: Callable[[float, CurvePoint[State] | None], CurvePoint[State]],
    left: CurvePoint[State],
    right: CurvePoint[State],
    scale: np.ndarray,
    min_step: float,
    step: float,
) -> tuple[list[CurvePoint[State]], int, int, float]:
    """Return the points accepted strictly between two grid points, evaluations, rejections.

    See the module docstring; ``scale`` is the largest accepted estimate (0.9 of the tolerance)
    times each quantity's range, ``step`` the step the controller proposed at the end of the
    previous interval (the first step is the smaller of that and the one from this interval's
    own miss); the last item returned is the step it proposes at ``right``.
    """
    error = float(np.max(hermite_chord_miss(left, right) / scale))
    width = right.beta - left.beta
    if error <= 1.0:
        return [], 0, 0, width * _step_factor(error)
    inserted: list[CurvePoint[State]] = []
    evaluations = rejected = 0
    current, step = left, min(step, width * _step_factor(error))
    while current is not right:
        if current.beta + 1.1 * step >= right.beta:
            trial = right
        else:
            trial = evaluate(current.beta + step, current)
            evaluations += 1
        error = float(np.max(hermite_chord_miss(current, trial) / scale))
        taken = trial.beta - current.beta
        step = taken * _step_factor(error)
        if error <= 1.0:
            if trial is not right:
                inserted.append(trial)
            current = trial
            continue
        rejected += 1
        if step < min_step:
            raise RuntimeError(
                f"the curve needs a step shorter than {min_step:.3g} after beta = "
                f"{current.beta}: it is not smooth there"
            )
    return inserted, evaluations, rejected, step


def follow_path_losses(
    path: PrimalPath[Any],
    evaluation: Sequence[tuple[np.ndarray, np.ndarray]],
    betas: Sequence[float],
    tolerance: float = REFINE_TOLERANCE,
) -> FollowedCurve[PathPoint]:
    """Follow a model's mean losses on evaluation sets along its path to ``tolerance``.

    Each point is the path's optimum (:meth:`PrimalPath.optimum`: for logistic predicted
    from the point it starts from and corrected by Newton, for ridge in closed form); its
    quantities are :meth:`PrimalPath.mean_losses` on ``evaluation`` (e.g. the backdoor and
    the clean test set), with their exact derivatives in beta. See
    :func:`follow_to_tolerance`.
    """

    def evaluate(beta: float, start: CurvePoint[PathPoint] | None) -> CurvePoint[PathPoint]:
        point = path.optimum(beta, None if start is None else start.state)
        values, derivatives = path.mean_losses(point, evaluation)
        return CurvePoint(beta, values, derivatives, point)

    return follow_to_tolerance(evaluate, betas, tolerance)


def loss_along(
    path: PrimalPath[Any],
    curve: FollowedCurve[PathPoint],
    evaluation: tuple[np.ndarray, np.ndarray],
) -> Callable[[float], tuple[float, float]]:
    """Return ``loss_at(beta)``: a mean loss and its beta-derivative anywhere on a followed path.

    ``loss_at`` computes the optimum at ``beta`` from the reported point at or before it
    (:meth:`PrimalPath.optimum`) and its mean loss on ``evaluation`` (inputs, labels) with the
    exact derivative (:meth:`PrimalPath.mean_losses`), e.g. to refine the tangent check
    between rows (:func:`~backdoor_curves.analyses.tangent.smooth_tangent_valid_until`).
    """
    betas = [point.beta for point in curve.points]

    def loss_at(beta: float) -> tuple[float, float]:
        start = curve.points[max(bisect.bisect_right(betas, beta) - 1, 0)].state
        values, derivatives = path.mean_losses(path.optimum(beta, start), [evaluation])
        return float(values[0]), float(derivatives[0])

    return loss_at
