"""Tests of the backdoor learning slope and the influence of sample weights.

The slope and the weight sensitivities are checked against the ridge closed form, against
finite differences of actually refitted models (all four models), and against
leave-one-out retraining (Pearson and Spearman correlation, as in torch-influence).
"""

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from backdoor_curves.attacks.influence import learning_slope, normalised_slope
from backdoor_curves.attacks.status import slope_is_defined
from backdoor_curves.classifiers import LogisticClassifier, RidgeClassifier
from backdoor_curves.classifiers.losses import to_signed
from backdoor_curves.classifiers.svm import ONE_SIDED_STATUS, RBFSVM, LinearSVM, dual_sets

TRIGGER_VALUE = 2.0


def blobs(n, d, rng):
    """Two gaussian blobs (std 0.8) at -1 and +1 on feature 0; labels alternate 0, 1, ..."""
    y = np.arange(n) % 2
    X = 0.8 * rng.normal(size=(n, d))
    X[:, 0] += np.where(y == 1, 1.0, -1.0)
    return X, y


def backdoor_problem(n=40, d=3, n_poison=6, n_test=20, seed=0):
    """Gaussian blobs with a backdoor on the last feature.

    Clean points: classes 0 and 1 shifted along feature 0. Poisons: copies of class-0
    training points with the trigger feature set to a constant, relabelled 1. Backdoor test
    set: fresh class-0 points with the trigger, target label 1.

    Returns
    -------
    X, y, is_poison, X_backdoor, y_backdoor
    """
    rng = np.random.default_rng(seed)
    X_clean, y_clean = blobs(n, d, rng)
    poisons = X_clean[np.flatnonzero(y_clean == 0)[:n_poison]].copy()
    poisons[:, -1] = TRIGGER_VALUE
    X = np.vstack([X_clean, poisons])
    y = np.concatenate([y_clean, np.ones(n_poison, dtype=np.int64)])
    is_poison = np.arange(n + n_poison) >= n
    X_backdoor = 0.8 * rng.normal(size=(n_test, d))
    X_backdoor[:, 0] -= 1.0
    X_backdoor[:, -1] = TRIGGER_VALUE
    return X, y, is_poison, X_backdoor, np.ones(n_test, dtype=np.int64)


def poison_weight(is_poison, beta):
    return np.where(is_poison, beta, 1.0)


MODELS = {
    "linear-svm": lambda: LinearSVM(C=0.1),
    "rbf-svm": lambda: RBFSVM(C=1.0, gamma=0.5),
    "logistic": lambda: LogisticClassifier(C=1.0),
    "ridge": lambda: RidgeClassifier(C=1.0),
}


def finite_difference_slope(make_model, problem, delta):
    """``(L_bt(delta) - L_bt(0)) / delta`` of models refitted at both weights."""
    X, y, is_poison, X_backdoor, y_backdoor = problem
    clean = make_model().fit(X, y, poison_weight(is_poison, 0.0))
    poisoned = make_model().fit(X, y, poison_weight(is_poison, delta))
    loss_clean = clean.loss(X_backdoor, y_backdoor).mean()
    return (poisoned.loss(X_backdoor, y_backdoor).mean() - loss_clean) / delta


# ------------------------------------------------------------------------------ learning slope


@pytest.mark.parametrize("name", MODELS)
def test_learning_slope_matches_finite_differences_of_retraining(name):
    problem = backdoor_problem()
    X, y, is_poison, X_backdoor, y_backdoor = problem
    model = MODELS[name]().fit(X, y, poison_weight(is_poison, 0.0))
    result = learning_slope(model, X, y, is_poison, X_backdoor, y_backdoor)
    expected = finite_difference_slope(MODELS[name], problem, delta=1e-6)
    assert result.status == "ok"
    assert result.slope < -1e-3
    assert abs(result.slope - expected) <= 1e-2 * abs(expected)
    assert result.influence.shape == (len(y_backdoor), is_poison.sum())
    assert result.slope == pytest.approx(result.influence.sum(axis=1).mean(), rel=1e-12)
    assert result.theta == pytest.approx(-(2 / np.pi) * np.arctan(result.slope), rel=1e-12)
    assert 0.0 < result.theta < 1.0
    assert result.backdoor_loss == pytest.approx(model.loss(X_backdoor, y_backdoor).mean())
    assert result.damping == 0.0
    assert np.isfinite(result.condition_number)


def test_normalised_slope_is_the_papers_arctan_map():
    assert normalised_slope(0.0) == 0.0
    assert normalised_slope(-1.0) == pytest.approx(0.5)
    assert normalised_slope(1e12) == pytest.approx(-1.0)


def test_learning_slope_needs_poisons():
    X, y, is_poison, X_backdoor, y_backdoor = backdoor_problem()
    model = RidgeClassifier().fit(X, y, poison_weight(is_poison, 0.0))
    with pytest.raises(ValueError, match="flags no training point"):
        learning_slope(model, X, y, np.zeros_like(is_poison), X_backdoor, y_backdoor)
    with pytest.raises(ValueError, match=r"is_poison has shape \(3,\), expected \(46,\)"):
        learning_slope(model, X, y, is_poison[:3], X_backdoor, y_backdoor)


