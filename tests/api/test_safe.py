"""safe_hyperparameters on the user's estimator, grid and arrays, against refits of that estimator.

Oracles: the user's own scikit-learn class, cloned with each grid point's parameters and
refitted with ``sample_weight`` (1 on clean points, ``beta`` on the stand-in poisons) on the
poisoned set that :func:`backdoor_curves.api.poison` draws with the same seed: ``beta = 1`` gives
CA and BA, ``beta = 0`` the clean model's accuracy, and ``beta = 0, delta, 2 delta`` the
one-sided finite difference of the mean own backdoor loss, which must equal the slope.
"""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.svm import SVC

from backdoor_curves.api import (
    STAND_IN_CAVEAT,
    MaskTrigger,
    TriggerSpec,
    backdoor_test_set,
    poison,
    safe_hyperparameters,
)

DIGITS_RANGE = (0.0, 16.0)
DELTA = 1e-5
GRIDS = {
    "svc-linear": (SVC(kernel="linear", tol=1e-10), {"C": [0.01, 1.0]}),
    "svc-rbf": (SVC(tol=1e-10), {"C": [0.1, 10.0], "gamma": ["scale", 0.002]}),
    "logistic": (
        LogisticRegression(solver="newton-cholesky", tol=1e-12),
        {"C": [0.001, 1.0]},
    ),
    "ridge": (RidgeClassifier(), {"alpha": [1000.0, 1.0]}),
}


@pytest.fixture(scope="module")
def digits():
    """Digits 3 and 8 as 8x8 images in [0, 16]: 80 training and 60 test images."""
    data = load_digits()
    keep = np.isin(data.target, [3, 8])
    images, labels = data.images[keep], data.target[keep]
    return images[:80], labels[:80], images[80:140], labels[80:140]


def stand_in_problem(digits, seed):
    """The poisoned set and backdoor test set of seed ``seed``, drawn by the public API."""
    X, y, X_test, y_test = digits
    poisoned = poison(X, y, TriggerSpec.badnet(3), 0.1, value_range=DIGITS_RANGE, seed=seed)
    X_bd, y_bd = backdoor_test_set(X_test, y_test, poisoned.trigger, value_range=DIGITS_RANGE)
    flat = lambda images: images.reshape(len(images), -1)  # noqa: E731
    return flat(poisoned.X), poisoned.y, poisoned.is_poison, flat(X_test), y_test, flat(X_bd), y_bd


def search(digits, estimator, grid, **options):
    X, y, X_test, y_test = digits
    options = {"value_range": DIGITS_RANGE, **options}
    return safe_hyperparameters(
        estimator, grid, X, y, TriggerSpec.badnet(3), X_test=X_test, y_test=y_test, **options
    )


@pytest.mark.parametrize("name", GRIDS)
def test_accuracies_are_those_of_refits_of_the_users_estimator(name, digits):
    estimator, grid = GRIDS[name]
    seeds = [3, 11]
    found = search(digits, estimator, grid, seeds=seeds)
    assert list(found.table.columns[: len(grid)]) == list(grid)
    refits = {column: np.zeros((len(found.table), len(seeds))) for column in ("CA", "BA", "A")}
    for column_of_seed, seed in enumerate(seeds):
        X, y, is_poison, X_test, y_test, X_bd, y_bd = stand_in_problem(digits, seed)
        for index, point in found.table[list(grid)].iterrows():
            cell = clone(estimator).set_params(**point.to_dict())
            poisoned = clone(cell).fit(X, y, sample_weight=np.ones(len(y)))
            clean = clone(cell).fit(X, y, sample_weight=np.where(is_poison, 0.0, 1.0))
            refits["CA"][index, column_of_seed] = poisoned.score(X_test, y_test)
            refits["BA"][index, column_of_seed] = poisoned.score(X_bd, y_bd)
            refits["A"][index, column_of_seed] = clean.score(X_test, y_test)
    for column, name_in_table in (("CA", "clean_acc"), ("BA", "backdoor_acc"),
                                  ("A", "clean_model_acc")):  # fmt: skip
        np.testing.assert_allclose(found.table[f"{name_in_table}_mean"], refits[column].mean(1))
        np.testing.assert_allclose(
            found.table[f"{name_in_table}_std"], refits[column].std(1, ddof=1), atol=1e-12
        )
    assert (found.table["n_seeds"] == 2).all() and (found.table["slope_status"] == "ok").all()


def own_backdoor_loss(estimator, X_bd, y_bd, loss):
    margin = np.where(y_bd == estimator.classes_[1], 1.0, -1.0) * estimator.decision_function(X_bd)
    return (np.logaddexp(0.0, -margin) if loss == "logistic" else np.maximum(0, 1 - margin)).mean()


@pytest.mark.parametrize(
    ("estimator", "point", "loss", "tolerance"),
    [
        (LogisticRegression(solver="newton-cholesky", tol=1e-12), {"C": 0.5}, "logistic", 1e-6),
        (SVC(tol=1e-12), {"C": 10.0, "gamma": "scale"}, "hinge", 1e-5),
    ],
    ids=["logistic", "svc-rbf-scale"],
)
def test_the_slope_is_the_finite_difference_of_refits(estimator, point, loss, tolerance, digits):
    found = search(digits, estimator, {name: [value] for name, value in point.items()}, seeds=4)
    X, y, is_poison, _, _, X_bd, y_bd = stand_in_problem(digits, 4)
    cell = clone(estimator).set_params(**point)
    losses = [
        own_backdoor_loss(
            clone(cell).fit(X, y, sample_weight=np.where(is_poison, beta, 1.0)), X_bd, y_bd, loss
        )
        for beta in (0.0, DELTA, 2 * DELTA)
    ]
    expected = (-3 * losses[0] + 4 * losses[1] - losses[2]) / (2 * DELTA)
    row = found.table.iloc[0]
    assert row["slope_mean"] == pytest.approx(expected, rel=tolerance, abs=tolerance)
    assert row["theta_mean"] == pytest.approx(-2 / np.pi * np.arctan(row["slope_mean"]))


