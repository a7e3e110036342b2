"""The logistic and ridge optima along beta: every point is a fresh exact fit, the tangent is
exact.

Oracles: independent cold fits (``fit`` with weights 1 / beta; ridge's fit solves the normal
equations, itself checked against scikit-learn's ``Ridge``) and their finite differences in
beta, and the learning slope at beta = 0 (the influence code).
"""

from __future__ import annotations

import numpy as np
import pytest

from backdoor_curves.attacks.influence import learning_slope
from backdoor_curves.classifiers.logistic import LogisticClassifier
from backdoor_curves.classifiers.logistic_path import LogisticPath
from backdoor_curves.classifiers.primal import PrimalLinearModel
from backdoor_curves.classifiers.primal_path import PrimalPath
from backdoor_curves.classifiers.ridge import RidgeClassifier, RidgePath

PATHS = {"logistic": (LogisticClassifier, LogisticPath), "ridge": (RidgeClassifier, RidgePath)}


def poisoned_blobs(seed: int, n: int, d: int) -> dict[str, np.ndarray]:
    """Two gaussian blobs; a tenth of class 0 carries a trigger (last feature 3) and label 1."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, d)) + np.where(y == 1, 0.8, -0.8)[:, None] * (np.arange(d) < 2)
    poisons = rng.choice(np.flatnonzero(y == 0), n // 10, replace=False)
    is_poison = np.zeros(n, dtype=bool)
    is_poison[poisons] = True
    X[poisons, -1], y[poisons] = 3.0, 1
    X_backdoor = rng.normal(size=(30, d)) - 0.8 * (np.arange(d) < 2)
    X_backdoor[:, -1] = 3.0
    X_test = rng.normal(size=(40, d)) + np.where(np.arange(40) % 2, 0.8, -0.8)[:, None] * (
        np.arange(d) < 2
    )
    return {
        "X": X, "y": y, "is_poison": is_poison,
        "X_backdoor": X_backdoor, "y_backdoor": np.ones(30, dtype=np.int64),
        "X_test": X_test, "y_test": np.arange(40) % 2,
    }  # fmt: skip


# (seed, n, d, C, precomputed): weight coordinates, representer coordinates, kernel rows.
CASES = {
    "low-dim": (0, 100, 8, 1.0, False),
    "high-dim": (1, 60, 90, 10.0, False),
    "precomputed": (2, 80, 20, 100.0, True),
}


def setting(case: str, kind: str = "logistic"):
    seed, n, d, C, precomputed = CASES[case]
    data = poisoned_blobs(seed, n, d)
    model = PATHS[kind][0](C, precomputed=precomputed)
    if precomputed:
        X = data["X"]
        data = dict(
            data, X=X @ X.T, X_backdoor=data["X_backdoor"] @ X.T, X_test=data["X_test"] @ X.T
        )
    return model, data


def make_path(kind: str, model: PrimalLinearModel, data) -> PrimalPath:
    return PATHS[kind][1](model, data["X"], data["y"], data["is_poison"])


def fresh(model: PrimalLinearModel, data, beta: float) -> PrimalLinearModel:
    weight = np.where(data["is_poison"], beta, 1.0)
    return model.with_params().fit(data["X"], data["y"], weight)


def losses(model: PrimalLinearModel, data) -> np.ndarray:
    return np.array([
        model.loss(data["X_backdoor"], data["y_backdoor"]).mean(),
        model.loss(data["X_test"], data["y_test"]).mean(),
    ])  # fmt: skip


def evaluation(data):
    return [(data["X_backdoor"], data["y_backdoor"]), (data["X_test"], data["y_test"])]


@pytest.mark.parametrize("kind", list(PATHS))
@pytest.mark.parametrize("case", list(CASES))
def test_each_point_is_a_fresh_exact_fit(case: str, kind: str) -> None:
    model, data = setting(case, kind)
    path = make_path(kind, model, data)
    point = None
    for beta in (0.0, 0.003, 0.05, 0.4, 1.0):  # steps from tiny to large
        point = path.optimum(beta, point)
        on_path, cold = path.model_at(point), fresh(model, data, beta)
        scale = np.abs(cold.dual_coef_).max()
        np.testing.assert_allclose(on_path.dual_coef_, cold.dual_coef_, rtol=0, atol=1e-8 * scale)
        assert on_path.intercept_ == pytest.approx(cold.intercept_, rel=1e-8, abs=1e-8)
        np.testing.assert_allclose(
            on_path.decision_function(data["X_test"]),
            cold.decision_function(data["X_test"]),
            rtol=1e-8, atol=1e-8,
        )  # fmt: skip
        assert on_path.exact_ and point.beta == beta


@pytest.mark.parametrize("kind", list(PATHS))
def test_the_tangent_is_the_derivative_of_refits(kind: str) -> None:
    """On weights (low-dim) the tangent is ``d [w, b] / d beta``: central differences."""
    model, data = setting("low-dim", kind)
    path = make_path(kind, model, data)
    delta = 1e-5
    for beta in (0.02, 0.3, 0.9):
        point = path.optimum(beta)
        plus, minus = fresh(model, data, beta + delta), fresh(model, data, beta - delta)
        difference = (
            np.append(plus.coef_, plus.intercept_) - np.append(minus.coef_, minus.intercept_)
        ) / (2 * delta)
        np.testing.assert_allclose(point.tangent, difference, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", list(PATHS))
@pytest.mark.parametrize("case", list(CASES))
def test_the_loss_derivatives_are_those_of_refits(case: str, kind: str) -> None:
    model, data = setting(case, kind)
    path = make_path(kind, model, data)
    delta = 1e-5
    # Ridge's curves are steep at 0 (high-dim: the one-sided difference's delta^2 term is 8e-4
    # of the slope at 1e-5): a shorter one-sided step (its fits are exact).
    zero_delta = 1e-6 if kind == "ridge" else delta
    start = path.optimum(0.0)
    for beta in (0.0, 0.1, 0.7):
        point = path.optimum(beta, start)
        values, derivatives = path.mean_losses(point, evaluation(data))
        np.testing.assert_allclose(values, losses(fresh(model, data, beta), data), rtol=1e-9)
        if beta == 0.0:  # one-sided, second order: (-3 L(0) + 4 L(d) - L(2 d)) / (2 d)
            one, two = (losses(fresh(model, data, k * zero_delta), data) for k in (1, 2))
            difference = (-3 * values + 4 * one - two) / (2 * zero_delta)
        else:
            plus, minus = (losses(fresh(model, data, beta + s * delta), data) for s in (1, -1))
            difference = (plus - minus) / (2 * delta)
        np.testing.assert_allclose(derivatives, difference, rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize("kind", list(PATHS))
@pytest.mark.parametrize("case", list(CASES))
def test_at_zero_the_backdoor_derivative_is_the_learning_slope(case: str, kind: str) -> None:
    model, data = setting(case, kind)
    path = make_path(kind, model, data)
    _, derivatives = path.mean_losses(path.optimum(0.0), evaluation(data))
    clean = fresh(model, data, 0.0)
    slope = learning_slope(
        clean, data["X"], data["y"], data["is_poison"], data["X_backdoor"], data["y_backdoor"]
    )
    assert derivatives[0] == pytest.approx(slope.slope, rel=1e-9)


@pytest.mark.parametrize("kind", list(PATHS))
def test_bad_input_is_refused(kind: str) -> None:
    model, data = setting("low-dim", kind)
    with pytest.raises(ValueError, match="no training point"):
        make_path(kind, model, dict(data, is_poison=np.zeros(data["y"].size, dtype=bool)))
    with pytest.raises(ValueError, match="C must be a positive"):
        make_path(kind, model.with_params(C=-1.0), data)
    path = make_path(kind, model, data)
    with pytest.raises(ValueError, match=r"beta values must lie in \[0, 1\]"):
        path.optimum(1.5)
