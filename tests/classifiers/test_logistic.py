"""The fitted logistic model is a stationary point of its objective, bias included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from backdoor_curves.classifiers.registry import make_classifier


def objective_gradient(
    model, X: np.ndarray, y: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, float]:
    """Gradient of ``1/2 ||w||^2 + C sum_i s_i log(1 + exp(-y_i f_i))`` (``y`` in {-1, 1})."""
    signed = np.where(y == 1, 1.0, -1.0)
    margin = signed * (X @ model.coef_ + model.intercept_)
    residual = -model.C * weight * signed * expit(-margin)
    return model.coef_ + X.T @ residual, float(residual.sum())


def test_on_constant_features_only_the_bias_moves_to_the_log_odds() -> None:
    """All-zero features, 40 / 10 labels: ``w = 0`` from the start and ``b = log(40 / 10)``."""
    X = np.zeros((50, 3))
    y = np.r_[np.ones(40), np.zeros(10)].astype(np.int64)
    model = make_classifier("logistic", 1.0).fit(X, y)
    np.testing.assert_array_equal(model.coef_, 0.0)
    assert model.intercept_ == pytest.approx(np.log(4.0), rel=1e-10)
    grad_w, grad_b = objective_gradient(model, X, y, np.ones(50))
    assert abs(grad_b) < 1e-8 and np.abs(grad_w).max() < 1e-8


@pytest.mark.parametrize("C", [1e-3, 1.0, 100.0])
def test_the_gradient_vanishes_in_every_component(C: float) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, 4)) + 0.5
    y = (X[:, 0] + rng.normal(size=60) > 0.8).astype(np.int64)
    weight = np.where(np.arange(60) < 6, 0.0, 1.0)
    model = make_classifier("logistic", C).fit(X, y, weight)
    grad_w, grad_b = objective_gradient(model, X, y, weight)
    scale = 1.0 + C * 60
    assert abs(grad_b) < 1e-8 * scale
    assert np.abs(grad_w).max() < 1e-8 * scale
