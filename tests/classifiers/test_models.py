"""Tests of the margin losses, the Hessian solvers and the binary models' derivatives.

Every derivative is checked against central differences of the quantity it differentiates;
the solvers against scikit-learn (libsvm, LogisticRegression, Ridge) as oracles.
"""

import copy
import dataclasses

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.svm import SVC

from backdoor_curves.classifiers import LogisticClassifier, RidgeClassifier, primal
from backdoor_curves.classifiers.inputs import FitData, check_fit_input, is_immutable, read_only
from backdoor_curves.classifiers.linalg import (
    DenseHessian,
    RepresenterHessian,
    SampleSpaceHessian,
    damped_cholesky,
    primal_hessian,
)
from backdoor_curves.classifiers.losses import to_signed
from backdoor_curves.classifiers.svm import (
    RBFSVM,
    LinearSVM,
    dual_margins,
    dual_sets,
    kkt_violation,
    rbf_kernel,
    solve_dual_active_set,
    solve_dual_primal_active_set,
)

# ------------------------------------------------------------------------------ helpers


def blobs(n=30, d=3, seed=0, shift=1.0):
    """Two gaussian blobs separated along feature 0; labels alternate 0, 1, 0, ..."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, d))
    X[:, 0] += np.where(y == 1, shift, -shift)
    return X, y


def uneven_weights(n, seed=1, zeros=(2, 7)):
    """Sample weights in [0.2, 2] with a few exact zeros (at points of both classes)."""
    weight = np.random.default_rng(seed).uniform(0.2, 2.0, n)
    weight[list(zeros)] = 0.0
    return weight


def central_difference(func, x, step):
    """Jacobian of ``func`` at ``x`` by central differences, shape func(x).shape + x.shape."""
    columns = []
    for k in range(x.size):
        offset = np.zeros_like(x)
        offset[k] = step
        columns.append((np.asarray(func(x + offset)) - np.asarray(func(x - offset))) / (2 * step))
    return np.stack(columns, axis=-1)


def with_theta(model, theta):
    """A copy of a fitted primal model with parameters ``theta = [w, b]``."""
    clone = copy.copy(model)
    clone.coef_ = np.array(theta[:-1])
    clone.intercept_ = float(theta[-1])
    return clone


def theta_of(model):
    return np.append(model.coef_, model.intercept_)


PRIMAL_MODELS = {
    "logistic": lambda: LogisticClassifier(C=0.7),
    "ridge": lambda: RidgeClassifier(C=0.7),
}
SVM_MODELS = {
    "linear-svm": lambda: LinearSVM(C=1.0),
    "rbf-svm": lambda: RBFSVM(C=2.0, gamma=0.4),
}
ALL_MODELS = PRIMAL_MODELS | SVM_MODELS


def sklearn_svc(model):
    if isinstance(model, RBFSVM):
        return SVC(C=model.C, kernel="rbf", gamma=model.gamma, tol=1e-10)
    return SVC(C=model.C, kernel="linear", tol=1e-10)


def gram(model, X):
    return model.kernel(X, X)


# ------------------------------------------------------------------------------ linear algebra


def curvature_with_zeros(n, seed):
    rng = np.random.default_rng(seed)
    curvature = rng.uniform(0.1, 2.0, n)
    curvature[rng.permutation(n)[: n // 3]] = 0.0
    return curvature


def test_primal_hessian_matches_its_definition():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 3))
    curvature = curvature_with_zeros(7, 1)
    X1 = np.hstack([X, np.ones((7, 1))])
    expected = np.diag([1.0, 1.0, 1.0, 0.0]) + X1.T @ np.diag(curvature) @ X1
    np.testing.assert_allclose(primal_hessian(X, curvature), expected, rtol=1e-13, atol=1e-13)


def hessian_problem(n_samples, n_features, *, seed, curvature_seed):
    """A random ``X``, curvatures with zeros, and the dense Hessian (the oracle) they give."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    curvature = curvature_with_zeros(n_samples, curvature_seed)
    return rng, X, curvature, primal_hessian(X, curvature)


