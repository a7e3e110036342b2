"""The analyses: tangent check (slope_fd, tangent_valid_until) and parameter deviation."""

from __future__ import annotations

import numpy as np
import pytest

from backdoor_curves.analyses import (
    parameter_deviation,
    slope_fd,
    slope_ratio,
    tangent_valid_until,
)
from backdoor_curves.classifiers.registry import make_classifier

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


@pytest.mark.parametrize(("name", "gamma"), [("svm", None), ("ridge", None), ("svm-rbf", 0.5)])
def test_parameter_deviation_matches_its_definition(name: str, gamma: float | None) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=40) > 0).astype(np.int64)
    weight = np.where(np.arange(40) < 8, 0.0, 1.0)
    reference = make_classifier(name, 1.0, gamma).fit(X, y, weight)
    model = make_classifier(name, 1.0, gamma).fit(X, y)
    nu, rho = parameter_deviation(reference, model)
    inner = reference.weight_inner(model)
    norms = np.sqrt(reference.weight_norm_sq() * model.weight_norm_sq())
    assert rho == pytest.approx(np.sqrt(model.weight_norm_sq()))
    assert nu == pytest.approx(0.5 * (1.0 - inner / norms))
    assert 0.0 <= nu <= 1.0
    assert parameter_deviation(model, model)[0] == pytest.approx(0.0, abs=1e-12)


def test_parameter_deviation_of_linear_weights_is_the_angle() -> None:
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    reference = make_classifier("ridge", 1.0).fit(X[:2], np.array([1, 0]))
    rotated = make_classifier("ridge", 1.0).fit(X[2:], np.array([1, 0]))
    nu, rho = parameter_deviation(reference, rotated)
    assert nu == pytest.approx(0.5)  # orthogonal weights: cos = 0
    assert rho == pytest.approx(np.linalg.norm(rotated.coef_))


@pytest.mark.parametrize(("name", "gamma"), [("ridge", None), ("svm", None), ("svm-rbf", 0.5)])
def test_parameter_deviation_reaches_one_for_opposite_weights(
    name: str, gamma: float | None
) -> None:
    """Labels flipped: ``w`` becomes ``-w`` (also in the RKHS), so ``cos = -1`` and ``nu = 1``."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=40) > 0).astype(np.int64)
    model = make_classifier(name, 1.0, gamma).fit(X, y)
    flipped = make_classifier(name, 1.0, gamma).fit(X, 1 - y)
    nu, rho = parameter_deviation(model, flipped)
    assert nu == pytest.approx(1.0, abs=1e-8)
    assert rho == pytest.approx(np.sqrt(model.weight_norm_sq()), rel=1e-8)
