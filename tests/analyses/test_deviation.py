"""Parameter deviation ``nu``, ``rho`` of a poisoned model from the unpoisoned one."""

from __future__ import annotations

import numpy as np
import pytest
from generated_data import random_problem
from sklearn.svm import SVC

from backdoor_curves.analyses.deviation import (
    deviation_from_products,
    parameter_deviation,
    path_deviation,
)
from backdoor_curves.classifiers.exact_path import exact_beta_path
from backdoor_curves.classifiers.kernels import rbf_kernel
from backdoor_curves.classifiers.registry import make_classifier


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


def test_rbf_deviation_is_the_rkhs_angle_of_independent_fits() -> None:
    """Oracle: scikit-learn's SVC duals ``c = alpha * y`` and ``<w, w'> = c^T K c'``.

    The reference (poisons weighted 0) is the SVC fitted on the clean points alone.
    """
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 3))
    y = (X[:, 0] * X[:, 1] + 0.2 * rng.normal(size=50) > 0).astype(np.int64)
    weight = np.where(np.arange(50) < 10, 0.0, 1.0)
    gamma, C = 0.5, 1.0
    nu, rho = parameter_deviation(
        make_classifier("svm-rbf", C, gamma).fit(X, y, weight),
        make_classifier("svm-rbf", C, gamma).fit(X, y),
    )
    duals = []
    for rows in (np.flatnonzero(weight), np.arange(len(X))):
        svc = SVC(C=C, gamma=gamma, tol=1e-12).fit(X[rows], y[rows])
        coef = np.zeros(len(X))
        coef[rows[svc.support_]] = svc.dual_coef_[0]
        duals.append(coef)
    K = rbf_kernel(X, X, gamma)
    inner, norm0, norm1 = duals[0] @ K @ duals[1], duals[0] @ K @ duals[0], duals[1] @ K @ duals[1]
    assert rho == pytest.approx(np.sqrt(norm1), rel=1e-6)
    assert nu == pytest.approx(0.5 * (1.0 - inner / np.sqrt(norm0 * norm1)), rel=1e-5, abs=1e-9)


@pytest.mark.parametrize(("name", "gamma"), [("svm", None), ("svm-rbf", 0.5)])
def test_path_deviation_equals_the_deviation_of_each_model(name: str, gamma: float | None) -> None:
    X, y, is_poison, _, _ = random_problem(np.random.default_rng(7), n=32)
    exact = exact_beta_path(make_classifier(name, 1.0, gamma), X, y, is_poison)
    betas = np.concatenate([exact.path.breakpoints, [0.05, 0.5]])
    nu, rho = path_deviation(exact.optima(betas))
    want = np.array([
        parameter_deviation(exact.start, exact.start if beta == 0.0 else exact.model_at(beta))
        for beta in betas
    ])  # fmt: skip
    np.testing.assert_allclose(rho, want[:, 1], rtol=1e-12)
    np.testing.assert_allclose(nu, want[:, 0], rtol=1e-12, atol=1e-14)
    assert nu[0] == pytest.approx(0.0, abs=1e-14) and nu[-1] > 1e-6


def test_deviation_from_products_is_undefined_for_a_zero_weight_vector() -> None:
    nu, rho = deviation_from_products(4.0, np.array([0.0, -6.0, 2.0]), np.array([0.0, 9.0, 1.0]))
    assert np.isnan(nu[0]) and rho[0] == 0.0
    np.testing.assert_allclose(nu[1:], [1.0, 0.0])  # opposite (cos -1), same direction (cos 1)
    np.testing.assert_allclose(rho[1:], [3.0, 1.0])
    nu, _ = deviation_from_products(0.0, np.array([0.0]), np.array([1.0]))
    assert np.isnan(nu[0])
