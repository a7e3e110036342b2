"""The slope, curve and deviation of scikit-learn estimators against refits of those estimators.

The oracle is the user's own estimator class: cloned and refitted with ``sample_weight``
(1 on clean points, ``beta`` on poisons) at ``beta = 0, delta, 2 delta``; the one-sided
difference ``(-3 L(0) + 4 L(delta) - L(2 delta)) / (2 delta)`` of the mean own loss on the
backdoor test set (second order for the smooth losses, exact for the piecewise-linear SVM
path) must equal the slope to the tolerance of that estimator's solver. The tolerances below
hold with a margin over 100 seeds of the problem (docs/api.md states the observed ones).
"""

import tracemalloc

import joblib
import numpy as np
import pytest
from generated_data import backdoor_blobs
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.metrics.pairwise import polynomial_kernel, rbf_kernel
from sklearn.svm import SVC

from backdoor_curves.analyses.tangent import tangent_valid_until
from backdoor_curves.api import (
    CURVE_COLUMNS,
    learning_curve,
    learning_slope,
    parameter_deviation,
    top_influential,
)
from backdoor_curves.classifiers import primal

DELTA = 1e-5
OWN_LOSS = {
    "hinge": lambda margin: np.maximum(0.0, 1.0 - margin),
    "logistic": lambda margin: np.logaddexp(0.0, -margin),
    "squared": lambda margin: (1.0 - margin) ** 2,
}
# (estimator, its loss, tolerance of the agreement with its refits)
ESTIMATORS = {
    "svc-linear": (SVC(kernel="linear", C=1.0, tol=1e-12), "hinge", 5e-5),
    "svc-rbf-scale": (SVC(C=10.0, tol=1e-12), "hinge", 2e-6),
    "svc-rbf-auto": (SVC(C=10.0, gamma="auto", tol=1e-12), "hinge", 2e-6),
    "svc-rbf-number": (SVC(C=10.0, gamma=0.05, tol=1e-12), "hinge", 2e-6),
    "logistic-lbfgs": (LogisticRegression(tol=1e-12, max_iter=10_000), "logistic", 1e-4),
    "logistic-newton-cg": (
        LogisticRegression(solver="newton-cg", tol=1e-12, max_iter=10_000),
        "logistic",
        2e-6,
    ),
    "logistic-newton-cholesky": (
        LogisticRegression(solver="newton-cholesky", tol=1e-12),
        "logistic",
        1e-7,
    ),
    "logistic-sag": (
        LogisticRegression(solver="sag", tol=1e-12, max_iter=100_000),
        "logistic",
        1e-5,
    ),
    "logistic-saga": (
        LogisticRegression(solver="saga", tol=1e-12, max_iter=100_000),
        "logistic",
        1e-5,
    ),
    "ridge-auto": (RidgeClassifier(alpha=2.0), "squared", 1e-7),
    "ridge-svd": (RidgeClassifier(alpha=2.0, solver="svd"), "squared", 1e-7),
    "ridge-lsqr": (RidgeClassifier(alpha=2.0, solver="lsqr", tol=1e-14), "squared", 1e-7),
    "ridge-sag": (
        RidgeClassifier(alpha=2.0, solver="sag", tol=1e-14, max_iter=100_000),
        "squared",
        1e-7,
    ),
}


def mean_own_loss(estimator, X, y, loss):
    """Mean own loss of a fitted scikit-learn estimator (``classes_[1]`` is +1)."""
    signed = np.where(y == estimator.classes_[1], 1.0, -1.0)
    return OWN_LOSS[loss](signed * estimator.decision_function(X)).mean()


