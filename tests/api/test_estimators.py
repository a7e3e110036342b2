"""The mapping of scikit-learn estimators onto the analysed objective, and every refusal.

Accepted estimators map onto the model and parameters of the table in docs/api.md (the
slopes themselves are checked against refits in test_learning.py); every configuration whose
objective differs is one ValueError or TypeError, on one line, naming the parameter and what
is supported.
"""

import numpy as np
import pytest
from generated_data import backdoor_blobs
from scipy import sparse
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC, NuSVC

from backdoor_curves.api import analysed_model, learning_curve, learning_slope
from backdoor_curves.classifiers import RBFSVM, LinearSVM, LogisticClassifier
from backdoor_curves.classifiers import RidgeClassifier as OurRidge


class MySVC(SVC):
    """A subclass may change the objective: refused."""


@pytest.fixture(scope="module")
def problem():
    return backdoor_blobs(0)


# --- accepted estimators -----------------------------------------------------------------------
def test_svc_gamma_scale_is_resolved_on_the_training_set(problem):
    X = problem[0]
    model = analysed_model(SVC(C=3.0), X)
    assert (model.model, model.C) == ("svm-rbf", 3.0)
    assert model.gamma == pytest.approx(1.0 / (X.shape[1] * X.var()), rel=1e-15)
    assert isinstance(model.make(), RBFSVM) and model.make().gamma == model.gamma


def test_svc_gamma_auto_and_numbers(problem):
    X = problem[0]
    assert analysed_model(SVC(gamma="auto"), X).gamma == 1.0 / X.shape[1]
    assert analysed_model(SVC(gamma=0.25), X).gamma == 0.25
    assert analysed_model(SVC(gamma="scale"), np.ones((4, 3))).gamma == 1.0  # X.var() == 0


def test_linear_and_precomputed_svc(problem):
    X = problem[0]
    linear = analysed_model(SVC(kernel="linear", C=0.5, gamma="auto"), X)
    assert (linear.model, linear.C, np.isnan(linear.gamma)) == ("svm", 0.5, True)
    assert isinstance(linear.make(), LinearSVM)
    precomputed = analysed_model(SVC(kernel="precomputed", C=2.0), X @ X.T)
    assert (precomputed.model, precomputed.C, precomputed.precomputed) == ("svm", 2.0, True)
    made = precomputed.make()
    assert isinstance(made, LinearSVM) and made.precomputed and made.C == 2.0


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg", "newton-cholesky", "sag", "saga"])
def test_logistic_regression_keeps_C(problem, solver):
    model = analysed_model(LogisticRegression(C=0.3, solver=solver), problem[0])
    assert (model.model, model.C, model.loss) == ("logistic", 0.3, "logistic")
    assert isinstance(model.make(), LogisticClassifier)


def test_ridge_classifier_C_is_one_over_twice_alpha(problem):
    model = analysed_model(RidgeClassifier(alpha=4.0), problem[0])
    assert (model.model, model.C, model.loss) == ("ridge", 0.125, "squared")
    assert isinstance(model.make(), OurRidge)


def test_the_description_names_estimator_and_objective(problem):
    text = str(analysed_model(SVC(C=2.0, gamma=0.5), problem[0]))
    assert "SVC(C=2.0, gamma=0.5)" in text and "C=2, gamma=0.5" in text
    assert "hinge" in text and "exact optimum" in text


def test_solver_settings_do_not_change_the_model(problem):
    X = problem[0]
    plain = analysed_model(SVC(C=2.0), X)
    tuned = analysed_model(SVC(C=2.0, tol=1e-2, max_iter=5, shrinking=False, cache_size=10), X)
    assert (plain.model, plain.C, plain.gamma) == (tuned.model, tuned.C, tuned.gamma)


# --- refusals ----------------------------------------------------------------------------------
UNSUPPORTED_VALUES = [
    (SVC(kernel="poly"), "kernel='poly'"),
    (SVC(kernel="sigmoid"), "kernel='sigmoid'"),
    (SVC(kernel=np.dot), "kernel="),
    (SVC(class_weight="balanced"), "class_weight='balanced'"),
    (SVC(kernel="linear", class_weight={3: 2.0}), "class_weight="),
    (SVC(C=0.0), "C=0.0"),
    (SVC(gamma=-1.0), "gamma=-1.0"),
    (LogisticRegression(l1_ratio=1.0, solver="saga"), "l1_ratio=1.0"),
    (LogisticRegression(l1_ratio=0.5, solver="saga"), "l1_ratio=0.5"),
    (LogisticRegression(penalty="l1", solver="saga"), "penalty='l1'"),
    (LogisticRegression(penalty=None), "penalty=None"),
    (LogisticRegression(C=np.inf), "C=inf"),
    (LogisticRegression(solver="liblinear"), "solver='liblinear'"),
    (LogisticRegression(dual=True), "dual=True"),
    (LogisticRegression(fit_intercept=False), "fit_intercept=False"),
    (LogisticRegression(class_weight="balanced"), "class_weight='balanced'"),
    (RidgeClassifier(alpha=0.0), "alpha=0.0"),
    (RidgeClassifier(positive=True, solver="lbfgs"), "positive=True"),
    (RidgeClassifier(fit_intercept=False), "fit_intercept=False"),
    (RidgeClassifier(class_weight="balanced"), "class_weight='balanced'"),
    (LinearSVC(), "intercept_scaling"),
    (LinearSVC(loss="hinge"), "intercept_scaling"),
    (LinearSVC(loss="hinge", fit_intercept=False), "fit_intercept=False"),
]


