r"""The tangent check of a learning curve: how far the influence slope predicts the curve.

A learning curve is the backdoor loss ``L(beta)`` on an increasing grid
``0 = beta_0 < beta_1 < ... < beta_m`` (``docs/method.md``, "The tangent check"). The influence
slope ``s = dL/dbeta`` at ``beta = 0`` (:func:`backdoor_curves.attacks.influence.learning_slope`)
defines the tangent ``L(0) + s beta``. This module measures how well it describes the curve:

- the first finite difference :math:`s_{fd} = (L(\beta_1) - L(0)) / \beta_1`
  (:func:`slope_fd`) and the ratio :math:`s / s_{fd}` (:func:`slope_ratio`);
- the validity range (:func:`tangent_valid_until`): the tangent is valid at ``beta`` when its
  predicted drop misses the actual drop by at most a relative ``tolerance``,

  .. math::

      \bigl| (-s \beta) - (L(0) - L(\beta)) \bigr|
      \le \mathrm{tol} \, \lvert L(0) - L(\beta) \rvert,

  (both drops below ``1e-12`` count as agreement), and ``tangent_valid_until`` is the
  largest grid beta up to which it is valid at every grid point;
- the exact validity range of a mean hinge loss whose scores are affine between consecutive
  betas, as along an SVM's exact path with a beta at every breakpoint
  (:func:`hinge_tangent_valid_until`): the largest ``beta`` such that the tangent is valid on
  all of ``[0, beta]``, found in closed form between the last beta where it holds and the
  first where it misses;
- along such a path, the first breakpoint at which the loss has left the tangent
  (:func:`breakpoint_tangent_valid_until`), the end of the piece on which it leaves;
- the validity range of a smooth curve that can be evaluated with its derivative at any beta,
  as along a followed logistic or ridge path (:func:`smooth_tangent_valid_until`): between the
  last row where the tangent holds and the first where it misses, the root of the miss
  function, found by Newton's method safeguarded by bisection.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "TANGENT_TOLERANCE",
    "breakpoint_tangent_valid_until",
    "hinge_tangent_valid_until",
    "slope_fd",
    "smooth_tangent_valid_until",
    "slope_ratio",
    "tangent_valid_until",
]

TANGENT_TOLERANCE = 0.1
"""Relative miss of the tangent's predicted loss drop that ends its validity."""

_NEGLIGIBLE_DROP = 1e-12
"""Drops (actual and predicted) both below this count as agreement."""

_ROOT_XTOL = 1e-12  # relative width at which the root of a smooth curve's miss is found
_MAX_ROOT_STEPS = 60


def slope_fd(betas: Sequence[float], losses: Sequence[float]) -> float:
    """First finite difference ``(L(beta_1) - L(0)) / beta_1`` of a curve.

    Parameters
    ----------
    betas : sequence of float
        Increasing grid starting at 0.
    losses : sequence of float
        ``L(beta)`` on that grid.

    Returns
    -------
    float
        The difference quotient; NaN for a grid with a single point.
    """
    if len(betas) < 2:
        return float("nan")
    return (float(losses[1]) - float(losses[0])) / float(betas[1])


def slope_ratio(slope: float, finite_difference: float) -> float:
    """``slope / finite_difference`` (NaN when the finite difference is 0)."""
    return slope / finite_difference if finite_difference != 0 else float("nan")


def tangent_valid_until(
    betas: Sequence[float],
    losses: Sequence[float],
    slope: float,
    tolerance: float = TANGENT_TOLERANCE,
) -> float:
    """Largest beta up to which the tangent ``L(0) + slope * beta`` predicts the drop.

    Parameters
    ----------
    betas : sequence of float
        Increasing grid starting at 0.
    losses : sequence of float
        ``L(beta)`` on that grid.
    slope : float
        ``dL/dbeta`` at 0.
    tolerance : float, default TANGENT_TOLERANCE
        Relative tolerance of the miss (see the module docstring).

    Returns
    -------
    float
        The largest grid beta such that the tangent is valid at every grid beta up to it;
        0.0 if it misses at the first positive beta; NaN if ``slope`` is not finite.
    """
    if not np.isfinite(slope):
        return float("nan")
    valid_until = 0.0
    for beta, loss in zip(betas[1:], losses[1:], strict=True):
        if _misses(float(losses[0]), float(beta), float(loss), slope, tolerance):
            break
        valid_until = float(beta)
    return valid_until


def _misses(start: float, beta: float, loss: float, slope: float, tolerance: float) -> bool:
    """Whether the tangent from ``(0, start)`` misses the drop to ``loss`` at ``beta``."""
    actual = start - loss
    predicted = -slope * beta
    miss = abs(predicted - actual)
    return miss > tolerance * abs(actual) and max(abs(actual), abs(predicted)) > _NEGLIGIBLE_DROP