def refit_slope(estimator, loss, X, y, is_poison, X_backdoor, y_backdoor):
    """One-sided second-order difference of the backdoor loss of refits of ``estimator``."""
    losses = [
        mean_own_loss(
            clone(estimator).fit(X, y, sample_weight=np.where(is_poison, beta, 1.0)),
            X_backdoor,
            y_backdoor,
            loss,
        )
        for beta in (0.0, DELTA, 2 * DELTA)
    ]
    return (-3 * losses[0] + 4 * losses[1] - losses[2]) / (2 * DELTA)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_slope_equals_the_slope_of_refits_of_the_estimator(name, global_random_seed):
    estimator, loss, tolerance = ESTIMATORS[name]
    problem = backdoor_blobs(global_random_seed)
    report = learning_slope(estimator, *problem)
    assert report.status == "ok" and report.exact
    expected = refit_slope(estimator, loss, *problem)
    assert report.slope == pytest.approx(expected, rel=tolerance, abs=tolerance)
    assert report.theta == pytest.approx(-2 / np.pi * np.arctan(expected), abs=tolerance)


def test_a_precomputed_kernel_slope_equals_refits_of_the_estimator(global_random_seed):
    """A kernel no model here has (polynomial), given as SVC(kernel="precomputed") wants it."""
    X, y, is_poison, X_backdoor, y_backdoor = backdoor_blobs(global_random_seed)
    K = polynomial_kernel(X, degree=2, coef0=1.0)
    K_backdoor = polynomial_kernel(X_backdoor, X, degree=2, coef0=1.0)
    estimator = SVC(kernel="precomputed", C=0.1, tol=1e-12)
    report = learning_slope(estimator, K, y, is_poison, K_backdoor, y_backdoor)
    assert report.status == "ok" and report.model.precomputed
    expected = refit_slope(estimator, "hinge", K, y, is_poison, K_backdoor, y_backdoor)
    assert report.slope == pytest.approx(expected, rel=2e-6, abs=2e-6)


