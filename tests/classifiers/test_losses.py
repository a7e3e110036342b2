"""Margin losses: values, derivatives in the score, label mapping and names."""

from __future__ import annotations

import numpy as np
import pytest

from backdoor_curves.classifiers.losses import get_loss, to_signed


@pytest.mark.parametrize(
    ("name", "y", "f", "expected"),
    [
        ("hinge", 1.0, 0.5, 0.5),
        ("hinge", -1.0, 0.5, 1.5),
        ("hinge", 1.0, 2.0, 0.0),
        ("logistic", 1.0, 0.0, np.log(2.0)),
        ("logistic", -1.0, 1.0, np.log1p(np.e)),
        ("logistic", 1.0, -1000.0, 1000.0),
        ("squared", 1.0, 0.5, 0.25),
        ("squared", -1.0, 0.5, 2.25),
    ],
)
def test_loss_values_at_known_points(name, y, f, expected):
    value = get_loss(name).value(np.array([y]), np.array([f]))
    np.testing.assert_allclose(value, [expected], rtol=1e-12)


@pytest.mark.parametrize("name", ["hinge", "logistic", "squared"])
def test_loss_derivatives_match_central_differences(name):
    rng = np.random.default_rng(0)
    loss = get_loss(name)
    y = np.where(rng.random(200) < 0.5, -1.0, 1.0)
    f = rng.uniform(-3.0, 3.0, 200)
    away_from_kink = np.abs(y * f - 1.0) > 0.05
    y, f = y[away_from_kink], f[away_from_kink]
    step = 1e-6

    def value(t):
        return loss.value(y, f + t)

    def first(t):
        return loss.first_derivative(y, f + t)

    first_fd = (value(step) - value(-step)) / (2 * step)
    second_fd = (first(step) - first(-step)) / (2 * step)
    np.testing.assert_allclose(loss.first_derivative(y, f), first_fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(loss.second_derivative(y, f), second_fd, rtol=1e-6, atol=1e-8)
    # Both derivatives must be informative on this grid, not vanish everywhere.
    assert np.abs(first_fd).max() > 0.1


def test_hinge_derivative_uses_the_active_set():
    loss = get_loss("hinge")
    y = np.array([1.0, 1.0, -1.0, -1.0])
    f = np.array([0.5, 1.5, 0.5, -1.5])
    np.testing.assert_array_equal(loss.first_derivative(y, f), [-1.0, 0.0, 1.0, 0.0])


def test_logistic_loss_is_stable_for_large_scores():
    loss = get_loss("logistic")
    y = np.array([1.0, 1.0, -1.0])
    f = np.array([-800.0, 800.0, 800.0])
    # Underflow to 0 is the right answer; overflow or NaN would be a bug.
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_allclose(loss.value(y, f), [800.0, 0.0, 800.0], atol=1e-300)
        np.testing.assert_allclose(loss.first_derivative(y, f), [-1.0, 0.0, 1.0])
        np.testing.assert_allclose(loss.second_derivative(y, f), [0.0, 0.0, 0.0])


def test_get_loss_rejects_unknown_name():
    with pytest.raises(ValueError, match=r"unknown loss 'cubic'.*hinge, logistic, squared"):
        get_loss("cubic")


def test_to_signed_maps_binary_labels():
    np.testing.assert_array_equal(to_signed(np.array([0, 1, 1, 0])), [-1.0, 1.0, 1.0, -1.0])


def test_to_signed_names_labels_other_than_zero_and_one():
    with pytest.raises(ValueError, match=r"must be 0 or 1, got \[2\]"):
        to_signed(np.array([0, 1, 2]))
