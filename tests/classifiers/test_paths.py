"""Tests of the incremental beta paths and the parameter deviation (docs/method.md).

Every point of ``BinaryClassifier.beta_path`` must be the optimum an independent cold fit
with weights ``s_i = 1`` (clean) / ``beta`` (poison) finds; the ridge path must equal the
normal equations solved in the test; the deviation ``(nu, rho)`` must start at ``(0, ||w(0)||)``
and move continuously away from beta = 0 (no jump from misaligned dual coefficients).

The data are two gaussian blobs with 10% poisons: class-0 points carrying a trigger (a large
value of the last feature) and the flipped label 1. Two shapes: more points than features
(``low-dim``, where linear-SVM margin sets are degenerate) and more features than points
(``high-dim``, like pixels).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.svm import SVC

from backdoor_curves.analyses.deviation import parameter_deviation
from backdoor_curves.classifiers.base import BinaryClassifier, check_beta_path
from backdoor_curves.classifiers.registry import make_classifier

GAMMAS = {"svm": None, "svm-rbf": 0.05, "logistic": None, "ridge": None}
MODELS = tuple(GAMMAS)
C = 1.0
GRID = (0.0, 0.01, 0.02, 0.05, 0.1, 0.3, 0.6, 1.0)
TINY_BETAS = (0.0, 1e-6, 1e-4, 1e-2)
TRIGGER_VALUE = 3.0


@dataclass(frozen=True)
class Problem:
    """A poisoned binary training set and a test set (clean and triggered points)."""

    X: np.ndarray
    y: np.ndarray
    is_poison: np.ndarray
    X_test: np.ndarray


def blobs(rng: np.random.Generator, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Two unit gaussian blobs centred at -+1 on the first two features; labels 0, 1."""
    y = np.arange(n) % 2
    centre = np.zeros(d)
    centre[:2] = 1.0
    return rng.normal(size=(n, d)) + np.where(y == 1, 1.0, -1.0)[:, None] * centre, y


def make_problem(seed: int, n: int, d: int, poison_fraction: float = 0.1) -> Problem:
    """Blobs with ``poison_fraction * n`` triggered class-0 points relabelled 1."""
    rng = np.random.default_rng(seed)
    X, y = blobs(rng, n, d)
    poisons = rng.choice(np.flatnonzero(y == 0), round(poison_fraction * n), replace=False)
    is_poison = np.zeros(n, dtype=bool)
    is_poison[poisons] = True
    X[poisons, -1] = TRIGGER_VALUE
    y[poisons] = 1
    X_test, y_test = blobs(rng, 40, d)
    triggered = X_test[y_test == 0].copy()
    triggered[:, -1] = TRIGGER_VALUE
    return Problem(X, y, is_poison, np.vstack([X_test, triggered]))


PROBLEMS = {"low-dim": (0, 100, 8), "high-dim": (1, 80, 120)}


@pytest.fixture(scope="module", params=list(PROBLEMS))
def problem(request: pytest.FixtureRequest) -> Problem:
    return make_problem(*PROBLEMS[request.param])


@pytest.fixture(scope="module")
def low_dim() -> Problem:
    return make_problem(*PROBLEMS["low-dim"])


def weights(is_poison: np.ndarray, beta: float) -> np.ndarray:
    return np.where(is_poison, beta, 1.0)


def build(name: str) -> BinaryClassifier:
    return make_classifier(name, C, GAMMAS[name])