def right_finite_difference_slope(make_model, problem, delta):
    """``(L_bt(2 delta) - L_bt(delta)) / delta`` of models refitted at both weights.

    Both fits have ``beta > 0``, so the difference does not depend on which optimum a fit at
    ``beta = 0`` picks where that optimum is not unique (an SVM bias in an interval).
    """
    X, y, is_poison, X_backdoor, y_backdoor = problem
    losses = [
        make_model().fit(X, y, poison_weight(is_poison, beta)).loss(X_backdoor, y_backdoor).mean()
        for beta in (delta, 2 * delta)
    ]
    return (losses[1] - losses[0]) / delta


def assert_right_slope(result, make_model, problem):
    """The slope is defined and equals one-sided finite differences at three step sizes."""
    assert slope_is_defined(result.status)
    assert np.isfinite(result.slope)
    assert result.slope == pytest.approx(result.influence.sum(axis=1).mean(), rel=1e-9, abs=1e-12)
    for delta in (1e-6, 1e-5, 1e-4):
        expected = right_finite_difference_slope(make_model, problem, delta)
        assert result.slope == pytest.approx(expected, rel=1e-4, abs=1e-8)


@pytest.mark.parametrize("name", ["linear-svm", "rbf-svm"])
def test_slope_with_every_support_vector_bounded(name):
    # Balanced classes and a tiny C: every clean point is a bounded support vector, so the
    # KKT system alone does not fix the bias; points exactly on the margin (if any) may.
    problem = backdoor_problem()
    X, y, is_poison, X_backdoor, y_backdoor = problem
    model = MODELS[name]().with_params(C=1e-4)
    model.fit(X, y, poison_weight(is_poison, 0.0))
    margin, error = dual_sets(model.alpha_, model.upper_)
    assert not margin.any()
    assert error.sum() == (~is_poison).sum()
    result = learning_slope(model, X, y, is_poison, X_backdoor, y_backdoor)

    def make():
        return MODELS[name]().with_params(C=1e-4)

    assert_right_slope(result, make, problem)


def duplicated_margin_problem():
    """The backdoor problem in 5-D with every margin support vector of C=10 duplicated."""
    X, y, is_poison, X_backdoor, y_backdoor = backdoor_problem(d=5)
    model = LinearSVM(C=10.0).fit(X, y, poison_weight(is_poison, 0.0))
    copies = np.flatnonzero(dual_sets(model.alpha_, model.upper_)[0])
    X = np.vstack([X, X[copies]])
    y = np.concatenate([y, y[copies]])
    is_poison = np.concatenate([is_poison, np.zeros(copies.size, dtype=bool)])
    return X, y, is_poison, X_backdoor, y_backdoor


# Duplicated margin SVs make the KKT matrix exactly singular; the code detects it by the
# condition estimate and switches to least squares (without leaking LAPACK's warning).
@pytest.mark.filterwarnings("error::scipy.linalg.LinAlgWarning")
def test_degenerate_linear_svm_slope_matches_finite_differences():
    problem = duplicated_margin_problem()
    X, y, is_poison, X_backdoor, y_backdoor = problem
    model = LinearSVM(C=10.0).fit(X, y, poison_weight(is_poison, 0.0))
    n_margin = dual_sets(model.alpha_, model.upper_)[0].sum()
    assert n_margin > X.shape[1] + 1  # more margin SVs than parameters: singular KKT matrix
    result = learning_slope(model, X, y, is_poison, X_backdoor, y_backdoor)
    # The duplicates leave some copies on the margin with alpha on a bound (one-sided rule);
    # the singular system is solved by least squares, consistent, hence flagged only.
    assert result.status.startswith(ONE_SIDED_STATUS)
    assert "inconsistent" not in result.status
    assert result.slope < -1e-3
    assert_right_slope(result, lambda: LinearSVM(C=10.0), problem)


def test_linear_svm_with_d_plus_one_margin_svs_has_zero_slope():
    # d + 1 margin SVs in general position pin w and b: the slope is exactly zero, and the
    # KKT matrix is non-singular although Q_SS (rank d) is singular.
    problem = backdoor_problem(d=3)
    X, y, is_poison, X_backdoor, y_backdoor = problem
    model = LinearSVM(C=1.0).fit(X, y, poison_weight(is_poison, 0.0))
    assert dual_sets(model.alpha_, model.upper_)[0].sum() == X.shape[1] + 1
    result = learning_slope(model, X, y, is_poison, X_backdoor, y_backdoor)
    expected = finite_difference_slope(lambda: LinearSVM(C=1.0), problem, delta=1e-6)
    assert result.status == "ok"
    assert np.isfinite(result.condition_number)
    assert abs(result.slope) <= 1e-10
    assert abs(expected) <= 1e-6