def test_a_precomputed_rbf_kernel_gives_the_rbf_slope():
    X, y, is_poison, X_backdoor, y_backdoor = backdoor_blobs(0)
    rbf = learning_slope(SVC(C=10.0, gamma=0.05), X, y, is_poison, X_backdoor, y_backdoor)
    K, K_backdoor = rbf_kernel(X, gamma=0.05), rbf_kernel(X_backdoor, X, gamma=0.05)
    precomputed = learning_slope(
        SVC(kernel="precomputed", C=10.0), K, y, is_poison, K_backdoor, y_backdoor
    )
    assert precomputed.slope == pytest.approx(rbf.slope, rel=1e-10)
    np.testing.assert_allclose(precomputed.influence, rbf.influence, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("estimator", [SVC(C=10.0), LogisticRegression(), RidgeClassifier()])
def test_the_slope_does_not_depend_on_the_label_names(estimator):
    X, y, is_poison, X_backdoor, y_backdoor = backdoor_blobs(1)
    numbers = learning_slope(estimator, X, y, is_poison, X_backdoor, y_backdoor)
    names = {3: "zebra", 8: "ant"}  # reversed order: "ant" < "zebra", so f changes sign
    renamed = learning_slope(
        estimator,
        X,
        np.array([names[label] for label in y]),
        is_poison,
        X_backdoor,
        np.array([names[label] for label in y_backdoor]),
    )
    assert renamed.slope == pytest.approx(numbers.slope, rel=1e-9)


def test_a_fitted_estimator_gives_the_slope_of_its_objective():
    X, y, is_poison, X_backdoor, y_backdoor = backdoor_blobs(2)
    unfitted = learning_slope(SVC(C=10.0), X, y, is_poison, X_backdoor, y_backdoor)
    fitted = SVC(C=10.0).fit(X[~is_poison], y[~is_poison])
    assert learning_slope(fitted, X, y, is_poison, X_backdoor, y_backdoor).slope == unfitted.slope


def fingerprint(*objects):
    """Hashes of the values and the writeable flags of arrays and estimators."""
    flags = [obj.flags.writeable for obj in objects if isinstance(obj, np.ndarray)]
    return [joblib.hash(obj) for obj in objects], flags


@pytest.mark.parametrize("fitted", [False, True])
@pytest.mark.parametrize(
    "estimator",
    [SVC(C=10.0), SVC(kernel="linear"), LogisticRegression(), RidgeClassifier(alpha=0.5)],
    ids=repr,
)
def test_estimator_and_arrays_are_unchanged(estimator, fitted):
    X, y, is_poison, X_backdoor, y_backdoor = backdoor_blobs(3)
    X_test, y_test = X[:20] + 0.1, y[:20]
    estimator = clone(estimator)
    if fitted:
        estimator.fit(X[~is_poison], y[~is_poison])
    arguments = (estimator, X, y, is_poison, X_backdoor, y_backdoor)
    before = fingerprint(*arguments, X_test, y_test)
    learning_slope(*arguments)
    learning_curve(*arguments, [0.0, 0.5], X_test=X_test, y_test=y_test)
    parameter_deviation(*arguments[:4], [0.5])
    assert fingerprint(*arguments, X_test, y_test) == before


def test_learning_curve_points_are_refits_of_the_estimator():
    X, y, is_poison, X_backdoor, y_backdoor = backdoor_blobs(4)
    X_test, y_test = backdoor_blobs(5)[:2]
    betas = [0.0, 0.05, 0.3, 1.0]
    estimator = RidgeClassifier(alpha=2.0, solver="svd")
    curve = learning_curve(
        estimator, X, y, is_poison, X_backdoor, y_backdoor, betas, X_test=X_test, y_test=y_test
    )
    table = curve.table
    assert tuple(table.columns) == CURVE_COLUMNS and table["beta"].tolist() == betas
    for beta, row in zip(betas, table.itertuples(), strict=True):
        refit = clone(estimator).fit(X, y, sample_weight=np.where(is_poison, beta, 1.0))
        assert row.backdoor_loss == pytest.approx(
            mean_own_loss(refit, X_backdoor, y_backdoor, "squared"), rel=1e-9
        )
        assert row.clean_loss == pytest.approx(
            mean_own_loss(refit, X_test, y_test, "squared"), rel=1e-9
        )
        assert row.backdoor_accuracy == np.mean(refit.predict(X_backdoor) == y_backdoor)
        assert row.clean_accuracy == np.mean(refit.predict(X_test) == y_test)
        assert row.exact
    assert table["tangent_loss"].tolist() == pytest.approx(
        [curve.slope.backdoor_loss + curve.slope.slope * beta for beta in betas]
    )
    losses = table["backdoor_loss"].to_numpy()
    assert curve.slope_fd == pytest.approx((losses[1] - losses[0]) / 0.05)
    assert curve.slope_ratio == pytest.approx(curve.slope.slope / curve.slope_fd)
    # The rows say how far it holds; the followed path refines it up to the next row.
    at_rows = tangent_valid_until(betas, losses, curve.slope.slope)
    following = [beta for beta in betas if beta > at_rows] or [at_rows]
    assert at_rows <= curve.tangent_valid_until <= following[0]


def validity_and_refit_check(estimator, loss, seed, betas):
    """The curve and ``holds(beta)``: does a refit's drop match the tangent?"""
    X, y, is_poison, X_backdoor, y_backdoor = backdoor_blobs(seed)
    curve = learning_curve(estimator, X, y, is_poison, X_backdoor, y_backdoor, betas)
    slope, start = curve.slope.slope, curve.slope.backdoor_loss

    def holds(beta):
        refit = clone(estimator).fit(X, y, sample_weight=np.where(is_poison, beta, 1.0))
        actual = start - mean_own_loss(refit, X_backdoor, y_backdoor, loss)
        return abs(-slope * beta - actual) <= 0.1 * abs(actual)

    return curve, holds


def margin_sets(estimator, seed, beta):
    """The free and the bounded support vectors of a refit at ``beta`` (``C s_i`` bounds)."""
    X, y, is_poison, _, _ = backdoor_blobs(seed)
    weight = np.where(is_poison, beta, 1.0)
    refit = clone(estimator).fit(X, y, sample_weight=weight)
    alpha = np.zeros(len(y))
    alpha[refit.support_] = np.abs(refit.dual_coef_.ravel())
    bound = estimator.C * weight
    bounded = alpha >= bound * (1 - 1e-7)
    free = (alpha > 1e-7 * bound) & ~bounded
    return np.flatnonzero(free).tolist(), np.flatnonzero(bounded).tolist()


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    "estimator", [SVC(C=10.0, tol=1e-10), SVC(kernel="linear", tol=1e-10)], ids=repr
)
def test_svc_tangent_validity_is_exact_against_refits_of_the_estimator(estimator, seed):
    betas = [0.0, 0.05, 0.3, 1.0]
    curve, holds = validity_and_refit_check(estimator, "hinge", seed, betas)
    crossing, valid = curve.tangent_crossing, curve.tangent_valid_until
    # The crossing is found on the exact path between the grid's betas, where refits start
    # to miss.
    assert 0.0 < crossing < 1.0 and crossing not in betas
    assert all(holds(beta) for beta in np.linspace(0.0, crossing, 8)[1:-1])
    assert holds(crossing * (1 - 1e-4)) and not holds(crossing * (1 + 1e-4))
    # The range is the path's breakpoint that ends the piece: the refits' margin set changes
    # there, and they miss.
    assert crossing < valid < 1.0 and not holds(valid)
    assert margin_sets(estimator, seed, valid * (1 - 1e-3)) != margin_sets(
        estimator, seed, valid * (1 + 1e-3)
    )


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    ("estimator", "loss"),
    [
        # Newton refits: precise enough to resolve a relative 1e-6 of the range's end.
        (LogisticRegression(C=100.0, solver="newton-cholesky", tol=1e-12), "logistic"),
        (RidgeClassifier(alpha=0.01, solver="svd"), "squared"),
    ],
    ids=["logistic", "ridge"],
)
def test_smooth_tangent_validity_reads_the_followed_path_against_refits(estimator, loss, seed):
    """A steep curve leaves the tangent before the first grid step: the followed path sees it."""
    betas = [0.0, 0.05, 0.3, 1.0]
    curve, holds = validity_and_refit_check(estimator, loss, seed, betas)
    valid = curve.tangent_valid_until
    assert curve.tangent_crossing == valid
    # On the grid alone the range would be 0: refits already miss at the first step. The
    # range ends where refits start to miss (the root of the miss on the followed path).
    assert not holds(betas[1]) and 0.0 < valid < betas[1]
    assert holds(valid / 2) and holds(valid * (1 - 1e-6)) and not holds(valid * (1 + 1e-6))