@pytest.mark.parametrize(("n_samples", "n_features"), [(6, 15), (25, 4)])
def test_sample_space_and_dense_hessian_give_the_same_solves(n_samples, n_features):
    rng, X, curvature, oracle = hessian_problem(
        n_samples, n_features, seed=n_features, curvature_seed=2
    )
    dense = DenseHessian(X, curvature)
    sample = SampleSpaceHessian(X, curvature)
    assert dense.damping == 0.0
    assert sample.damping == 0.0
    for rhs in (rng.normal(size=n_features + 1), rng.normal(size=(n_features + 1, 3))):
        expected = np.linalg.solve(oracle, rhs)
        for solver in (dense, sample):
            solution = solver.solve(rhs)
            assert solution.shape == rhs.shape
            np.testing.assert_allclose(solution, expected, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize(("n_samples", "n_features"), [(6, 15), (25, 4)])
def test_representer_hessian_solves_row_space_systems_like_the_dense_oracle(n_samples, n_features):
    # For r = [X^T p; q] the solution is [X^T u; z_b]: compare it with solve(H, r).
    rng, X, curvature, oracle = hessian_problem(
        n_samples, n_features, seed=n_samples, curvature_seed=3
    )
    solver = RepresenterHessian(X @ X.T, curvature)
    assert solver.damping == 0.0
    assert solver.condition_number == SampleSpaceHessian(X, curvature, X @ X.T).condition_number
    for shape in ((n_samples + 1,), (n_samples + 1, 3)):
        coefficients = rng.normal(size=shape)
        rhs = np.concatenate([X.T @ coefficients[:-1], coefficients[-1:]])
        solution = solver.solve(coefficients)
        assert solution.shape == shape
        in_theta = np.concatenate([X.T @ solution[:-1], solution[-1:]])
        np.testing.assert_allclose(in_theta, np.linalg.solve(oracle, rhs), rtol=1e-9, atol=1e-11)


def test_damped_cholesky_damps_a_singular_matrix():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(5, 2))
    singular = basis @ basis.T  # PSD with rank 2
    factor = damped_cholesky(singular)
    assert factor.damping > 0.0
    assert np.isfinite(factor.condition_number)
    damped = singular + factor.damping * np.eye(5)
    assert factor.condition_number <= np.linalg.cond(damped, 1) * (1 + 1e-9)
    assert factor.condition_number >= np.linalg.cond(damped, 1) / 3.0
    # The damped system is ill conditioned, so check the backward error of the solve.
    rhs = rng.normal(size=5)
    solution = factor.solve(rhs)
    residual = np.linalg.norm(damped @ solution - rhs)
    assert residual <= 1e-12 * np.linalg.norm(damped, 2) * np.linalg.norm(solution)


def test_damped_cholesky_leaves_a_well_conditioned_matrix_alone():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(5, 5))
    matrix = basis @ basis.T + 5.0 * np.eye(5)
    factor = damped_cholesky(matrix)
    assert factor.damping == 0.0
    true_condition = np.linalg.cond(matrix, 1)
    # LAPACK's estimate is a lower bound, usually within a small factor of the truth.
    assert true_condition / 3.0 <= factor.condition_number <= true_condition * (1 + 1e-9)
    np.testing.assert_allclose(factor.lower @ factor.lower.T, matrix, rtol=1e-12)
    rhs = rng.normal(size=(5, 2))
    np.testing.assert_allclose(factor.solve(rhs), np.linalg.solve(matrix, rhs), rtol=1e-10)


def test_damped_cholesky_without_damping_raises_on_a_singular_matrix():
    basis = np.random.default_rng(0).normal(size=(5, 2))
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        damped_cholesky(basis @ basis.T, allow_damping=False)


# ------------------------------------------------------------------------------ primal models


def objective_in_theta(model, X, y, weight):
    return lambda theta: with_theta(model, theta).objective(X, y, weight)


def gradient_in_theta(model, X, y, weight):
    return lambda theta: with_theta(model, theta).objective_gradient(X, y, weight)


