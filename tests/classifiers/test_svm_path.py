"""The exact SVM path along beta: every point of it is a fresh exact fit, breakpoints included."""

from __future__ import annotations

import numpy as np
import pytest
from generated_data import random_problem

from backdoor_curves.classifiers.dual import dual_sets
from backdoor_curves.classifiers.exact_path import exact_beta_path
from backdoor_curves.classifiers.svm import RBFSVM, LinearSVM
from backdoor_curves.classifiers.svm_path import PATH_DEGENERATE_STATUS, follow_beta_path

MODELS = {
    "linear-svm": lambda C: LinearSVM(C=C),
    "rbf-svm": lambda C: RBFSVM(C=C, gamma=0.3),
}


def fresh(name: str, C: float, X, y, is_poison, beta: float):
    return MODELS[name](C).fit(X, y, np.where(is_poison, beta, 1.0))


@pytest.mark.parametrize("grid", [False, True], ids=["blobs", "integer-grid"])
@pytest.mark.parametrize("name", MODELS)
def test_the_path_equals_fresh_exact_fits_at_random_betas(name, grid, global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    C = float(rng.choice([0.1, 1.0, 10.0]))
    X, y, is_poison, X_backdoor, _ = random_problem(rng, n=40, grid=grid)
    path = exact_beta_path(MODELS[name](C), X, y, is_poison)
    assert path.path.status in ("ok", PATH_DEGENERATE_STATUS)
    assert path.path.breakpoints[0] == 0.0 and path.path.breakpoints[-1] == 1.0
    for beta in [*rng.uniform(0.0, 1.0, 6), 1.0]:
        on_path = path.model_at(beta)
        expected = fresh(name, C, X, y, is_poison, beta)
        assert on_path.exact_ and expected.exact_
        got, want = on_path.decision_function(X_backdoor), expected.decision_function(X_backdoor)
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8 * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("name", MODELS)
def test_breakpoints_are_where_a_fresh_fit_changes_its_sets(name):
    # Bisection oracle: between two breakpoints fresh fits keep one margin set; across each
    # breakpoint they change it.
    X, y, is_poison, _, _ = random_problem(np.random.default_rng(3), n=32)
    C = 1.0
    path = exact_beta_path(MODELS[name](C), X, y, is_poison).path
    assert path.status == "ok" and path.inner_breakpoints.size >= 3

    def sets(beta: float) -> tuple[bytes, bytes]:
        model = fresh(name, C, X, y, is_poison, beta)
        margin, error = dual_sets(model.alpha_, model.upper_)
        return margin.tobytes(), error.tobytes()

    edges = path.breakpoints
    for start, end in zip(edges[:-1], edges[1:], strict=True):
        width = end - start
        inner = [start + width * fraction for fraction in (0.1, 0.5, 0.9)]
        assert len({sets(beta) for beta in inner}) == 1, (start, end)
    for breakpoint in path.inner_breakpoints:
        step = 1e-6 * max(breakpoint, 1e-3)
        assert sets(breakpoint - step) != sets(breakpoint + step), breakpoint


def test_a_path_with_no_poison_weight_to_move_has_one_piece():
    # Poisons already outside the margin at beta = 0 that stay reserve points: nothing
    # changes, one affine piece with zero slope.
    X = np.array([[-2.0], [-1.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1, 1])
    is_poison = np.array([False, False, False, False, True])
    path = exact_beta_path(LinearSVM(C=1.0), X, y, is_poison).path
    assert path.inner_breakpoints.size == 0 and path.status == "ok"
    np.testing.assert_array_equal(path.d_alpha, 0.0)


def test_a_known_event_on_a_constructed_problem():
    # 1-D, C = 10: clean x = -1 (label -1) and x = 1 (+1) are margin vectors (w = 1, b = 0,
    # alpha = 1/2 each); a poison at x = 0.5 labelled -1 violates the margin (y f = -1/2), so
    # for beta > 0 it is an error vector, alpha_p = 10 beta. With both clean points on their
    # margins w = 1 and b = 0 stay, and the KKT system gives
    #   alpha_1 + alpha_2 - alpha_p / 2 = 1,   alpha_2 - alpha_1 - alpha_p = 0,
    # i.e. alpha_1 = (1 - alpha_p / 2) / 2 and alpha_2 = (1 + 3 alpha_p / 2) / 2: alpha_1
    # reaches 0 at alpha_p = 2, the first breakpoint beta = 0.2.
    X = np.array([[-1.0], [1.0], [0.5]])
    y = np.array([0, 1, 0])
    is_poison = np.array([False, False, True])
    path = exact_beta_path(LinearSVM(C=10.0), X, y, is_poison)
    assert path.path.breakpoints[1] == pytest.approx(0.2, rel=1e-12)
    for beta in (0.05, 0.15):
        model = path.model_at(beta)
        alpha_p = 10.0 * beta
        expected = [(1 - alpha_p / 2) / 2, (1 + 1.5 * alpha_p) / 2, alpha_p]
        np.testing.assert_allclose(model.alpha_, expected, rtol=1e-12)
        np.testing.assert_allclose(model.decision_function(X[:2]), [-1.0, 1.0], atol=1e-12)
    for beta in (0.1, 0.6):
        want = fresh("linear-svm", 10.0, X, y, is_poison, beta).decision_function(X)
        np.testing.assert_allclose(path.model_at(beta).decision_function(X), want, atol=1e-10)


def test_bad_paths_are_refused():
    K, y = np.eye(2), np.array([-1.0, 1.0])
    with pytest.raises(ValueError, match="beta_end must exceed beta_start"):
        follow_beta_path(K, y, np.ones(2), np.zeros(2), np.zeros(2), 0.0, 0.0)
    with pytest.raises(ValueError, match="d_upper must be non-negative"):
        follow_beta_path(K, y, np.ones(2), -np.ones(2), np.zeros(2), 0.0, 1.0)
    with pytest.raises(ValueError, match="outside the path"):
        exact_beta_path(LinearSVM(C=1.0), np.array([[-1.0], [1.0], [0.5]]), np.array([0, 1, 0]),
                        np.array([False, False, True])).path.at(1.5)  # fmt: skip


def test_many_betas_at_once_equal_one_at_a_time():
    X, y, is_poison, _, _ = random_problem(np.random.default_rng(4), n=32)
    path = exact_beta_path(RBFSVM(C=1.0, gamma=0.3), X, y, is_poison).path
    betas = np.concatenate([path.breakpoints, np.linspace(0.0, 1.0, 7)])
    alpha, intercept = path.at_betas(betas)
    for row, beta in enumerate(betas):
        one_alpha, one_intercept = path.at(beta)
        np.testing.assert_array_equal(alpha[row], one_alpha)
        assert intercept[row] == one_intercept
    starts = path.breakpoints[:-1]
    np.testing.assert_array_equal(path.pieces(starts), np.arange(starts.size))