def explicit_rbf(A: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    """``exp(-gamma ||a - b||^2)`` by broadcasting (independent of the package's kernel)."""
    return np.exp(-gamma * ((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=-1))


def clean_norm(name: str, problem: Problem) -> float:
    """``||w||`` of the model fitted on the clean points only, computed in the test."""
    clean = ~problem.is_poison
    X, y = problem.X[clean], problem.y[clean]
    model = build(name).fit(X, y)
    if name == "svm-rbf":
        coef = model.dual_coef_
        return float(np.sqrt(coef @ explicit_rbf(X, X, GAMMAS[name]) @ coef))
    return float(np.linalg.norm(model.coef_))


def ridge_closed_form(X: np.ndarray, y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``[w, b]`` minimising ``1/2 ||w||^2 + C sum s_i (y_i - w.x_i - b)^2``, y_i in {-1, 1}."""
    X1 = np.hstack([X, np.ones((X.shape[0], 1))])
    signed = 2.0 * y - 1.0
    regulariser = np.eye(X1.shape[1])
    regulariser[-1, -1] = 0.0  # the bias is not regularised
    normal_matrix = regulariser + 2.0 * C * X1.T @ (weight[:, None] * X1)
    return np.linalg.solve(normal_matrix, 2.0 * C * X1.T @ (weight * signed))


def record_path(name: str, problem: Problem, betas) -> list[tuple[float, np.ndarray]]:
    """``(objective, test decision values)`` at every point of the path."""
    model = build(name)
    recorded = []
    for beta, fitted in zip(
        betas, model.beta_path(problem.X, problem.y, problem.is_poison, betas), strict=True
    ):
        assert fitted is model
        objective = fitted.objective(problem.X, problem.y, weights(problem.is_poison, beta))
        recorded.append((objective, fitted.decision_function(problem.X_test)))
    return recorded


def assert_same_optimum_as_cold_fits(name: str, problem: Problem, betas) -> None:
    for beta, (objective, decision) in zip(betas, record_path(name, problem, betas), strict=True):
        weight = weights(problem.is_poison, beta)
        cold = build(name).fit(problem.X, problem.y, sample_weight=weight)
        cold_decision = cold.decision_function(problem.X_test)
        assert objective == pytest.approx(cold.objective(problem.X, problem.y, weight), rel=1e-6)
        np.testing.assert_array_equal(decision > 0, cold_decision > 0, err_msg=f"beta={beta}")
        scale = max(1.0, float(np.abs(cold_decision).max()))
        np.testing.assert_allclose(decision, cold_decision, rtol=1e-6, atol=1e-6 * scale)


# ------------------------------------------------------------------------------ path = cold fits


@pytest.mark.parametrize("name", MODELS)
def test_every_path_point_is_the_cold_fit_optimum(name: str, problem: Problem) -> None:
    assert_same_optimum_as_cold_fits(name, problem, GRID)


@pytest.mark.parametrize("name", MODELS)
def test_a_decreasing_grid_reaches_the_same_optima(name: str, low_dim: Problem) -> None:
    assert_same_optimum_as_cold_fits(name, low_dim, GRID[::-1])


def test_ridge_path_equals_the_normal_equations(problem: Problem) -> None:
    model = build("ridge")
    path = model.beta_path(problem.X, problem.y, problem.is_poison, GRID)
    for beta, fitted in zip(GRID, path, strict=True):
        expected = ridge_closed_form(problem.X, problem.y, weights(problem.is_poison, beta))
        theta = np.append(fitted.coef_, fitted.intercept_)
        np.testing.assert_allclose(theta, expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())


# ------------------------------------------------------------------------------ exact SVM optima

SVM_CASES = [
    ("svm-rbf", "low-dim"),
    ("svm-rbf", "high-dim"),
    ("svm", "high-dim"),
    # More points than features: degenerate margin sets, where the primal-dual active set
    # gives up and the warm start continues with the primal active-set method.
    ("svm", "low-dim"),
]


def libsvm_reference_objective(name: str, problem: Problem, weight: np.ndarray) -> float:
    """Objective of scikit-learn's ``SVC`` solved to ``tol=1e-12`` (points of weight 0 dropped)."""
    keep = weight > 0
    X, y = problem.X[keep], problem.y[keep]
    kernel = {"svm": "linear", "svm-rbf": "rbf"}[name]
    gamma = GAMMAS[name] if name == "svm-rbf" else "scale"
    svc = SVC(C=C, kernel=kernel, gamma=gamma, tol=1e-12).fit(X, y, sample_weight=weight[keep])
    support = X[svc.support_]
    gram = support @ support.T if name == "svm" else explicit_rbf(support, support, gamma)
    coef = svc.dual_coef_.ravel()
    hinge = np.maximum(0.0, 1.0 - (2.0 * y - 1.0) * svc.decision_function(X))
    return float(0.5 * coef @ gram @ coef + C * weight[keep] @ hinge)


@pytest.mark.parametrize(("name", "shape"), SVM_CASES)
def test_svm_path_points_are_exact_optima(name: str, shape: str) -> None:
    problem = make_problem(*PROBLEMS[shape])
    model = build(name)
    path = model.beta_path(problem.X, problem.y, problem.is_poison, GRID)
    for beta, fitted in zip(GRID, path, strict=True):
        weight = weights(problem.is_poison, beta)
        assert fitted.exact_, f"beta={beta}: solver {fitted.solver_} left a KKT violation"
        reference = libsvm_reference_objective(name, problem, weight)
        assert fitted.objective(problem.X, problem.y, weight) <= reference * (1 + 1e-9)


# ------------------------------------------------------------------------------ incremental


@pytest.mark.parametrize(("name", "shape"), SVM_CASES)
def test_svm_path_is_followed_by_the_warm_started_active_set(name: str, shape: str) -> None:
    problem = make_problem(*PROBLEMS[shape])
    model = build(name)
    path = model.beta_path(problem.X, problem.y, problem.is_poison, GRID)
    solvers = [fitted.solver_ for fitted in path]
    assert set(solvers[1:]) <= {"active-set", "primal-active-set"}, solvers


def test_logistic_path_needs_fewer_newton_steps_than_cold_fits(low_dim: Problem) -> None:
    model = build("logistic")
    path = model.beta_path(low_dim.X, low_dim.y, low_dim.is_poison, GRID)
    path_steps = [fitted.n_iter_ for fitted in path][1:]
    cold_steps = [
        build("logistic").fit(low_dim.X, low_dim.y, weights(low_dim.is_poison, beta)).n_iter_
        for beta in GRID[1:]
    ]
    assert sum(path_steps) < sum(cold_steps)


@pytest.mark.parametrize("name", ["svm", "svm-rbf", "logistic", "ridge"])
def test_beta_path_starts_cold_whatever_the_model_holds(name: str, low_dim: Problem) -> None:
    # A path never warm-starts from a fit made before it: a model fitted elsewhere first
    # follows the same path as a fresh one.
    fresh = [
        fitted.decision_function(low_dim.X)
        for fitted in build(name).beta_path(low_dim.X, low_dim.y, low_dim.is_poison, GRID[:4])
    ]
    used = build(name).fit(low_dim.X, low_dim.y, weights(low_dim.is_poison, 1.0))
    again = [
        fitted.decision_function(low_dim.X)
        for fitted in used.beta_path(low_dim.X, low_dim.y, low_dim.is_poison, GRID[:4])
    ]
    np.testing.assert_array_equal(np.array(again), np.array(fresh))


# ------------------------------------------------------------------------------ bad input


def bad_path_inputs(problem: Problem) -> list[tuple[np.ndarray, tuple, str]]:
    """``(is_poison, betas, message pattern)`` of each invalid call."""
    mask, n = problem.is_poison, problem.X.shape[0]
    return [
        (mask, (), "empty"),
        (mask, (0.0, -0.1), r"\[0, 1\].*-0\.1"),
        (mask, (0.0, 1.5), r"\[0, 1\].*1\.5"),
        (mask, (0.0, float("nan")), r"\[0, 1\].*nan"),
        (mask.astype(np.int64), GRID, r"bool mask.*int64"),
        (mask[:-1], GRID, rf"bool mask of shape \({n},\).*\({n - 1},\)"),
        (np.zeros(n, dtype=bool), GRID, "no training point"),
    ]


BAD_IDS = ["empty-grid", "negative", "above-one", "nan", "int-mask", "short-mask", "no-poison"]


@pytest.mark.parametrize("case", range(len(BAD_IDS)), ids=BAD_IDS)
@pytest.mark.parametrize("name", MODELS)
def test_beta_path_rejects_bad_input(name: str, case: int, low_dim: Problem) -> None:
    is_poison, betas, pattern = bad_path_inputs(low_dim)[case]
    model = build(name)
    with pytest.raises(ValueError, match=pattern):
        next(model.beta_path(low_dim.X, low_dim.y, is_poison, betas))
    assert not hasattr(model, "coef_") and not hasattr(model, "dual_coef_")


@pytest.mark.parametrize("case", range(len(BAD_IDS)), ids=BAD_IDS)
def test_check_beta_path_rejects_bad_input(case: int, low_dim: Problem) -> None:
    is_poison, betas, pattern = bad_path_inputs(low_dim)[case]
    with pytest.raises(ValueError, match=pattern):
        check_beta_path(low_dim.X, is_poison, betas)


def test_check_beta_path_returns_the_mask(low_dim: Problem) -> None:
    mask = check_beta_path(low_dim.X, list(low_dim.is_poison), np.array(GRID))
    np.testing.assert_array_equal(mask, low_dim.is_poison)
    assert mask.dtype == bool


# ------------------------------------------------------------------------------ deviation


def deviation_path(name: str, problem: Problem, betas) -> tuple[np.ndarray, np.ndarray]:
    """``nu`` and ``rho`` along the path, against its own beta = 0 model."""
    model = build(name)
    reference = None
    nu, rho = [], []
    for fitted in model.beta_path(problem.X, problem.y, problem.is_poison, betas):
        reference = reference or copy.deepcopy(fitted)
        point = parameter_deviation(reference, fitted)
        nu.append(point[0])
        rho.append(point[1])
    return np.array(nu), np.array(rho)


@pytest.mark.parametrize("name", MODELS)
def test_deviation_starts_at_zero_and_the_clean_norm(name: str, low_dim: Problem) -> None:
    nu, rho = deviation_path(name, low_dim, (0.0, 0.1, 1.0))
    assert nu[0] == pytest.approx(0.0, abs=1e-12)
    assert rho[0] == pytest.approx(clean_norm(name, low_dim), rel=1e-6)
    assert ((nu >= 0) & (nu <= 1)).all() and (rho > 0).all()
    assert nu[-1] > 1e-6, "the poisons must rotate the weights"


@pytest.mark.parametrize("name", MODELS)
def test_nu_has_no_jump_at_the_first_positive_beta(name: str, low_dim: Problem) -> None:
    nu, _ = deviation_path(name, low_dim, TINY_BETAS)
    assert nu[1] < 1e-6
    assert (np.diff(nu) >= -1e-12).all(), nu


def test_rbf_weight_inner_is_the_rkhs_inner_product_over_the_full_index_set(
    low_dim: Problem,
) -> None:
    betas = (0.0, 0.3)
    model = build("svm-rbf")
    path = model.beta_path(low_dim.X, low_dim.y, low_dim.is_poison, betas)
    clean, poisoned = (copy.deepcopy(fitted) for fitted in path)
    n = low_dim.X.shape[0]
    assert clean.dual_coef_.shape == poisoned.dual_coef_.shape == (n,)
    assert (clean.dual_coef_[low_dim.is_poison] == 0).all()
    assert (poisoned.dual_coef_[low_dim.is_poison] != 0).any()
    K = explicit_rbf(low_dim.X, low_dim.X, GAMMAS["svm-rbf"])
    a, b = clean.dual_coef_, poisoned.dual_coef_
    assert clean.weight_inner(poisoned) == pytest.approx(a @ K @ b, rel=1e-10)
    assert poisoned.weight_inner(clean) == pytest.approx(a @ K @ b, rel=1e-10)
    assert clean.weight_norm_sq() == pytest.approx(a @ K @ a, rel=1e-10)
    assert poisoned.weight_norm_sq() == pytest.approx(b @ K @ b, rel=1e-10)
