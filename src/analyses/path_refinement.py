r"""Where a curve sampled on a grid needs more points: refinement to an interpolation tolerance.

A learning curve ``L(beta)`` is reported at a grid of betas. Between two reported betas ``a < b``
a reader interpolates linearly; :func:`refined_betas` inserts the midpoint ``m = (a + b) / 2``
wherever the curve there misses the chord by more than the tolerance,

.. math::

    \bigl| L(m) - (L(a) + L(b)) / 2 \bigr| > \mathrm{tol} \cdot
    \bigl(\max_{\text{grid}} L - \min_{\text{grid}} L\bigr),

and recurses on both halves (to ``max_depth`` halvings), for every quantity given (e.g. the
backdoor and the clean test loss). Every value comes from ``evaluate``, an exact fit at that
beta (the caller warm starts it from the nearest optimum already computed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["REFINE_TOLERANCE", "refined_betas"]

REFINE_TOLERANCE = 1e-3
"""Largest miss of the chord between reported betas, relative to the curve's range."""


def refined_betas(
    evaluate: Callable[[float], Sequence[float]],
    betas: Sequence[float],
    tolerance: float = REFINE_TOLERANCE,
    max_depth: int = 6,
) -> list[float]:
    """Return the grid ``betas`` plus the midpoints the curve needs (module docstring).

    Parameters
    ----------
    evaluate : callable
        ``evaluate(beta) -> values``: the curve's quantities at ``beta`` (each call may be an
        exact fit; it is called once per beta).
    betas : sequence of float
        Increasing grid.
    tolerance : float, default REFINE_TOLERANCE
        Relative tolerance (> 0).
    max_depth : int, default 6
        Halvings of a grid interval at most (so at most ``2**max_depth - 1`` points are
        inserted in one interval).

    Returns
    -------
    list of float
        Increasing betas: the grid's and the inserted ones.
    """
    if not tolerance > 0:
        raise ValueError(f"tolerance must be positive, got {tolerance}")
    if list(betas) != sorted(set(betas)):
        raise ValueError(f"betas must be strictly increasing, got {list(betas)}")
    values = {float(beta): np.asarray(evaluate(float(beta)), dtype=np.float64) for beta in betas}
    grid = np.array(list(values.values()))
    scale = tolerance * np.maximum(grid.max(axis=0) - grid.min(axis=0), 1e-12)

    def refine(a: float, b: float, depth: int) -> None:
        if depth >= max_depth:
            return
        middle = 0.5 * (a + b)
        values[middle] = np.asarray(evaluate(middle), dtype=np.float64)
        chord = 0.5 * (values[a] + values[b])
        if np.any(np.abs(values[middle] - chord) > scale):
            refine(a, middle, depth + 1)
            refine(middle, b, depth + 1)
        else:
            del values[middle]  # the chord is good enough: no reported point

    grid_betas = [float(beta) for beta in betas]
    for a, b in zip(grid_betas[:-1], grid_betas[1:], strict=True):
        refine(a, b, 0)
    return sorted(values)