def blobs(seed, n, period=2):
    """Two separated blobs (labels 0 / 1 at -2 / +2 on feature 0; one point in ``period`` has
    label 1), last feature 0."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % period == 0).astype(np.int64)
    X = 0.4 * rng.normal(size=(n, 4))
    X[:, 0] += np.where(y == 1, 2.0, -2.0)
    X[:, -1] = 0.0
    return np.clip(X, -9.0, 9.0), y


FEATURE_TRIGGER = MaskTrigger(np.array([False, False, False, True]), np.array([0, 0, 0, 5.0]))


def feature_search(grid, trigger=FEATURE_TRIGGER, **options):
    X, y = blobs(0, 60, period=3)
    X_test, y_test = blobs(1, 40)
    return safe_hyperparameters(
        SVC(), grid, X, y, trigger, X_test=X_test, y_test=y_test, value_range=(-10, 10),
        **options,
    )  # fmt: skip


def test_the_rule_chooses_the_accurate_cell_and_nothing_when_theta_must_be_zero():
    # gamma = 1e6: every kernel value between distinct points is 0 in float64, so the clean
    # model predicts the class of its intercept, the majority class of the training set (two
    # points in three), everywhere: accuracy 0.5 on the balanced test set, far outside the
    # margin. gamma = 0.05 separates the blobs: accuracy 1, and the stand-in poisons lower the
    # backdoor loss (theta > 0).
    grid = {"C": [10.0], "gamma": [1e6, 0.05]}
    found = feature_search(grid, threshold=1.0)
    accurate = found.table.iloc[1]
    assert found.table["clean_model_acc_mean"].tolist() == [0.5, 1.0]
    assert accurate["theta_mean"] > 0
    assert found.table["selected"].tolist() == [False, True]
    assert found.choice == {"C": 10.0, "gamma": 0.05}
    assert {"C": 10.0, "gamma": 1e6} not in found.region
    assert feature_search(grid, threshold=0.0).choice is None


def test_a_function_trigger_on_features_sees_rows_and_matches_the_mask():
    def set_last_feature(X, labels):
        assert X.shape[1:] == (4,)
        X[:, -1] = 5.0
        return X

    grid = {"C": [0.1, 1.0], "gamma": [0.05]}
    by_mask, by_function = feature_search(grid), feature_search(grid, set_last_feature)
    assert by_function.table.equals(by_mask.table)
    assert STAND_IN_CAVEAT in str(by_mask) and by_mask.caveat == STAND_IN_CAVEAT


@pytest.mark.parametrize(
    ("grid", "options", "needle"),
    [
        ({}, {}, "the parameter grid is empty"),
        ({"C": []}, {}, "the parameter grid is empty"),
        ({"degre": [3]}, {}, "'degre', which SVC does not have"),
        ({"C": 1.0}, {}, r"param_grid\['C'\] must be a list"),
        ({"C": [-1.0]}, {}, "C=-1.0"),
        ({"kernel": ["linear", "rbf"]}, {}, "different models"),
        ({"C": [1.0], "tol": [1e-3, 1e-4]}, {}, "same objective"),
        ({"kernel": ["precomputed"]}, {}, "kernel='precomputed'"),
        ({"C": [1.0]}, {"margin": 1.5}, "margin must be a number in"),
        ({"C": [1.0]}, {"margin": -0.1}, "margin must be a number in"),
        ({"C": [1.0]}, {"level": 2}, "level must be a number in"),
        ({"C": [1.0]}, {"threshold": float("nan")}, "threshold must be a number in"),
        ({"C": [1.0]}, {"seeds": []}, "seeds must be"),
        ({"C": [1.0]}, {"seeds": [1, 1]}, "seeds must be"),
        ({"C": [1.0]}, {"seeds": -2}, "seeds must be"),
        ({"C": [1.0]}, {"trigger": TriggerSpec.badnet(2)}, "for features give a MaskTrigger"),
        ({"C": [1.0]}, {"trigger": lambda X, y: X[:, :2]}, "returned shape"),
    ],
)
def test_bad_input_is_one_value_error_naming_it(grid, options, needle):
    with pytest.raises(ValueError, match=needle):
        feature_search(grid, **options)


def test_an_unsupported_estimator_is_a_type_error():
    X, y = blobs(0, 20)
    with pytest.raises(TypeError, match="is not supported"):
        safe_hyperparameters(
            object(), {"C": [1.0]}, X, y, FEATURE_TRIGGER, X_test=X, y_test=y, value_range=(-9, 9)
        )


def test_nothing_given_is_modified(digits):
    X, y, X_test, y_test = digits
    estimator = RidgeClassifier(alpha=3.0)
    grid = {"alpha": [1.0, 10.0]}
    arrays = (X, y, X_test, y_test)
    copies = [array.copy() for array in arrays]
    flags = [array.flags.writeable for array in arrays]
    search(digits, estimator, grid, seeds=[0, 1])
    assert estimator.get_params() == RidgeClassifier(alpha=3.0).get_params()
    assert not hasattr(estimator, "coef_")
    assert grid == {"alpha": [1.0, 10.0]}
    for array, copy, writeable in zip(arrays, copies, flags, strict=True):
        np.testing.assert_array_equal(array, copy)
        assert array.flags.writeable == writeable
