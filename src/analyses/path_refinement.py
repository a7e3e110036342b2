r"""Where a curve sampled on a grid needs more points: refinement to an interpolation tolerance.

A learning curve ``L(beta)`` is reported at a grid of betas. Between two reported betas ``a < b``
a reader interpolates linearly; :class:`Refinement` inserts the midpoint ``m = (a + b) / 2``
wherever the curve there misses the chord by more than the tolerance,

.. math::

    \bigl| L(m) - (L(a) + L(b)) / 2 \bigr| > \mathrm{tol} \cdot
    \bigl(\max_{\text{grid}} L - \min_{\text{grid}} L\bigr),

and recurses on both halves (to ``max_depth`` halvings), for every quantity given (e.g. the
backdoor and the clean test loss). :class:`Refinement` asks for one beta at a time; the caller
evaluates it (an exact fit, warm-started from the optimum at the interval's left end).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["REFINE_TOLERANCE", "Refinement"]

REFINE_TOLERANCE = 1e-3
"""Largest miss of the chord between reported betas, relative to the curve's range."""


class Refinement:
    """The points a sampled curve needs, asked for one at a time (module docstring).

    The caller evaluates the curve where :meth:`next_beta` says and hands the values back with
    :meth:`add` (no callback, so the caller's loop owns the fits); :meth:`betas` is the result.
    Intervals are refined depth first, left to right, so each asked beta has every smaller
    beta of its interval already evaluated (a warm start from the left end is at hand).

    Parameters
    ----------
    grid : mapping of float to sequence of float
        The curve's quantities at each grid beta (e.g. backdoor and clean test loss).
    tolerance : float, default REFINE_TOLERANCE
        Relative tolerance (> 0).
    max_depth : int, default 6
        Halvings of a grid interval at most (at most ``2**max_depth - 1`` points inserted in
        one interval).
    """

    def __init__(
        self,
        grid: dict[float, Sequence[float]],
        tolerance: float = REFINE_TOLERANCE,
        max_depth: int = 6,
    ) -> None:
        if not tolerance > 0:
            raise ValueError(f"tolerance must be positive, got {tolerance}")
        betas = list(grid)
        if len(betas) < 2 or betas != sorted(set(betas)):
            raise ValueError(f"the grid's betas must be at least two, increasing, got {betas}")
        self._values = {float(b): np.asarray(v, dtype=np.float64) for b, v in grid.items()}
        values = np.array(list(self._values.values()))
        self._scale = tolerance * np.maximum(values.max(axis=0) - values.min(axis=0), 1e-12)
        self._max_depth = max_depth
        # Intervals still to test, as (left, right, depth); the leftmost is tested first.
        self._stack = [(a, b, 0) for a, b in zip(betas[-2::-1], betas[:0:-1], strict=True)]
        self._asked: tuple[float, float, int] | None = None

    def next_beta(self) -> float | None:
        """Return the next beta to evaluate (an interval's midpoint), or None when done."""
        while self._stack:
            a, b, depth = self._stack.pop()
            if depth < self._max_depth:
                self._asked = (a, b, depth)
                return 0.5 * (a + b)
        return None

    def add(self, beta: float, values: Sequence[float]) -> None:
        """Record the curve's values at the beta :meth:`next_beta` returned."""
        if self._asked is None or beta != 0.5 * (self._asked[0] + self._asked[1]):
            raise ValueError(f"beta {beta} was not asked for")
        a, b, depth = self._asked
        self._asked = None
        middle = np.asarray(values, dtype=np.float64)
        chord = 0.5 * (self._values[a] + self._values[b])
        if np.any(np.abs(middle - chord) > self._scale):
            self._values[beta] = middle
            self._stack += [(beta, b, depth + 1), (a, beta, depth + 1)]

    def betas(self) -> list[float]:
        """Return the grid's betas and the midpoints kept, increasing."""
        return sorted(self._values)
