"""Property tests: the learning slope equals finite differences of retraining.

Random small problems drawn from a rotating seed (``global_random_seed``, see conftest), for
all four models, including degenerate SVM problems: balanced classes at a tiny ``C`` (every
point a bounded support vector, so the bias is an interval at ``beta = 0``) and points on an
integer grid (ties on the margin). The finite differences are one-sided,
extrapolated from refits at ``beta = delta, 2 delta, 3 delta``, so one of them does not
depend on which optimum a fit at ``beta = 0`` picks where that optimum is not unique.
"""

import numpy as np
import pytest

from backdoor_curves.attacks.influence import learning_slope
from backdoor_curves.attacks.status import slope_is_defined
from backdoor_curves.classifiers import LogisticClassifier, RidgeClassifier
from backdoor_curves.classifiers.svm import ONE_SIDED_STATUS, RBFSVM, LinearSVM

MODELS = {
    "svm": lambda C: LinearSVM(C=C),
    "svm-rbf": lambda C: RBFSVM(C=C, gamma=0.3),
    "logistic": lambda C: LogisticClassifier(C=C),
    "ridge": lambda C: RidgeClassifier(C=C),
}


def random_problem(rng, *, n=24, d=3, grid=False):
    """Balanced clean blobs (or integer-grid points) plus appended triggered poisons.

    Clean points alternate labels 0, 1 and carry small noise on the trigger feature (the
    last one); the ``n // 4`` poisons are class-0 copies with the trigger feature set to 2,
    relabelled 1. Returns X, y, is_poison, X_backdoor, y_backdoor.
    """
    y = np.arange(n) % 2
    if grid:
        X = rng.integers(-2, 3, size=(n, d)).astype(np.float64)
        X[:, 0] += np.where(y == 1, 2.0, -2.0)
        X[:, -1] = 0.0
    else:
        X = rng.normal(scale=rng.uniform(0.5, 1.2), size=(n, d))
        X[:, 0] += np.where(y == 1, 1.0, -1.0)
        X[:, -1] = 0.3 * rng.normal(size=n)
    poisons = X[np.flatnonzero(y == 0)[: n // 4]].copy()
    poisons[:, -1] = 2.0
    is_poison = np.arange(n + len(poisons)) >= n
    X = np.vstack([X, poisons])
    y = np.concatenate([y, np.ones(len(poisons), dtype=np.int64)])
    X_backdoor = rng.normal(size=(12, d))
    X_backdoor[:, 0] -= 1.0
    X_backdoor[:, -1] = 2.0
    return X, y, is_poison, X_backdoor, np.ones(12, dtype=np.int64)


def backdoor_loss(model, problem, beta):
    X, y, is_poison, X_backdoor, y_backdoor = problem
    model.fit(X, y, np.where(is_poison, beta, 1.0))
    return model.loss(X_backdoor, y_backdoor).mean()


def check_slope(name, C, problem):
    """Fit at ``beta = 0``; the slope must equal two one-sided difference quotients.

    With ``L_k = L_bt(k delta)`` (refits at ``k = 1, 2, 3``), the quadratic extrapolation
    ``(-5 L_1 + 8 L_2 - 3 L_3) / (2 delta)`` never touches ``beta = 0``; the Richardson
    quotient ``2 (L_1 - L_0) / delta - (L_2 - L_0) / (2 delta)`` starts from the slope's own
    base point ``L_0`` (the right limit). Both cancel the curvature term of smooth models;
    for the SVMs the path is linear on ``(0, 3 delta]`` and they are exact.
    """
    X, y, is_poison, X_backdoor, y_backdoor = problem
    model = MODELS[name](C).fit(X, y, np.where(is_poison, 0.0, 1.0))
    result = learning_slope(model, X, y, is_poison, X_backdoor, y_backdoor)
    assert slope_is_defined(result.status), result.status
    assert np.isfinite(result.slope)
    delta = 1e-6
    L1, L2, L3 = (backdoor_loss(MODELS[name](C), problem, k * delta) for k in (1, 2, 3))
    away_from_zero = (-5 * L1 + 8 * L2 - 3 * L3) / (2 * delta)
    L0 = result.backdoor_loss
    from_base = 2 * (L1 - L0) / delta - (L2 - L0) / (2 * delta)
    assert result.slope == pytest.approx(away_from_zero, rel=1e-4, abs=1e-6)
    assert result.slope == pytest.approx(from_base, rel=1e-4, abs=1e-6)
    return result


@pytest.mark.parametrize("name", MODELS)
def test_slope_matches_finite_differences_on_random_problems(name, global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    C = float(10.0 ** rng.uniform(-1, 1))
    check_slope(name, C, random_problem(rng, d=int(rng.integers(2, 5))))


@pytest.mark.parametrize("name", ["svm", "svm-rbf"])
def test_one_sided_slope_when_every_point_is_bounded(name, global_random_seed):
    # Balanced classes and C = 1e-4: no free alpha, the bias is an interval at beta = 0.
    rng = np.random.default_rng(global_random_seed)
    result = check_slope(name, 1e-4, random_problem(rng))
    assert result.status.startswith(ONE_SIDED_STATUS)


@pytest.mark.parametrize("name", ["svm", "svm-rbf"])
def test_slope_on_integer_grid_problems(name, global_random_seed):
    # Integer coordinates put several points exactly on the margin (ties).
    rng = np.random.default_rng(global_random_seed)
    C = float(rng.choice([0.05, 0.3, 1.0, 5.0]))
    check_slope(name, C, random_problem(rng, grid=True))


# Fixed seeds of integer-grid problems at C = 10 where the active-set fit ends with alphas
# within 1e-4 of a bound (and clipped onto it), so the set its last KKT factor was built over
# differs from the free set of the returned alpha.
NEAR_BOUND_SEEDS = (0, 1, 90)


@pytest.mark.parametrize("seed", NEAR_BOUND_SEEDS)
def test_stored_kkt_factor_solves_the_system_of_its_own_margin_set(seed):
    X, y, is_poison, _, _ = random_problem(np.random.default_rng(seed), n=30, grid=True)
    model = LinearSVM(C=10.0).fit(X, y, np.where(is_poison, 0.0, 1.0))
    margin_set, factor = model._kkt
    assert factor is not None
    signed = np.where(y == 1, 1.0, -1.0)[margin_set]
    Q = np.outer(signed, signed) * (X[margin_set] @ X[margin_set].T)
    rng = np.random.default_rng(seed)
    v, t = rng.normal(size=margin_set.size), 0.7
    a, c = factor.solve(Q @ v + signed * t, float(signed @ v))
    # Any solution of a consistent system reproduces its right-hand side.
    np.testing.assert_allclose(Q @ a + signed * float(c), Q @ v + signed * t, atol=1e-8)
    assert float(signed @ a) == pytest.approx(float(signed @ v), abs=1e-8)


def test_linear_svm_slope_with_alphas_within_tolerance_of_their_bounds():
    rng = np.random.default_rng(90)
    problem = random_problem(rng, n=30, grid=True)
    X, y, is_poison, _, _ = problem
    model = LinearSVM(C=10.0).fit(X, y, np.where(is_poison, 0.0, 1.0))
    alpha, upper = model.alpha_, model.upper_
    inside = (alpha > 0) & (alpha < upper)
    assert (inside & ((alpha < 1e-4) | (upper - alpha < 1e-4))).any()
    check_slope("svm", 10.0, problem)


# A fixed problem (not a rotating seed) on which the bias jumps at beta = 0: no free alpha,
# b(0+) != b(0). Dropping the jump term from the slope changes it for both SVMs here.
BIAS_JUMP_SEED = 9


@pytest.mark.parametrize("name", ["svm", "svm-rbf"])
def test_one_sided_slope_where_the_bias_jumps_equals_the_right_difference(name):
    problem = random_problem(np.random.default_rng(BIAS_JUMP_SEED))
    X, y, is_poison, X_backdoor, _ = problem
    weight = np.where(is_poison, 0.0, 1.0)
    model = MODELS[name](1e-4).fit(X, y, weight)
    at_bound = np.isclose(model.alpha_, 0.0, atol=1e-15) | np.isclose(model.alpha_, model.upper_)
    assert at_bound.all()  # no free alpha: the bias is an interval at beta = 0
    sensitivity = model.weight_sensitivity(X, y, weight, X_backdoor, np.flatnonzero(is_poison))
    assert abs(sensitivity.offset) > 0.1  # b(0+) - b(0): the bias jumps
    result = check_slope(name, 1e-4, problem)
    assert result.status.startswith(ONE_SIDED_STATUS)
