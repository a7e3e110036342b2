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
  largest grid beta up to which it is valid at every grid point.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["TANGENT_TOLERANCE", "slope_fd", "slope_ratio", "tangent_valid_until"]

TANGENT_TOLERANCE = 0.1
"""Relative miss of the tangent's predicted loss drop that ends its validity."""

_NEGLIGIBLE_DROP = 1e-12
"""Drops (actual and predicted) both below this count as agreement."""


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
        actual = losses[0] - loss
        predicted = -slope * beta
        miss = abs(predicted - actual)
        if miss > tolerance * abs(actual) and max(abs(actual), abs(predicted)) > _NEGLIGIBLE_DROP:
            break
        valid_until = float(beta)
    return valid_until
