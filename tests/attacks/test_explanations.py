"""Tests of the explanation measures: input gradients, adjoint influence, shares.

Pixel gradients are checked against central differences (the gradients through a network in
``tests/classifiers/nn/test_input_gradients.py``); the adjoint influence against the forward
derivative of each model (one solve per training point) and against leave-one-out retraining.
"""

import numpy as np
import pytest
from scipy.stats import spearmanr

from backdoor_curves.attacks.explanations import (
    poison_share,
    top_k_influential,
    training_influence,
    trigger_share,
)
from backdoor_curves.classifiers import LogisticClassifier, RidgeClassifier
from backdoor_curves.classifiers.losses import to_signed
from backdoor_curves.classifiers.svm import RBFSVM, LinearSVM


def backdoor_blobs(n=40, d=4, n_poison=6, n_test=5, seed=0):
    """Two blobs along feature 0; poisons: class-0 copies with feature -1 = 2, label 1."""
    rng = np.random.default_rng(seed)
    y_clean = np.arange(n) % 2
    X_clean = 0.8 * rng.normal(size=(n, d))
    X_clean[:, 0] += np.where(y_clean == 1, 1.0, -1.0)
    poisons = X_clean[np.flatnonzero(y_clean == 0)[:n_poison]].copy()
    poisons[:, -1] = 2.0
    X = np.vstack([X_clean, poisons])
    y = np.concatenate([y_clean, np.ones(n_poison, dtype=np.int64)])
    is_poison = np.arange(n + n_poison) >= n
    X_test = 0.8 * rng.normal(size=(n_test, d))
    X_test[:, 0] -= 1.0
    X_test[:, -1] = 2.0
    return X, y, is_poison, X_test, np.ones(n_test, dtype=np.int64)


MODELS = {
    "linear-svm": lambda: LinearSVM(C=0.5),
    "rbf-svm": lambda: RBFSVM(C=1.0, gamma=0.3),
    "logistic": lambda: LogisticClassifier(C=1.0),
    "ridge": lambda: RidgeClassifier(C=1.0),
}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_adjoint_influence_equals_forward_derivative(name, beta):
    X, y, is_poison, X_test, y_test = backdoor_blobs()
    weight = np.where(is_poison, beta, 1.0)
    model = MODELS[name]().fit(X, y, weight)
    result = training_influence(model, X, y, weight, X_test, y_test)
    assert result.status == "ok"
    assert result.n_solves == len(X_test)
    forward = model.weight_sensitivity(X, y, weight, X_test, np.arange(len(X)))
    assert forward.status == "ok"
    expected = to_signed(y_test)[:, None] * forward.decision
    np.testing.assert_allclose(result.margin, expected, rtol=1e-7, atol=1e-9)
    assert np.abs(result.margin[:, is_poison]).max() > 0


def test_influence_matches_leave_one_out_retraining_logistic():
    X, y, is_poison, X_test, y_test = backdoor_blobs(n=30, d=3, n_poison=5, n_test=1)
    model = LogisticClassifier(C=1.0).fit(X, y)
    influence = training_influence(model, X, y, None, X_test, y_test).margin[0]
    base = model.decision_function(X_test)[0]
    removed = np.empty(len(X))
    for j in range(len(X)):
        weight = np.ones(len(X))
        weight[j] = 0.0
        refit = LogisticClassifier(C=1.0).fit(X, y, weight)
        removed[j] = base - refit.decision_function(X_test)[0]  # ~ d f / d s_j (target +1)
    top = top_k_influential(influence[None, :], 10)[0]
    assert spearmanr(influence[top], removed[top]).statistic > 0.9
    assert spearmanr(influence, removed).statistic > 0.9


def test_linear_gradient_is_the_weight_image():
    X, y, _, X_test, _ = backdoor_blobs()
    for model in (LinearSVM(C=0.5).fit(X, y), LogisticClassifier(C=1.0).fit(X, y)):
        np.testing.assert_array_equal(model.input_gradient(X_test), np.tile(model.coef_, (5, 1)))


def central_differences(f, X, step=1e-6):
    """``(f(x + h e_i) - f(x - h e_i)) / 2h`` for every row and coordinate, one call to ``f``."""
    n, d = X.shape
    offsets = step * np.eye(d)
    shifted = np.concatenate([X[:, None, :] + offsets, X[:, None, :] - offsets], axis=1)
    values = f(shifted.reshape(-1, d)).reshape(n, 2, d)
    return (values[:, 0] - values[:, 1]) / (2 * step)


def test_rbf_gradient_equals_central_differences():
    X, y, _, X_test, _ = backdoor_blobs()
    model = RBFSVM(C=1.0, gamma=0.3).fit(X, y)
    expected = central_differences(model.decision_function, X_test)
    np.testing.assert_allclose(model.input_gradient(X_test), expected, rtol=1e-6, atol=1e-8)


def test_trigger_share_and_poison_share():
    mask = np.zeros((1, 2, 2), dtype=bool)
    mask[0, 1, 1] = True
    gradient = np.array([[1.0, 1.0, 1.0, -3.0], [0.0, 0.0, 0.0, 0.0]])
    share = trigger_share(gradient, mask)
    assert share[0] == pytest.approx(0.5)
    assert np.isnan(share[1])
    influence = np.array([[0.1, -5.0, 2.0, 0.0], [3.0, 0.0, 0.0, 1.0]])
    top = top_k_influential(influence, 2)
    np.testing.assert_array_equal(top, [[1, 2], [0, 3]])
    np.testing.assert_allclose(poison_share(top, np.array([False, True, False, True])), [0.5, 0.5])


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="k must be an integer in \\[1, 4\\]"):
        top_k_influential(np.zeros((1, 4)), 5)
    with pytest.raises(ValueError, match="mask has 3 pixels"):
        trigger_share(np.ones((1, 4)), np.ones(3, dtype=bool))