@pytest.mark.parametrize("name", PRIMAL_MODELS)
def test_objective_gradient_matches_central_differences(name):
    X, y = blobs()
    weight = uneven_weights(len(y))
    model = PRIMAL_MODELS[name]().fit(X, y, weight)
    # Away from the optimum, where the gradient is large.
    theta = theta_of(model) + np.random.default_rng(3).normal(scale=0.5, size=X.shape[1] + 1)
    gradient = with_theta(model, theta).objective_gradient(X, y, weight)
    expected = central_difference(objective_in_theta(model, X, y, weight), theta, 1e-6)
    assert np.linalg.norm(gradient) > 1.0
    np.testing.assert_allclose(gradient, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", ["dense", "sample"])
@pytest.mark.parametrize("name", PRIMAL_MODELS)
def test_hessian_matches_central_differences_of_the_gradient(name, method):
    X, y = blobs()
    weight = uneven_weights(len(y))
    model = PRIMAL_MODELS[name]().fit(X, y, weight)
    model.hessian = method
    theta = theta_of(model) + np.random.default_rng(4).normal(scale=0.5, size=X.shape[1] + 1)
    moved = with_theta(model, theta)
    expected = central_difference(gradient_in_theta(model, X, y, weight), theta, 1e-5)
    scale = np.abs(expected).max()
    curvature = (
        model.C
        * weight
        * model.margin_loss.second_derivative(to_signed(y), moved.decision_function(X))
    )
    np.testing.assert_allclose(primal_hessian(X, curvature), expected, atol=1e-7 * scale)
    solver = moved.hessian_solver(X, y, weight)
    identity = np.eye(X.shape[1] + 1)
    np.testing.assert_allclose(solver.solve(expected), identity, atol=1e-6)


@pytest.mark.parametrize("name", PRIMAL_MODELS)
def test_gradient_vanishes_at_the_fitted_optimum(name):
    X, y = blobs()
    weight = uneven_weights(len(y))
    model = PRIMAL_MODELS[name]().fit(X, y, weight)
    gradient = model.objective_gradient(X, y, weight)
    # Scale: the gradient's size one step away from the optimum.
    moved = with_theta(model, theta_of(model) + 0.1)
    reference = np.linalg.norm(moved.objective_gradient(X, y, weight))
    assert np.linalg.norm(gradient) <= 1e-10 * reference


def test_logistic_matches_scikit_learn():
    X, y = blobs()
    weight = uneven_weights(len(y))
    keep = weight > 0
    model = LogisticClassifier(C=0.7).fit(X, y, weight)
    oracle = LogisticRegression(C=0.7, tol=1e-12, max_iter=10_000)
    oracle.fit(X[keep], y[keep], sample_weight=weight[keep])
    np.testing.assert_allclose(model.coef_, oracle.coef_.ravel(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.intercept_, oracle.intercept_[0], rtol=1e-5, atol=1e-7)


def test_ridge_matches_scikit_learn():
    X, y = blobs()
    weight = uneven_weights(len(y))
    keep = weight > 0
    model = RidgeClassifier(C=0.7).fit(X, y, weight)
    oracle = Ridge(alpha=1.0 / (2 * 0.7), solver="cholesky")
    oracle.fit(X[keep], to_signed(y[keep]), sample_weight=weight[keep])
    np.testing.assert_allclose(model.coef_, oracle.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.intercept_, oracle.intercept_, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------ SVMs


@pytest.mark.parametrize("name", SVM_MODELS)
def test_svm_decision_function_matches_libsvm(name):
    X, y = blobs()
    weight = uneven_weights(len(y))
    keep = weight > 0
    model = SVM_MODELS[name]().fit(X, y, weight)
    oracle = sklearn_svc(model).fit(X[keep], y[keep], sample_weight=weight[keep])
    X_eval = np.random.default_rng(5).normal(size=(15, X.shape[1]))
    np.testing.assert_allclose(
        model.decision_function(X_eval), oracle.decision_function(X_eval), atol=1e-5
    )
    # support_ points into the full training set, libsvm's into the reduced one.
    np.testing.assert_array_equal(model.support_, np.sort(np.flatnonzero(keep)[oracle.support_]))


@pytest.mark.parametrize("name", SVM_MODELS)
def test_svm_lays_out_the_dual_over_the_full_index_set(name):
    X, y = blobs()
    weight = uneven_weights(len(y), zeros=(0, 1, 5, 12))
    model = SVM_MODELS[name]().fit(X, y, weight)
    n = len(y)
    assert model.alpha_.shape == (n,)
    assert model.dual_coef_.shape == (n,)
    np.testing.assert_array_equal(model.alpha_[weight == 0], 0.0)
    np.testing.assert_allclose(model.upper_, model.C * weight)
    np.testing.assert_array_equal(model.support_, np.flatnonzero(model.alpha_ > 0))
    assert (weight[model.support_] > 0).all()
    np.testing.assert_array_equal(model.support_vectors_, X[model.support_])
    np.testing.assert_array_equal(model.dual_coef_, model.alpha_ * to_signed(y))


def assert_kkt(model, X, y, tol=1e-8):
    """The fitted dual solution is an optimum: feasible, complementary margins."""
    signed = to_signed(y)
    alpha, upper = model.alpha_, model.upper_
    margins = dual_margins(gram(model, X), signed, alpha, model.intercept_)
    free, bounded = dual_sets(alpha, upper)
    reserve = ~free & ~bounded & (upper > 0)
    assert (alpha >= 0).all() and (alpha <= upper).all()
    assert abs(signed @ alpha) <= tol * upper.sum()
    assert margins[reserve].min() >= -tol
    assert np.abs(margins[free]).max() <= tol
    assert margins[bounded].max() <= tol


@pytest.mark.parametrize("name", SVM_MODELS)
def test_svm_solution_satisfies_the_kkt_conditions(name):
    X, y = blobs()
    weight = uneven_weights(len(y))
    model = SVM_MODELS[name]().fit(X, y, weight)
    assert model.exact_
    free, bounded = dual_sets(model.alpha_, model.upper_)
    assert free.any() and bounded.any() and (~free & ~bounded).any()
    assert_kkt(model, X, y)


@pytest.mark.parametrize("name", SVM_MODELS)
def test_active_set_from_wrong_sets_never_reports_a_wrong_optimum(name):
    X, y = blobs()
    weight = uneven_weights(len(y))
    model = SVM_MODELS[name]().fit(X, y, weight)
    K, signed, upper, n = gram(model, X), to_signed(y), model.upper_, len(y)
    reference = solve_dual_active_set(K, signed, upper, *dual_sets(model.alpha_, upper))
    assert reference.converged
    assert reference.n_iter <= 2
    rng = np.random.default_rng(6)
    starts = [
        (np.zeros(n, bool), np.zeros(n, bool)),
        (np.ones(n, bool), np.zeros(n, bool)),
        (np.zeros(n, bool), np.ones(n, bool)),
    ] + [(rng.random(n) < 0.3, rng.random(n) < 0.3) for _ in range(6)]
    # One point moved to another set: near starts, as on a warm-started path.
    optimal_margin, optimal_error = dual_sets(model.alpha_, upper)
    for i in range(n):
        for to_margin, to_error in ((True, False), (False, True), (False, False)):
            margin, error = optimal_margin.copy(), optimal_error.copy()
            margin[i], error[i] = to_margin, to_error
            if (margin != optimal_margin).any() or (error != optimal_error).any():
                starts.append((margin, error))
    n_converged = 0
    for margin, error in starts:
        solution = solve_dual_active_set(K, signed, upper, margin, error)
        if solution.converged:
            n_converged += 1
            np.testing.assert_allclose(solution.alpha, reference.alpha, atol=1e-9)
            np.testing.assert_allclose(solution.intercept, reference.intercept, atol=1e-9)
    if name == "rbf-svm":
        # With a positive definite kernel the iteration recovers from most guesses.
        assert n_converged >= len(starts) // 2
    else:
        # A linear kernel in 3-D makes most wrong margin sets singular (then it must fail
        # loudly), but some near starts recover the optimum.
        assert n_converged >= 1


@pytest.mark.parametrize("name", ["linear-svm", "rbf-svm"])
def test_svm_c_path_matches_cold_fits(name):
    X, y = blobs()
    weight = uneven_weights(len(y))
    C_values = [0.3, 1.0, 4.0]
    path = list(SVM_MODELS[name]().C_path(X, y, weight, C_values))
    X_eval = np.random.default_rng(7).normal(size=(15, X.shape[1]))
    for C, warm in zip(C_values, path, strict=True):
        cold = SVM_MODELS[name]().with_params(C=C).fit(X, y, weight)
        assert warm.C == C and warm.exact_ and cold.exact_
        assert_kkt(warm, X, y)
        np.testing.assert_allclose(
            warm.decision_function(X_eval), cold.decision_function(X_eval), rtol=1e-9, atol=1e-10
        )


def test_rbf_kernel_matches_its_definition():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    expected = np.exp(-0.3 * ((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=-1))
    np.testing.assert_allclose(rbf_kernel(A, B, 0.3), expected, rtol=1e-12)


# ------------------------------------------------------------------------------ all models


@pytest.mark.parametrize("name", ALL_MODELS)
def test_input_gradient_matches_central_differences(name):
    X, y = blobs()
    model = ALL_MODELS[name]().fit(X, y)
    X_eval = np.random.default_rng(8).normal(size=(5, X.shape[1]))
    gradient = model.input_gradient(X_eval)
    assert gradient.shape == X_eval.shape
    for row, point in enumerate(X_eval):
        expected = central_difference(lambda x: model.decision_function(x[None, :])[0], point, 1e-6)
        np.testing.assert_allclose(gradient[row], expected, rtol=1e-6, atol=1e-8)
    assert np.abs(gradient).max() > 1e-2


@pytest.mark.parametrize("name", ALL_MODELS)
def test_fit_returns_self_and_predicts_the_blobs(name):
    X, y = blobs(n=40, shift=2.0)
    model = ALL_MODELS[name]()
    assert model.fit(X, y) is model
    assert (model.predict(X) == y).mean() >= 0.9
    np.testing.assert_allclose(model.weight_norm_sq(), model.weight_inner(model))


# ------------------------------------------------------------------------------ bad input


def test_check_fit_input_accepts_good_input():
    X, y = blobs(n=6)
    X_checked, signed, weight = check_fit_input(X.astype(np.float32), y, None)
    assert X_checked.dtype == np.float64
    np.testing.assert_array_equal(signed, to_signed(y))
    np.testing.assert_array_equal(weight, np.ones(6))


@pytest.mark.parametrize(
    ("X", "y", "weight", "message"),
    [
        (np.zeros(4), [0, 1, 0, 1], None, r"X must be 2-D.*\(4,\)"),
        ([[0.0], [np.nan], [1.0], [2.0]], [0, 1, 0, 1], None, "NaN or infinite"),
        ([[0.0], [1.0], [2.0], [3.0]], [0, 1, 0], None, r"y has shape \(3,\), expected \(4,\)"),
        ([[0.0], [1.0], [2.0], [3.0]], [0, 1, 0, 2], None, r"must be 0 or 1, got \[2\]"),
        ([[0.0], [1.0], [2.0], [3.0]], [0, 1, 0, 1], [1, -1, 1, 1], "finite and >= 0"),
        ([[0.0], [1.0], [2.0], [3.0]], [0, 1, 0, 1], [1, 1, 1], r"sample_weight has shape"),
        ([[0.0], [1.0], [2.0], [3.0]], [0, 1, 0, 1], [1, 0, 1, 0], "both classes"),
        ([[0.0], [1.0], [2.0], [3.0]], [0, 0, 0, 0], None, "both classes"),
    ],
)
def test_check_fit_input_rejects_bad_input(X, y, weight, message):
    weight = None if weight is None else np.asarray(weight, dtype=float)
    with pytest.raises(ValueError, match=message):
        check_fit_input(np.asarray(X, dtype=float), np.asarray(y), weight)


@pytest.mark.parametrize("name", ALL_MODELS)
@pytest.mark.parametrize("C", [0.0, -1.0, np.inf])
def test_fit_rejects_non_positive_c(name, C):
    X, y = blobs(n=10)
    model = ALL_MODELS[name]().with_params(C=C)
    with pytest.raises(ValueError, match=r"C must be a positive finite number"):
        model.fit(X, y)


@pytest.mark.parametrize("gamma", [0.0, -0.5, np.nan])
def test_rbf_svm_rejects_non_positive_gamma(gamma):
    X, y = blobs(n=10)
    with pytest.raises(ValueError, match=r"gamma must be a positive finite number"):
        RBFSVM(gamma=gamma).fit(X, y)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_fit_rejects_a_third_label(name):
    X, y = blobs(n=10)
    y = y.copy()
    y[3] = 2
    with pytest.raises(ValueError, match=r"must be 0 or 1, got \[2\]"):
        ALL_MODELS[name]().fit(X, y)


# ------------------------------------------------------------------------------ primal active set


@pytest.mark.parametrize("name", SVM_MODELS)
@pytest.mark.parametrize("shape", [(30, 3), (60, 2)])
def test_primal_active_set_from_zero_reaches_the_optimum(name, shape):
    # alpha = 0 is feasible for any box; the method must end at the exact optimum that the
    # libsvm + polish fit finds, including on the degenerate 2-D data (60 points).
    X, y = blobs(*shape)
    weight = uneven_weights(len(y))
    fitted = SVM_MODELS[name]().fit(X, y, weight)
    K, signed, upper = fitted.kernel(X, X), to_signed(y), fitted.C * weight
    solution = solve_dual_primal_active_set(K, signed, upper, np.zeros(len(y)))
    assert solution.converged
    assert kkt_violation(K, signed, upper, solution) <= 1e-9
    np.testing.assert_allclose(solution.intercept, fitted.intercept_, atol=1e-8)
    scores = K @ (solution.alpha * signed) + solution.intercept
    np.testing.assert_allclose(scores, fitted.decision_function(X), atol=1e-8)


def test_kkt_violation_is_zero_at_the_optimum_and_positive_elsewhere():
    X, y = blobs()
    weight = uneven_weights(len(y))
    fitted = LinearSVM(C=1.0).fit(X, y, weight)
    K, signed, upper = X @ X.T, to_signed(y), weight.copy()
    optimum = solve_dual_active_set(
        K, signed, upper, *dual_sets(fitted.alpha_, upper), intercept=fitted.intercept_
    )
    assert kkt_violation(K, signed, upper, optimum) <= 1e-9
    shifted = dataclasses.replace(optimum, intercept=optimum.intercept + 0.1)
    assert kkt_violation(K, signed, upper, shifted) > 0.05


# ------------------------------------------------------------------------- model contract


@pytest.mark.parametrize("name", ALL_MODELS)
def test_with_params_derives_a_new_unfitted_model(name):
    X, y = blobs()
    model = ALL_MODELS[name]().fit(X, y)
    derived = model.with_params(C=7.0)
    assert derived is not model and type(derived) is type(model)
    assert derived.C == 7.0 and model.C != 7.0
    assert derived.get_params() == model.get_params() | {"C": 7.0}
    assert not hasattr(derived, "intercept_")
    with pytest.raises(ValueError, match=r"no parameter bogus; valid parameters: C"):
        model.with_params(bogus=1)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_a_precomputed_model_equals_the_model_on_inputs(name):
    # scikit-learn's kernel="precomputed": fit on k(X, X), score on k(X_eval, X); same
    # optimum, scores and weight derivative as the model given the inputs themselves.
    X, y = blobs()
    weight = uneven_weights(len(y))
    on_inputs = ALL_MODELS[name]().fit(X, y, weight)
    kernel = on_inputs.kernel_function
    on_kernel = ALL_MODELS[name]().with_params(precomputed=True).fit(kernel(X, X), y, weight)
    assert on_inputs.exact_ is True and on_kernel.exact_ is True
    X_eval = np.random.default_rng(3).normal(size=(9, X.shape[1]))
    np.testing.assert_allclose(
        on_kernel.decision_function(kernel(X_eval, X)),
        on_inputs.decision_function(X_eval),
        rtol=1e-7,
        atol=1e-8,
    )
    directions = np.array([1, 4, 6])
    got = on_kernel.weight_sensitivity(kernel(X, X), y, weight, kernel(X_eval, X), directions)
    expected = on_inputs.weight_sensitivity(X, y, weight, X_eval, directions)
    np.testing.assert_allclose(got.decision, expected.decision, rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="square kernel matrix"):
        ALL_MODELS[name]().with_params(precomputed=True).fit(X, y)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_c_path_reaches_the_cold_optimum_at_every_c(name):
    X, y = blobs()
    weight = uneven_weights(len(y), seed=5)
    C_values = [0.05, 0.5, 5.0]
    model = ALL_MODELS[name]()
    path = list(model.C_path(X, y, weight, C_values))
    assert not hasattr(model, "intercept_")
    for C, warm in zip(C_values, path, strict=True):
        cold = model.with_params(C=C).fit(X, y, weight)
        np.testing.assert_allclose(
            warm.decision_function(X), cold.decision_function(X), rtol=1e-8, atol=1e-9
        )
    assert path[0].decision_function(X) != pytest.approx(path[-1].decision_function(X))


@pytest.mark.parametrize("name", ["ridge", "linear-svm", "rbf-svm"])
def test_cached_factor_is_not_reused_for_other_data(name):
    # The fit caches its factorisation for weight_sensitivity; asked about other data (here
    # the same shapes, moved points), the answer must be the uncached one.
    X, y = blobs(d=10)  # more features than margin vectors: f moves with the weights
    weight = uneven_weights(len(y))
    model = ALL_MODELS[name]().fit(X, y, weight)
    moved = X + np.random.default_rng(4).normal(scale=0.05, size=X.shape)
    directions = np.arange(len(y))
    uncached = copy.deepcopy(model)
    for attribute in ("_fit_hessian", "_kkt"):
        if hasattr(uncached, attribute):
            delattr(uncached, attribute)
    if name != "ridge":
        uncached._kkt = (np.empty(0, dtype=np.intp), None)
    got = model.weight_sensitivity(moved, y, weight, X[:4], directions)
    expected = uncached.weight_sensitivity(moved, y, weight, X[:4], directions)
    np.testing.assert_array_equal(got.decision, expected.decision)
    # On the fit's own data the cached factor gives the same derivative as a fresh one.
    same = model.weight_sensitivity(X, y, weight, X[:4], directions)
    fresh = uncached.weight_sensitivity(X, y, weight, X[:4], directions)
    np.testing.assert_allclose(same.decision, fresh.decision, rtol=1e-8, atol=1e-10)
    assert np.abs(got.decision - same.decision).max() > 1e-6


def test_read_only_inputs_are_kept_by_reference_and_writable_ones_copied():
    frozen = read_only(np.arange(12.0).reshape(4, 3))  # in a bytes object: immutable
    kept = FitData.of(frozen, np.ones(4), np.ones(4))
    assert kept.X is frozen and not frozen.flags.writeable
    writable = np.arange(12.0).reshape(4, 3)
    copied = FitData.of(writable, np.ones(4), np.ones(4))
    assert copied.X is not writable
    writable[0, 0] = 99.0  # changed in place after the fit: the key must see it
    assert not copied.matches(writable, np.ones(4), np.ones(4))


def test_a_read_only_view_of_a_writable_array_is_not_immutable():
    base = np.zeros((3, 3))
    view = base[1:]
    view.setflags(write=False)
    assert not is_immutable(view)
    frozen = read_only(view)
    assert frozen is not view and is_immutable(frozen)
    np.testing.assert_array_equal(frozen, view)


def test_immutable_input_is_checked_for_nan_once_writable_every_time():
    X, y = blobs(n=8, d=2)
    frozen = read_only(X.copy())
    check_fit_input(frozen, y, None)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_fit_input(X, y, None)
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_fit_input(read_only(X.copy()), y, None)


@pytest.mark.parametrize("precomputed", [True, False])
def test_logistic_c_sweep_predictor_saves_newton_steps_and_keeps_the_optimum(
    precomputed, monkeypatch
):
    # The next optimum of a C sweep is predicted along d theta / d log C = H^{-1} [v; 0].
    # Overlapping classes (a bounded path): there the tangent is a good predictor (on
    # separable data the weights grow like log C and it may save nothing).
    X, y = blobs(n=200, d=50, shift=0.5)
    inputs = X @ X.T if precomputed else X
    model = LogisticClassifier(precomputed=precomputed)
    sweep = np.geomspace(0.01, 100.0, 8)

    def newton_steps() -> tuple[int, np.ndarray]:
        path = list(model.C_path(inputs, y, None, sweep))
        return sum(fitted.n_iter_ for fitted in path), path[-1].decision_function(inputs)

    with_predictor, scores = newton_steps()
    cold = model.with_params(C=sweep[-1]).fit(inputs, y)
    np.testing.assert_allclose(scores, cold.decision_function(inputs), rtol=1e-7, atol=1e-9)
    monkeypatch.setattr(
        LogisticClassifier, "_predict_along_C", lambda self, c, start, s, w, previous: start
    )
    without_predictor, scores_plain = newton_steps()
    np.testing.assert_allclose(scores, scores_plain, rtol=1e-7, atol=1e-9)
    assert with_predictor < without_predictor


# ------------------------------------------------------------------------------ representer form


@pytest.mark.parametrize(("n_samples", "d"), [(12, 40), (30, 3)])
@pytest.mark.parametrize("name", PRIMAL_MODELS)
def test_fit_and_sensitivity_on_a_precomputed_kernel_equal_the_dense_oracle(name, n_samples, d):
    # On a precomputed linear kernel the solvers run in representer coefficients;
    # hessian="dense" on w is the oracle (same optimum, same derivative).
    X, y = blobs(n=n_samples, d=d, shift=0.5)
    weight = uneven_weights(n_samples)
    directions = np.array([2, 5, 7])
    gram = X @ X.T
    fast = PRIMAL_MODELS[name]().with_params(precomputed=True).fit(gram, y, weight)
    oracle = PRIMAL_MODELS[name]().with_params(hessian="dense").fit(X, y, weight)
    np.testing.assert_allclose(fast.intercept_, oracle.intercept_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fast.dual_coef_, oracle.dual_coef_, rtol=1e-7, atol=1e-10)
    got = fast.weight_sensitivity(gram, y, weight, X[:5] @ X.T, directions)
    expected = oracle.weight_sensitivity(X, y, weight, X[:5], directions)
    np.testing.assert_allclose(got.decision, expected.decision, rtol=1e-7, atol=1e-9)
    assert np.abs(expected.decision).max() > 1e-3


def test_logistic_c_path_on_a_precomputed_kernel_saves_newton_steps():
    X, y = blobs(n=12, d=40, shift=0.5)
    model = LogisticClassifier(precomputed=True)
    gram = X @ X.T
    _, warm = model.C_path(gram, y, None, [0.1, 5.0])
    cold = model.with_params(C=5.0).fit(gram, y)
    np.testing.assert_allclose(warm.dual_coef_, cold.dual_coef_, rtol=1e-9, atol=1e-11)
    assert warm.n_iter_ < cold.n_iter_


@pytest.mark.parametrize("name", PRIMAL_MODELS)
@pytest.mark.parametrize("precomputed", [True, False], ids=["kernel", "inputs"])
def test_no_d_by_d_matrix_when_there_are_fewer_points_than_features(name, precomputed, monkeypatch):
    # Issue 9 item 5: with n < d (deep features) no step may form a (d+1) x (d+1) Hessian.
    def refuse(*args, **kwargs):
        raise AssertionError("a d x d Hessian was formed")

    monkeypatch.setattr(primal, "DenseHessian", refuse)
    X, y = blobs(n=10, d=60, shift=0.5)
    is_poison = np.zeros(10, dtype=bool)
    is_poison[[3, 4]] = True
    inputs, evaluated = (X @ X.T, X[:3] @ X.T) if precomputed else (X, X[:3])
    model = PRIMAL_MODELS[name]().with_params(precomputed=precomputed)
    weight = (~is_poison).astype(float)
    fitted = model.fit(inputs, y, weight)
    fitted.weight_sensitivity(inputs, y, weight, evaluated, np.flatnonzero(is_poison))
    for _ in model.beta_path(inputs, y, is_poison, [0.0, 0.5, 1.0]):
        pass


@pytest.mark.parametrize("name", ALL_MODELS)
def test_a_refit_on_changed_values_of_the_same_array_sees_the_new_values(name):
    # An array made writable, changed and made read-only again is the same object with
    # other values: nothing may answer from what it held before (an id()-keyed product
    # cache once returned the old kernel matrix here).
    X, y = blobs()
    X.setflags(write=False)
    ALL_MODELS[name]().fit(X, y).decision_function(X)
    X.setflags(write=True)
    X *= 2.0
    X.setflags(write=False)
    refit = ALL_MODELS[name]().fit(X, y)
    fresh = ALL_MODELS[name]().fit(X.copy(), y)
    np.testing.assert_array_equal(refit.decision_function(X), fresh.decision_function(X.copy()))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_fit_from_reaches_the_cold_optimum_without_changing_its_start(name):
    X, y = blobs()
    start = ALL_MODELS[name]().fit(X, y, uneven_weights(len(y)))
    before = start.decision_function(X)
    weight = uneven_weights(len(y), seed=5)
    warm = start.fit_from(X, y, weight)
    cold = ALL_MODELS[name]().fit(X, y, weight)
    assert warm is not start
    np.testing.assert_array_equal(start.decision_function(X), before)
    np.testing.assert_allclose(
        warm.decision_function(X), cold.decision_function(X), rtol=1e-8, atol=1e-9
    )


def test_kernels_from_shared_products_are_bit_for_bit_the_kernels_own():
    from backdoor_curves.classifiers.kernels import (  # noqa: PLC0415
        LinearKernel,
        Products,
        RBFKernel,
        kernel_matrix,
    )

    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
    products = Products.of(A, B)
    for kernel in (LinearKernel(), RBFKernel(0.3), RBFKernel(2.0)):
        np.testing.assert_array_equal(kernel_matrix(kernel, products), kernel(A, B))
    square = Products.of(A, A).squared_distances()
    np.testing.assert_array_equal(square, square.T)
    assert (square >= 0).all() and np.allclose(np.diag(square), 0.0, atol=1e-12)


def test_copies_of_a_model_share_its_training_kernel_without_comparing_it(monkeypatch):
    X, y = blobs(n=12, d=3)
    K = read_only(X @ X.T)
    model = LinearSVM(C=1.0, precomputed=True).fit(K, y)
    copied = copy.deepcopy(model)
    assert copied._fit_data is model._fit_data and copied._fit_data.X is K

    def no_comparison(*args, **kwargs):
        raise AssertionError("the training kernel was compared element-wise")

    monkeypatch.setattr(np, "array_equal", no_comparison)
    assert copied.weight_inner(model) == pytest.approx(model.weight_norm_sq(), rel=1e-14)
    other = LinearSVM(C=2.0, precomputed=True).fit(K, y)
    assert np.isfinite(other.weight_inner(copied))


def test_fits_on_one_writable_kernel_compare_its_values():
    X, y = blobs(n=12, d=3)
    K = X @ X.T
    first, second = (LinearSVM(C=C, precomputed=True).fit(K, y) for C in (1.0, 2.0))
    assert first._fit_data.X is not second._fit_data.X and is_immutable(first._fit_data.X)
    assert np.isfinite(first.weight_inner(second))
    shifted = LinearSVM(C=1.0, precomputed=True).fit(K + np.eye(12), y)
    with pytest.raises(ValueError, match="same training kernel matrix"):
        first.weight_inner(shifted)
