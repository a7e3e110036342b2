"""The tangent check of a learning curve: slope_fd, slope_ratio, tangent_valid_until."""

from __future__ import annotations

import numpy as np
import pytest

from backdoor_curves.analyses.tangent import (
    TANGENT_TOLERANCE,
    slope_fd,
    slope_ratio,
    tangent_valid_until,
)

TANGENT_BETAS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)


def line(slope: float, start: float = 2.0) -> list[float]:
    return [start + slope * beta for beta in TANGENT_BETAS]


@pytest.mark.parametrize(
    ("losses", "slope", "expected"),
    [
        (line(-0.5), -0.5, 1.0),
        # follows the tangent up to beta = 0.1, then flattens out
        ([2.0, 1.975, 1.95, 1.94, 1.93, 1.93], -0.5, 0.1),
        # the actual drop is 10x the predicted one at the first positive beta
        (line(-5.0), -0.5, 0.0),
        # within 10% everywhere (predicted drop 5% larger than the actual one)
        (line(-0.5), -0.525, 1.0),
        # misses at 0.2, agrees again at 0.5 and 1.0: validity ends at 0.1
        ([2.0, 1.975, 1.95, 1.96, 1.75, 1.5], -0.5, 0.1),
        # flat curve, zero slope: both drops vanish
        ([2.0] * len(TANGENT_BETAS), 0.0, 1.0),
        # flat curve, but a non-zero slope: misses at once
        ([2.0] * len(TANGENT_BETAS), -0.5, 0.0),
    ],
    ids=["line", "bends", "misses-first", "within-tolerance", "no-return", "flat", "flat-miss"],
)
def test_tangent_valid_until(losses: list[float], slope: float, expected: float) -> None:
    assert tangent_valid_until(TANGENT_BETAS, losses, slope) == expected


def test_tangent_valid_until_is_nan_for_an_undefined_slope() -> None:
    assert np.isnan(tangent_valid_until(TANGENT_BETAS, line(-0.5), float("nan")))


def test_tangent_tolerance_is_a_parameter() -> None:
    losses = [2.0, 1.975, 1.95, 1.94, 1.93, 1.93]
    assert tangent_valid_until(TANGENT_BETAS, losses, -0.5, tolerance=1.0) == 0.2


def test_slope_fd_is_the_first_difference_quotient() -> None:
    assert slope_fd(TANGENT_BETAS, line(-0.5)) == pytest.approx(-0.5)
    assert slope_fd((0.0, 0.25), (1.0, 2.0)) == 4.0
    assert np.isnan(slope_fd((0.0,), (1.0,)))


def test_slope_ratio_is_nan_for_a_flat_start() -> None:
    assert slope_ratio(-1.0, -0.5) == 2.0
    assert np.isnan(slope_ratio(-1.0, 0.0))
    assert np.isnan(slope_ratio(-1.0, float("nan")))


@pytest.mark.parametrize("curvature", [0.3, -0.3])
def test_validity_of_a_parabola_ends_where_the_closed_form_says(curvature: float) -> None:
    """``L = 2 + s b + c b^2`` misses its tangent by ``|c| b^2`` against a drop ``|s b + c b^2|``.

    With ``s = -1``, the tangent holds while ``|c| b <= tol |c b - 1|``: up to
    ``b* = tol / (|c| + tol c)`` (both signs of ``c``); the result is the last grid beta at or
    below ``b*``.
    """
    slope, tol = -1.0, TANGENT_TOLERANCE
    betas = np.linspace(0.0, 1.0, 201)
    losses = 2.0 + slope * betas + curvature * betas**2
    limit = tol / (abs(curvature) + tol * curvature)
    expected = betas[betas <= limit].max()
    assert tangent_valid_until(betas, losses, slope) == pytest.approx(expected)
    assert slope_fd(betas, losses) == pytest.approx(slope + curvature * betas[1])