def test_learning_curve_without_a_clean_test_set_has_nan_clean_columns():
    problem = backdoor_blobs(6)
    table = learning_curve(SVC(C=10.0), *problem, [0.0, 0.5]).table
    assert table[["clean_loss", "clean_accuracy"]].isna().all().all()
    assert table.loc[0, "nu"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc[1, "nu"] > 1e-6 and (table["rho"] > 0).all()


def test_parameter_deviation_matches_refits_of_the_estimator():
    X, y, is_poison, _, _ = backdoor_blobs(7)
    estimator = LogisticRegression(solver="newton-cholesky", tol=1e-12)
    table = parameter_deviation(estimator, X, y, is_poison, [0.2, 1.0])
    w0 = clone(estimator).fit(X, y, sample_weight=np.where(is_poison, 0.0, 1.0)).coef_.ravel()
    for row in table.itertuples():
        refit = clone(estimator).fit(X, y, sample_weight=np.where(is_poison, row.beta, 1.0))
        w = refit.coef_.ravel()
        cosine = w0 @ w / (np.linalg.norm(w0) * np.linalg.norm(w))
        assert row.nu == pytest.approx(0.5 * (1 - cosine), rel=1e-6)
        assert row.rho == pytest.approx(np.linalg.norm(w), rel=1e-8)


def test_per_poison_and_per_test_influence_add_up_to_the_slope():
    report = learning_slope(SVC(C=10.0), *backdoor_blobs(8))
    n_backdoor, n_poison = report.influence.shape
    assert report.poison_influence.shape == (n_poison,)
    assert report.test_influence.shape == (n_backdoor,)
    assert report.poison_influence.sum() == pytest.approx(report.slope)
    assert report.test_influence.mean() == pytest.approx(report.slope)
    assert report.poison_indices.tolist() == list(range(60, 68))


def test_top_influential_lists_the_most_negative_poisons_first():
    report = learning_slope(LogisticRegression(), *backdoor_blobs(9))
    top = top_influential(report, k=3)
    assert list(top.columns) == ["index", "influence"] and len(top) == 3
    expected = np.sort(report.poison_influence)[:3]
    assert top["influence"].tolist() == expected.tolist()
    assert set(top["index"]) <= set(report.poison_indices)
    assert len(top_influential(report, k=100)) == report.poison_indices.size
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        top_influential(report, k=0)


# --- large inputs ------------------------------------------------------------------------------
N_FEATURES = 4096
DENSE_BYTES = N_FEATURES**2 * 8  # one d x d float64 matrix: 134 MB


def relu_features(n, rng):
    """ReLU-like 4096-d features (as deep features are) with a poisoned trigger block."""
    y = np.arange(n) % 2
    X = np.maximum(rng.normal(size=(n, N_FEATURES)) + 0.05 * (2 * y[:, None] - 1), 0.0)
    is_poison = np.arange(n) < n // 10
    y = np.where(is_poison, 1 - y, y)
    X[is_poison, :64] = 3.0
    X_backdoor = np.maximum(rng.normal(size=(40, N_FEATURES)), 0.0)
    X_backdoor[:, :64] = 3.0
    return X, y, is_poison, X_backdoor, np.ones(40, dtype=np.int64)


def refuse_dense_hessian(monkeypatch):
    """Make forming a (d+1) x (d+1) Hessian an error."""

    def refuse(*args, **kwargs):
        raise AssertionError("a d x d Hessian was formed")

    monkeypatch.setattr(primal, "DenseHessian", refuse)


def large_estimators(X):
    """Estimators with C scaled by the mean squared feature norm (a well-posed problem)."""
    scale = 1.0 / float(np.mean(np.sum(X**2, axis=1)))
    return {
        "svc-linear": SVC(kernel="linear", C=10 * scale, tol=1e-10),
        "svc-rbf": SVC(C=10.0, tol=1e-10),
        "logistic": LogisticRegression(C=10 * scale, solver="newton-cholesky", tol=1e-12),
        "ridge": RidgeClassifier(alpha=0.5 / scale, solver="cholesky"),
    }


@pytest.mark.parametrize("name", ["svc-linear", "svc-rbf", "logistic", "ridge"])
def test_4096_features_form_no_d_by_d_matrix(name, monkeypatch):
    # n < d: the primal models must solve in sample space (a d x d Hessian is refused here,
    # as tests/classifiers/test_models.py does), the SVMs on the n x n kernel; the traced
    # peak (a few copies of the n x d inputs) stays under half of one d x d matrix.
    refuse_dense_hessian(monkeypatch)
    problem = relu_features(120, np.random.default_rng(0))
    estimator = large_estimators(problem[0])[name]
    tracemalloc.start()
    try:
        report = learning_slope(estimator, *problem)
        curve = learning_curve(estimator, *problem, [0.0, 0.5])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.status == "ok" and curve.table["exact"].all()
    assert peak < DENSE_BYTES / 2, f"peak traced memory {peak / 1e6:.0f} MB"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["svc-linear", "svc-rbf", "logistic", "ridge"])
def test_4096_features_and_2000_points_match_refits(name, monkeypatch):
    refuse_dense_hessian(monkeypatch)
    problem = relu_features(2000, np.random.default_rng(1))
    estimator = large_estimators(problem[0])[name]
    report = learning_slope(estimator, *problem)
    assert report.status == "ok"
    loss = {"svc-linear": "hinge", "svc-rbf": "hinge", "logistic": "logistic"}.get(name, "squared")
    expected = refit_slope(estimator, loss, *problem)
    assert report.slope == pytest.approx(expected, rel=1e-4, abs=1e-4)