@pytest.mark.parametrize(
    ("estimator", "parameter"), UNSUPPORTED_VALUES, ids=[case[1] for case in UNSUPPORTED_VALUES]
)
def test_an_objective_that_differs_is_one_value_error(problem, estimator, parameter):
    with pytest.raises(ValueError, match="supported") as error:
        learning_slope(estimator, *problem)
    message = str(error.value)
    assert parameter in message and "\n" not in message


UNSUPPORTED_TYPES = [
    RandomForestClassifier(),
    make_pipeline(StandardScaler(), SVC()),
    LogisticRegressionCV(),
    MySVC(),
    NuSVC(),
    "svm",
]


@pytest.mark.parametrize(
    "estimator", UNSUPPORTED_TYPES, ids=lambda estimator: type(estimator).__name__
)
def test_another_estimator_class_is_one_type_error(problem, estimator):
    with pytest.raises(TypeError, match="supported: SVC") as error:
        learning_slope(estimator, *problem)
    assert "\n" not in str(error.value)


def test_a_multiclass_target_is_refused(problem):
    X, y, is_poison, X_backdoor, y_backdoor = problem
    y = y.copy()
    y[:3] = 5
    with pytest.raises(ValueError, match=r"y has 3 classes \[3, 5, 8\]; supported: a binary"):
        learning_slope(SVC(), X, y, is_poison, X_backdoor, y_backdoor)


BAD_DATA = {
    "continuous y": (lambda p: (p[0], p[1] + 0.5, *p[2:]), ValueError, "label type"),
    "integer mask": (
        lambda p: (p[0], p[1], p[2].astype(int), *p[3:]),
        ValueError,
        "is_poison must be a bool mask",
    ),
    "no poison": (lambda p: (*p[:2], np.zeros_like(p[2]), *p[3:]), ValueError, "no training"),
    "clean points of one class": (
        lambda p: (p[0], np.where(p[2], 3, 8), *p[2:]),
        ValueError,
        "clean points",
    ),
    "NaN in X": (lambda p: (np.where(p[0] > 2, np.nan, p[0]), *p[1:]), ValueError, "NaN"),
    "sparse X": (lambda p: (sparse.csr_matrix(p[0]), *p[1:]), TypeError, "dense data"),
    "X_backdoor columns": (lambda p: (*p[:3], p[3][:, :-1], p[4]), ValueError, "X_backdoor has"),
    "y_backdoor labels": (lambda p: (*p[:4], np.full(len(p[4]), 7)), ValueError, "y_backdoor"),
    "y_backdoor shape": (lambda p: (*p[:4], p[4][:-1]), ValueError, "y_backdoor has shape"),
}


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_arrays_are_one_error_naming_the_argument(problem, case):
    change, error_type, needle = BAD_DATA[case]
    with pytest.raises(error_type, match=needle) as error:
        learning_slope(SVC(), *change(problem))
    assert "\n" not in str(error.value)


def test_a_precomputed_kernel_must_be_square_and_symmetric(problem):
    X, y, is_poison, X_backdoor, y_backdoor = problem
    K, K_backdoor = X @ X.T, X_backdoor @ X.T
    with pytest.raises(ValueError, match="X must be the .* kernel matrix"):
        learning_slope(SVC(kernel="precomputed"), X, y, is_poison, X_backdoor, y_backdoor)
    asymmetric = K.copy()
    asymmetric[0, 1] += 1.0
    with pytest.raises(ValueError, match="symmetric"):
        learning_slope(SVC(kernel="precomputed"), asymmetric, y, is_poison, K_backdoor, y_backdoor)


def test_a_fitted_estimator_must_model_these_data(problem):
    X, y, is_poison, X_backdoor, y_backdoor = problem
    other_features = SVC().fit(X[:, :-1], y)
    with pytest.raises(ValueError, match="fitted on 11 features but X has 12"):
        learning_slope(other_features, *problem)
    other_classes = SVC().fit(X, np.where(y == 3, 0, 1))
    with pytest.raises(ValueError, match=r"fitted on classes \[0, 1\] but y has \[3, 8\]"):
        learning_slope(other_classes, *problem)


@pytest.mark.parametrize(
    ("betas", "needle"),
    [
        ([], "empty"),
        ([0.0, 1.5], r"\[0, 1\]"),
        ([0.1, 0.5], "increase from 0"),
        ([0, 0.5, 0.2], "increase"),
    ],
)
def test_a_bad_beta_grid_is_refused(problem, betas, needle):
    with pytest.raises(ValueError, match=needle):
        learning_curve(RidgeClassifier(), *problem, betas)


def test_a_clean_test_set_needs_both_arrays(problem):
    with pytest.raises(ValueError, match="both X_test and y_test"):
        learning_curve(RidgeClassifier(), *problem, [0.0, 0.5], X_test=problem[0])
