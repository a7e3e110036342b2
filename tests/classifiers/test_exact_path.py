"""The optima of an exact SVM path at many betas at once equal the models it gives one by one."""

from __future__ import annotations

import numpy as np
import pytest
from generated_data import random_problem

from backdoor_curves.classifiers.exact_path import exact_beta_path
from backdoor_curves.classifiers.inputs import read_only
from backdoor_curves.classifiers.svm import RBFSVM, LinearSVM

MODELS = {
    "linear-svm": lambda C, precomputed: LinearSVM(C=C, precomputed=precomputed),
    "rbf-svm": lambda C, precomputed: RBFSVM(C=C, gamma=0.3, precomputed=precomputed),
}


def betas_of(path) -> np.ndarray:
    """0, every inner breakpoint, the end and a few betas inside pieces."""
    inside = 0.5 * (path.breakpoints[:-1] + path.breakpoints[1:])
    return np.sort(np.concatenate([path.breakpoints, inside[:4]]))


def close(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("precomputed", [False, True], ids=["inputs", "precomputed"])
@pytest.mark.parametrize("name", MODELS)
def test_optima_equal_the_models_of_the_path(name: str, precomputed: bool) -> None:
    X, y, is_poison, X_backdoor, _ = random_problem(np.random.default_rng(5), n=32)
    model = MODELS[name](1.0, precomputed)
    K_eval = model.kernel(X_backdoor, X) if precomputed else X_backdoor
    exact = exact_beta_path(model, model.kernel(X, X) if precomputed else X, y, is_poison)
    assert exact.path.inner_breakpoints.size >= 2
    betas = betas_of(exact.path)
    optima = exact.optima(betas)
    models = [exact.start if beta == 0.0 else exact.model_at(beta) for beta in betas]
    assert optima.dual_coef.shape == (betas.size, y.size)
    close(optima.dual_coef, np.array([m.dual_coef_ for m in models]))
    close(optima.intercept, np.array([m.intercept_ for m in models]))
    close(optima.decision_function(K_eval), np.array([m.decision_function(K_eval) for m in models]))
    close(optima.weight_norm_sq(), np.array([m.weight_norm_sq() for m in models]))
    close(optima.start_inner(), np.array([exact.start.weight_inner(m) for m in models]))


def test_the_row_at_zero_is_the_fit_itself() -> None:
    # At beta = 0 the row is the start model's own optimum (the fit), not the path's value
    # there (re-solved, with the right limit of the bias): bit for bit the fit.
    X, y, is_poison, _, _ = random_problem(np.random.default_rng(2), n=24)
    exact = exact_beta_path(LinearSVM(C=1.0), X, y, is_poison)
    optima = exact.optima([0.0, 1.0])
    np.testing.assert_array_equal(optima.dual_coef[0], exact.start.dual_coef_)
    assert optima.intercept[0] == exact.start.intercept_


def test_optima_outside_the_path_are_refused() -> None:
    X, y, is_poison, _, _ = random_problem(np.random.default_rng(1), n=24)
    model = LinearSVM(C=1.0, precomputed=True)
    exact = exact_beta_path(model, read_only(X @ X.T), y, is_poison, beta_end=0.5)
    with pytest.raises(ValueError, match="outside the path"):
        exact.optima([0.2, 0.7])
