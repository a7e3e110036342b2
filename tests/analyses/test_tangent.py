"""The tangent check of a learning curve: slope_fd, slope_ratio, tangent_valid_until."""

from __future__ import annotations

import numpy as np
import pytest

from backdoor_curves.analyses.tangent import (
    TANGENT_TOLERANCE,
    breakpoint_tangent_valid_until,
    hinge_tangent_valid_until,
    slope_fd,
    slope_ratio,
    smooth_tangent_valid_until,
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


@pytest.mark.parametrize("curvature", [0.3, -0.3, 40.0])
@pytest.mark.parametrize("n_rows", [3, 11, 201])
def test_the_smooth_validity_range_is_the_root_of_the_miss(curvature: float, n_rows: int) -> None:
    """The parabola above, evaluated with its derivative between rows: ``b*`` itself."""
    slope, tol = -1.0, TANGENT_TOLERANCE
    betas = np.linspace(0.0, 1.0, n_rows)
    losses = 2.0 + slope * betas + curvature * betas**2
    calls: list[float] = []

    def loss_at(beta: float) -> tuple[float, float]:
        calls.append(beta)
        return 2.0 + slope * beta + curvature * beta**2, slope + 2.0 * curvature * beta

    limit = tol / (abs(curvature) + tol * curvature)
    valid = smooth_tangent_valid_until(betas, losses, slope, loss_at)
    assert valid == pytest.approx(limit, rel=1e-11)
    # Only between the two rows around the limit, in a few Newton steps (on m / beta: exact
    # for the parabola's miss up to its kinks).
    assert all(betas[betas <= limit].max() < beta < betas[betas > limit].min() for beta in calls)
    assert 0 < len(calls) <= 6


def test_a_smooth_tangent_that_holds_everywhere_or_is_undefined() -> None:
    betas = np.linspace(0.0, 1.0, 5)

    def loss_at(beta: float) -> tuple[float, float]:
        raise AssertionError("nothing to refine")

    assert smooth_tangent_valid_until(betas, 2.0 - betas, -1.0, loss_at) == 1.0
    assert np.isnan(smooth_tangent_valid_until(betas, 2.0 - betas, float("nan"), loss_at))


# One backdoor point (y = +1) whose score rises from -1 to 3 along beta in [0, 1]: its hinge
# loss 2 - 4 beta reaches 0 at beta = 0.5 and stays there. The tangent (slope -4) predicts a
# drop of 4 beta against the actual 2: 10% off at 4 beta - 2 = 0.1 * 2, beta = 0.55.
ONE_POINT = (np.array([[-1.0], [3.0]]), np.array([1.0]), -4.0)


@pytest.mark.parametrize("betas", [[0.0, 1.0], [0.0, 0.25, 1.0], [0.0, 0.5, 0.6, 1.0]])
def test_the_hinge_validity_range_is_exact_between_the_given_betas(betas: list[float]) -> None:
    scores = np.interp(betas, [0.0, 1.0], ONE_POINT[0][:, 0])[:, None]
    valid = hinge_tangent_valid_until(betas, scores, ONE_POINT[1], ONE_POINT[2])
    assert valid == pytest.approx(0.55, rel=1e-12)
    losses = np.maximum(1.0 - scores[:, 0], 0.0)
    # Checked at the given betas only, the range ends at the last one where it holds.
    assert tangent_valid_until(betas, losses, ONE_POINT[2]) == max(b for b in betas if b < 0.55)


def test_the_hinge_validity_range_of_two_points_ends_between_their_kinks() -> None:
    # Scores -1 + 4 beta (kink at 0.5) and 0.5 + beta (kink at 0.5 too, loss 0.5 - beta):
    # L = (2.5 - 5 beta) / 2 up to 0.5, then 0; slope -2.5; the tangent's error
    # 2.5 beta - 1.25 reaches 0.1 * 1.25 at beta = 0.55.
    scores = np.array([[-1.0, 0.5], [3.0, 1.5]])
    valid = hinge_tangent_valid_until([0.0, 1.0], scores, np.array([1.0, 1.0]), -2.5)
    assert valid == pytest.approx(0.55, rel=1e-12)


def test_a_hinge_tangent_that_holds_everywhere_or_is_undefined() -> None:
    scores, signed, _ = ONE_POINT
    # Up to beta = 0.5 the loss is its tangent: valid up to the last beta given.
    half = np.array([[-1.0], [1.0]])
    assert hinge_tangent_valid_until([0.0, 0.5], half, signed, -4.0) == 0.5
    assert np.isnan(hinge_tangent_valid_until([0.0, 1.0], scores, signed, float("nan")))


@pytest.mark.parametrize(
    ("breakpoints", "expected"),
    [
        # ONE_POINT leaves its tangent at 0.55: the first breakpoint past it.
        ([0.3, 0.5, 0.6, 0.8], 0.6),
        ([0.56], 0.56),
        # No breakpoint where it has left: the end of the last piece, the last beta.
        ([0.3, 0.5], 1.0),
        ([], 1.0),
    ],
)
def test_the_breakpoint_validity_range_is_the_first_breakpoint_past_the_crossing(
    breakpoints: list[float], expected: float
) -> None:
    betas = sorted({0.0, 0.25, 1.0, *breakpoints})
    scores = np.interp(betas, [0.0, 1.0], ONE_POINT[0][:, 0])[:, None]
    losses = np.maximum(1.0 - scores[:, 0], 0.0)
    valid = breakpoint_tangent_valid_until(betas, losses, breakpoints, ONE_POINT[2])
    assert valid == expected
    crossing = hinge_tangent_valid_until(betas, scores, ONE_POINT[1], ONE_POINT[2])
    assert crossing == pytest.approx(0.55, rel=1e-12) and crossing <= valid + 1e-15


def test_the_breakpoint_validity_range_checks_its_breakpoints() -> None:
    betas, losses = [0.0, 0.5, 1.0], [2.0, 0.0, 0.0]
    assert np.isnan(breakpoint_tangent_valid_until(betas, losses, [0.5], float("nan")))
    for breakpoints in ([0.4], [0.0], [1.5]):
        with pytest.raises(ValueError, match="every breakpoint must be one of the betas"):
            breakpoint_tangent_valid_until(betas, losses, breakpoints, -4.0)
