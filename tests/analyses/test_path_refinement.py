"""Refinement of a sampled curve: between reported betas the chord is within the tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from backdoor_curves.analyses.path_refinement import Refinement


def refined_betas(evaluate, grid, tolerance=1e-3, max_depth=6):
    """Drive a Refinement with ``evaluate`` as the drivers do; every asked beta checked."""
    refinement = Refinement({b: evaluate(b) for b in grid}, tolerance, max_depth)
    while (beta := refinement.next_beta()) is not None:
        assert any(b < beta for b in grid)  # a smaller evaluated beta exists (warm start)
        refinement.add(beta, evaluate(beta))
    return refinement.betas()


GRID = (0.0, 0.1, 0.25, 0.5, 1.0)


def chord_misses(function, betas) -> float:
    """Largest miss of the chords between ``betas`` over a dense sampling of each interval."""
    worst = 0.0
    for a, b in zip(betas[:-1], betas[1:], strict=True):
        t = np.linspace(0.0, 1.0, 201)
        values = function(a + t * (b - a))
        chord = (1 - t) * function(a) + t * function(b)
        worst = max(worst, float(np.abs(values - chord).max()))
    return worst


def test_a_curved_function_gets_points_until_its_chords_hold():
    def function(beta):
        return np.exp(-12.0 * np.asarray(beta))

    calls = []

    def evaluate(beta):
        calls.append(beta)
        return [float(function(beta))]

    betas = refined_betas(evaluate, GRID, tolerance=1e-3, max_depth=10)
    assert set(GRID) <= set(betas) and betas == sorted(betas) and len(betas) > len(GRID)
    value_range = 1.0 - float(function(1.0))
    # The midpoint test bounds the chord's miss at the midpoints; a smooth convex curve's
    # largest miss is near the midpoint, so it holds everywhere up to a small factor.
    assert chord_misses(function, betas) <= 2e-3 * value_range
    assert len(calls) == len(set(calls))  # each beta is evaluated once
    assert chord_misses(function, list(GRID)) > 1e-2  # the grid alone was not enough


def test_a_straight_curve_gets_no_point_and_every_quantity_counts():
    assert refined_betas(lambda b: [2.0 - 3.0 * b, 0.5], GRID) == list(GRID)
    # A second quantity that bends forces points even where the first one is straight.
    bent = refined_betas(lambda b: [2.0 - 3.0 * b, b**2], GRID, tolerance=1e-3)
    assert len(bent) > len(GRID)


def test_depth_bounds_the_points_per_interval():
    betas = refined_betas(lambda b: [np.sqrt(b)], (0.0, 1.0), tolerance=1e-9, max_depth=3)
    assert len(betas) == 2 + 2**3 - 1


@pytest.mark.parametrize(
    ("betas", "tolerance", "message"),
    [
        ((0.5, 0.0), 1e-3, "at least two, increasing"),
        ((0.0,), 1e-3, "at least two, increasing"),
        ((0.0, 1.0), 0.0, "tolerance must be positive"),
    ],
)
def test_bad_input_is_one_error(betas, tolerance, message):
    with pytest.raises(ValueError, match=message):
        Refinement({b: [b] for b in betas}, tolerance)
    refinement = Refinement({0.0: [0.0], 1.0: [1.0]})
    with pytest.raises(ValueError, match="was not asked for"):
        refinement.add(0.3, [0.3])