def breakpoint_tangent_valid_until(
    betas: Sequence[float],
    losses: Sequence[float],
    breakpoints: Sequence[float],
    slope: float,
    tolerance: float = TANGENT_TOLERANCE,
) -> float:
    """Return the first breakpoint of a piecewise path at which the loss has left the tangent.

    Along an SVM's exact path the optimum is affine between breakpoints. This returns the
    first breakpoint at which the tangent misses the drop (:func:`tangent_valid_until`'s
    check), taking the last beta as the end of the last piece: the end of the first piece at
    whose end the loss has left the tangent. The loss first leaves it at or before that
    breakpoint, at the exact crossing (:func:`hinge_tangent_valid_until`).

    Parameters
    ----------
    betas, losses, slope, tolerance
        As for :func:`tangent_valid_until` (``betas``: every row, every breakpoint among them).
    breakpoints : sequence of float
        The path's breakpoints in ``(0, betas[-1]]``, increasing.

    Returns
    -------
    float
        That breakpoint; the last beta when the tangent misses at no breakpoint; NaN if
        ``slope`` is not finite.
    """
    if not np.isfinite(slope):
        return float("nan")
    grid = np.asarray(betas, dtype=np.float64)
    ends = np.asarray(breakpoints, dtype=np.float64)
    rows = np.searchsorted(grid, ends)
    if ends.size and (ends[0] <= 0.0 or rows[-1] >= grid.size or not np.all(grid[rows] == ends)):
        raise ValueError("every breakpoint must be one of the betas, after 0")
    for beta, row in zip(ends, rows, strict=True):
        if _misses(float(losses[0]), float(beta), float(losses[row]), slope, tolerance):
            return float(beta)
    return float(grid[-1])


def smooth_tangent_valid_until(
    betas: Sequence[float],
    losses: Sequence[float],
    slope: float,
    loss_at: Callable[[float], tuple[float, float]],
    tolerance: float = TANGENT_TOLERANCE,
) -> float:
    r"""Return the validity range of a smooth curve, refined between its rows.

    The range at the rows (:func:`tangent_valid_until`) ends at the last row before the first
    row where the tangent misses; between those two rows the miss

    .. math::

        m(\beta) = \bigl|(-s \beta) - D(\beta)\bigr| - \mathrm{tol}\,|D(\beta)|,
        \qquad D(\beta) = L(0) - L(\beta),

    goes from ``m <= 0`` to ``m > 0``. Its root is found by Newton's method on ``m / beta``
    (the same root, without the one at ``beta = 0``), with the exact derivative
    ``m' = sign(e) (-s + L') + tol sign(D) L'`` (``e = -s beta - D``), each step kept inside
    the bracket (bisection otherwise), to ``1e-12`` of beta.

    Parameters
    ----------
    betas, losses, slope, tolerance
        As for :func:`tangent_valid_until` (``betas``: every row of the curve).
    loss_at : callable
        ``loss_at(beta)`` returns ``(L(beta), dL/dbeta)`` exactly, for ``beta`` between rows.

    Returns
    -------
    float
        The root between the two rows; the row-based value when the tangent holds at every
        row (the last beta) or ``slope`` is not finite (NaN).
    """
    valid_until = tangent_valid_until(betas, losses, slope, tolerance)
    if not np.isfinite(valid_until) or valid_until == betas[-1]:
        return valid_until
    start = losses[0]
    left = list(betas).index(valid_until)

    def miss(beta: float, loss: float) -> float:
        drop = start - loss
        return abs(-slope * beta - drop) - tolerance * abs(drop)

    low, high = float(betas[left]), float(betas[left + 1])
    low_miss, high_miss = miss(low, losses[left]), miss(high, losses[left + 1])
    # The secant root of the rows' misses, unless it sits on an end.
    beta = low - low_miss * (high - low) / (high_miss - low_miss)
    if not low < beta < high:
        beta = 0.5 * (low + high)
    for _ in range(_MAX_ROOT_STEPS):
        loss, derivative = loss_at(beta)
        value = miss(beta, loss)
        if value <= 0.0:
            low = beta
        else:
            high = beta
        error, drop = -slope * beta - (start - loss), start - loss
        rate = np.sign(error) * (derivative - slope) + tolerance * np.sign(drop) * derivative
        # Newton on m / beta, which has the same sign and root for beta > 0 but not the root
        # at 0 that slows Newton on m when the bracket starts there.
        denominator = rate * beta - value
        newton = beta - value * beta / denominator if denominator != 0.0 else np.nan
        if low < newton < high:
            if abs(newton - beta) <= _ROOT_XTOL * high:
                return float(newton)
            beta = newton
        else:
            beta = 0.5 * (low + high)
        if high - low <= _ROOT_XTOL * high:
            break
    return float(low)


