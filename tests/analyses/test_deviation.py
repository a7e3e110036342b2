"""Parameter deviation ``nu``, ``rho`` of a poisoned model from the unpoisoned one."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import SVC

from backdoor_curves.analyses.deviation import parameter_deviation
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