def test_linear_svm_with_points_on_the_margin_has_the_right_slope():
    # 2-D: three collinear positives on the margin x_0 = 1, two negatives inside it (error
    # vectors). With C = 0.3 the optimum is w = (0.6, 0), b = 0.4; libsvm returns a vertex
    # of the (non-unique) dual with every alpha on a bound.
    X = np.array([[1.0, -1.0], [1.0, 0.0], [1.0, 1.0], [0.0, -0.5], [0.0, 0.5], [0.0, 1.0]])
    y = np.array([1, 1, 1, 0, 0, 1])
    is_poison = np.array([False] * 5 + [True])
    X_backdoor = np.array([[0.0, 1.0], [0.5, 0.8], [-0.3, 1.2]])
    y_backdoor = np.ones(3, dtype=np.int64)
    problem = (X, y, is_poison, X_backdoor, y_backdoor)
    model = LinearSVM(C=0.3).fit(X, y, poison_weight(is_poison, 0.0))
    np.testing.assert_allclose(model.coef_, [0.6, 0.0], atol=1e-9)
    np.testing.assert_allclose(model.intercept_, 0.4, atol=1e-9)
    result = learning_slope(model, X, y, is_poison, X_backdoor, y_backdoor)
    expected = finite_difference_slope(lambda: LinearSVM(C=0.3), problem, delta=1e-6)
    assert expected == pytest.approx(-0.28, rel=1e-6)
    # The dual is not unique here (three collinear margin points in 2-D); the minimum-norm
    # KKT direction would push a bounded alpha out of its box: the one-sided rule applies.
    assert result.status == ONE_SIDED_STATUS
    assert result.slope == pytest.approx(expected, rel=1e-6)
    assert_right_slope(result, lambda: LinearSVM(C=0.3), problem)


# ------------------------------------------------------------------------------ ridge closed form


def ridge_closed_form(X, y, weight, C):
    """theta = [w, b] from the normal equations of 1/2||w||^2 + C sum s (y - f)^2.

    Returns theta and the (d+1) x (d+1) system matrix A = Lambda + 2C X1^T S X1.
    """
    X1 = np.hstack([X, np.ones((X.shape[0], 1))])
    regulariser = np.eye(X1.shape[1])
    regulariser[-1, -1] = 0.0
    A = regulariser + 2 * C * X1.T @ (weight[:, None] * X1)
    theta = np.linalg.solve(A, 2 * C * X1.T @ (weight * to_signed(y)))
    return theta, A


@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_ridge_weight_sensitivity_matches_the_closed_form(beta):
    X, y, is_poison, X_eval, _ = backdoor_problem()
    C = 0.8
    weight = poison_weight(is_poison, beta)
    model = RidgeClassifier(C=C).fit(X, y, weight)
    theta, A = ridge_closed_form(X, y, weight, C)
    np.testing.assert_allclose(np.append(model.coef_, model.intercept_), theta, rtol=1e-10)
    # d theta / d beta = -A^{-1} 2C X1_P^T (X1_P theta - y_P)
    X1_poison = np.hstack([X[is_poison], np.ones((is_poison.sum(), 1))])
    residual = X1_poison @ theta - to_signed(y[is_poison])
    d_theta = -np.linalg.solve(A, 2 * C * X1_poison.T @ residual)
    expected = np.hstack([X_eval, np.ones((len(X_eval), 1))]) @ d_theta
    # The closed form is right: it agrees with central differences of itself.
    step = 1e-5
    theta_up, _ = ridge_closed_form(X, y, poison_weight(is_poison, beta + step), C)
    theta_down, _ = ridge_closed_form(X, y, poison_weight(is_poison, beta - step), C)
    np.testing.assert_allclose(d_theta, (theta_up - theta_down) / (2 * step), rtol=1e-6)
    sensitivity = model.weight_sensitivity(X, y, weight, X_eval, np.flatnonzero(is_poison))
    assert sensitivity.status == "ok"
    assert sensitivity.decision.shape == (len(X_eval), is_poison.sum())
    np.testing.assert_allclose(sensitivity.decision.sum(axis=1), expected, rtol=1e-8)
    assert np.abs(expected).max() > 1e-2


# ------------------------------------------------------------------------------ leave-one-out


@pytest.mark.parametrize("name", ["logistic", "ridge"])
def test_influence_predicts_leave_one_out_retraining(name):
    rng = np.random.default_rng(0)
    X, y = blobs(36, 3, rng)
    X_test, y_test = blobs(20, 3, rng)
    weight = np.ones(len(y))
    model = MODELS[name]().fit(X, y, weight)
    signed_test = to_signed(y_test)
    test_slope = model.margin_loss.first_derivative(signed_test, model.decision_function(X_test))
    sensitivity = model.weight_sensitivity(X, y, weight, X_test, np.arange(len(y)))
    # Removing point i changes its weight by -1: predicted change = -d L_test / d s_i.
    predicted = -(test_slope[:, None] * sensitivity.decision).mean(axis=0)
    base_loss = model.loss(X_test, y_test).mean()
    actual = np.empty(len(y))
    for i in range(len(y)):
        removed = weight.copy()
        removed[i] = 0.0
        actual[i] = MODELS[name]().fit(X, y, removed).loss(X_test, y_test).mean() - base_loss
    assert np.std(actual) > 1e-4
    assert pearsonr(predicted, actual)[0] > 0.9
    assert spearmanr(predicted, actual)[0] > 0.9