def hinge_tangent_valid_until(
    betas: Sequence[float],
    scores: np.ndarray,
    signed: np.ndarray,
    slope: float,
    tolerance: float = TANGENT_TOLERANCE,
) -> float:
    """Exact validity range of the tangent of a mean hinge loss with piecewise-affine scores.

    ``L(beta) = mean_t max(0, 1 - y_t f_t(beta))`` where every score ``f_t`` is affine
    between consecutive ``betas`` (an SVM's exact path, evaluated at every grid beta and
    breakpoint). Returns the largest ``beta`` such that the tangent ``L(0) + slope * beta`` is
    valid (module docstring) on all of ``[0, beta]``, not only at the given betas: between
    the last given beta where it holds and the first where it misses, ``L`` is affine between
    the points where a score crosses its margin (``y f = 1``), the miss is affine between the
    points where a drop or the tangent's error changes sign, and the validity ends at a root of
    an affine function.

    Parameters
    ----------
    betas : sequence of float
        Increasing, starting at 0.
    scores : ndarray of shape (len(betas), n)
        The decision values at ``betas``.
    signed : ndarray of shape (n,)
        Labels in {-1, +1}.
    slope : float
        ``dL/dbeta`` at 0.
    tolerance : float, default TANGENT_TOLERANCE

    Returns
    -------
    float
        The validity range, between the largest given beta up to which
        :func:`tangent_valid_until` holds and the next given beta (the last beta when it
        holds everywhere); NaN if ``slope`` is not finite.
    """
    if not np.isfinite(slope):
        return float("nan")
    grid = np.asarray(betas, dtype=np.float64)
    # 1 - y f: the hinge loss is its positive part, with a kink where it crosses 0.
    margins = 1.0 - signed * np.asarray(scores, dtype=np.float64)
    check = _HingeTangent(float(np.maximum(margins[0], 0.0).mean()), slope, tolerance)
    for index in range(grid.size - 1):
        end = check.end_on_piece(grid[index], grid[index + 1], margins[index], margins[index + 1])
        if end is not None:
            return end
    return float(grid[-1])


@dataclass(frozen=True)
class _HingeTangent:
    """The tangent check of a mean hinge loss on one affine piece of its scores."""

    start_loss: float
    slope: float
    tolerance: float

    def errors(self, margins: np.ndarray, beta: float) -> tuple[float, float]:
        """Return the tangent's error in the drop and the actual drop at ``beta``."""
        actual = self.start_loss - float(np.maximum(margins, 0.0).mean())
        return -self.slope * beta - actual, actual

    def excess(self, margins: np.ndarray, beta: float) -> float:
        """Return ``|error| - tol |drop|``: positive where the tangent misses (negligible: 0)."""
        error, actual = self.errors(margins, beta)
        if max(abs(actual), abs(self.slope * beta)) <= _NEGLIGIBLE_DROP:
            return 0.0
        return abs(error) - self.tolerance * abs(actual)

    def end_on_piece(
        self, left: float, right: float, start: np.ndarray, end: np.ndarray
    ) -> float | None:
        """Return where the validity ends in ``(left, right]`` (None: it holds throughout).

        ``start`` and ``end`` are the margins ``1 - y f`` at ``left`` and ``right``, affine in
        between. The loss is affine between the points where a margin crosses 0, and the
        excess between those and the points where the error or the drop changes sign.
        """

        def margins(beta: float) -> np.ndarray:
            return start + (beta - left) / (right - left) * (end - start)

        moving = start != end
        crossing = np.divide(start, start - end, out=np.full_like(start, np.nan), where=moving)
        inside = crossing[(crossing > 0) & (crossing < 1)]
        knots = np.unique(np.r_[left, right, left + (right - left) * inside])
        points = [left]
        for low, high in itertools.pairwise(knots):
            low_values = self.errors(margins(low), low)
            high_values = self.errors(margins(high), high)
            for a, b in zip(low_values, high_values, strict=True):
                if a * b < 0:
                    points.append(low + (high - low) * a / (a - b))
            points.append(high)
        previous, previous_excess = left, min(self.excess(start, left), 0.0)  # holds at left
        for point in np.unique(points)[1:]:
            current = self.excess(margins(point), point)
            if current > 0:
                # The excess is affine on [previous, point]: its root ends the validity.
                share = previous_excess / (previous_excess - current)
                return float(min(max(previous + (point - previous) * share, previous), point))
            previous, previous_excess = point, current
        return None
