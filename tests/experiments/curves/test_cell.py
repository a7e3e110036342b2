"""Rows of one curve: the SVMs' batched rows equal the path's models one by one; the exact
tangent validity range of an SVM curve, checked against fresh fits."""

from __future__ import annotations

import tempfile
from itertools import pairwise

import numpy as np
import pytest
from generated_data import random_problem
from threadpoolctl import threadpool_limits

from backdoor_curves.analyses.deviation import parameter_deviation
from backdoor_curves.analyses.path_tolerance import REFINE_TOLERANCE
from backdoor_curves.analyses.tangent import TANGENT_TOLERANCE
from backdoor_curves.classifiers.exact_path import exact_beta_path
from backdoor_curves.classifiers.losses import to_signed
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.config import mnist_config
from backdoor_curves.experiments.curves.cell import (
    BREAKPOINT,
    GRID_POINT,
    REFINED,
    CurveTask,
    _path_rows,
    curve_group,
)
from backdoor_curves.experiments.problem import DataRequest, PoisonedProblem
from backdoor_curves.experiments.workspace import ProblemKernels, Workspace, on_kernels

BETAS = (0.0, 0.1, 0.25, 0.5, 1.0)
NUMBERS = ("clean_loss", "backdoor_loss", "clean_acc", "backdoor_acc", "nu", "rho")


def curve_inputs(clf: str, gamma: float | None, C: float = 1.0):
    rng = np.random.default_rng(11)
    X, y, is_poison, X_backdoor, y_backdoor = random_problem(rng, n=40)
    X_test = rng.normal(size=(30, X.shape[1]))
    y_test = (X_test[:, 0] > 0).astype(np.int64)
    problem = PoisonedProblem(X, y, is_poison, X_test, y_test, X_backdoor, y_backdoor)
    model = on_kernels(make_classifier(clf, C, gamma))
    kernels = ProblemKernels(*(model.kernel(A, problem.X_train) for A in (X, X_test, X_backdoor)))
    task = CurveTask(None, "pixels", None, clf, gamma, 1.0 / C, 0.25, 0, BETAS)  # type: ignore[arg-type]
    return task, problem, model, kernels


def rows_model_by_model(problem, model, kernels) -> list[dict[str, float]]:
    """The oracle: a model at every grid beta and breakpoint, evaluated one at a time."""
    exact = exact_beta_path(model, kernels.train, problem.y_train, problem.is_poison)
    betas = sorted({*BETAS, *exact.path.inner_breakpoints.tolist()})
    rows = []
    for beta in betas:
        fitted = exact.start if beta == 0.0 else exact.model_at(beta)
        f_test, f_backdoor = (fitted.decision_function(K) for K in (kernels.test, kernels.backdoor))
        loss = fitted.margin_loss
        rows.append({
            "beta": beta,
            "clean_loss": loss.value(to_signed(problem.y_test), f_test).mean(),
            "backdoor_loss": loss.value(to_signed(problem.y_backdoor), f_backdoor).mean(),
            "clean_acc": np.mean((f_test > 0) == (problem.y_test == 1)),
            "backdoor_acc": np.mean((f_backdoor > 0) == (problem.y_backdoor == 1)),
            **dict(zip(("nu", "rho"), parameter_deviation(exact.start, fitted), strict=True)),
        })  # fmt: skip
    return rows


@pytest.mark.parametrize(("clf", "gamma"), [("svm", None), ("svm-rbf", 0.3)])
def test_svm_rows_equal_the_rows_of_each_model_of_the_path(clf: str, gamma: float | None) -> None:
    task, problem, model, kernels = curve_inputs(clf, gamma)
    rows = _path_rows(task, problem, model, kernels)
    expected = rows_model_by_model(problem, model, kernels)
    assert [row["beta"] for row in rows] == [row["beta"] for row in expected]
    assert {row["point"] for row in rows} == {GRID_POINT, BREAKPOINT}
    assert [row["beta"] for row in rows if row["point"] == GRID_POINT] == list(BETAS)
    n_breakpoints = sum(row["point"] == BREAKPOINT for row in rows)
    assert n_breakpoints >= 2 and all(row["n_breakpoints"] >= n_breakpoints for row in rows)
    for column in NUMBERS:
        got = np.array([row[column] for row in rows])
        want = np.array([row[column] for row in expected])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=column)


def tangent_holds(problem, model, kernels, beta: float, start_loss: float, slope: float) -> bool:
    """Whether the tangent is within 10% of a fresh fit's backdoor-loss drop at ``beta``."""
    weights = np.where(problem.is_poison, beta, 1.0)
    fitted = model.with_params().fit(kernels.train, problem.y_train, weights)
    scores = fitted.decision_function(kernels.backdoor)
    actual = start_loss - fitted.margin_loss.value(to_signed(problem.y_backdoor), scores).mean()
    return abs(-slope * beta - actual) <= TANGENT_TOLERANCE * abs(actual)


@pytest.mark.parametrize(
    ("clf", "gamma", "C"),
    [("svm", None, 1.0), ("svm-rbf", 0.3, 1.0), ("logistic", None, 1e3), ("ridge", None, 1e3)],
)
def test_tangent_validity_is_exact_against_fresh_fits(
    clf: str, gamma: float | None, C: float
) -> None:
    """SVMs: in closed form on the exact path; logistic and ridge: the root on the followed path."""
    task, problem, model, kernels = curve_inputs(clf, gamma, C)
    rows = _path_rows(task, problem, model, kernels)
    valid, slope = rows[0]["tangent_crossing"], rows[0]["slope_if"]
    betas = [row["beta"] for row in rows]
    # It ends strictly between two rows: found on the path, not at a row.
    assert 0.0 < valid < betas[-1] and valid not in betas
    args = (problem, model, kernels)
    start = rows[0]["backdoor_loss"]
    inside = np.linspace(0, valid, 25)[1:-1]
    assert all(tangent_holds(*args, beta, start, slope) for beta in inside)
    assert tangent_holds(*args, valid * (1 - 1e-6), start, slope)
    assert not tangent_holds(*args, valid * (1 + 1e-6), start, slope)


@pytest.mark.parametrize(("clf", "gamma"), [("svm", None), ("svm-rbf", 0.3)])
def test_svm_validity_range_is_the_first_breakpoint_where_fresh_fits_miss(
    clf: str, gamma: float | None
) -> None:
    """``tangent_valid_until``: the first breakpoint at which the loss has left the tangent."""
    task, problem, model, kernels = curve_inputs(clf, gamma, 1.0)
    rows = _path_rows(task, problem, model, kernels)
    valid, crossing = rows[0]["tangent_valid_until"], rows[0]["tangent_crossing"]
    breakpoints = [row["beta"] for row in rows if row["point"] == BREAKPOINT]
    assert valid in breakpoints and crossing < valid

    def holds(beta: float) -> bool:
        start, slope = rows[0]["backdoor_loss"], rows[0]["slope_if"]
        return tangent_holds(problem, model, kernels, beta, start, slope)

    # A fresh fit misses at it and holds at every breakpoint before it.
    assert not holds(valid)
    assert all(holds(beta) for beta in breakpoints if beta < valid)
    if clf == "svm-rbf":  # here the row after the crossing is a grid beta, not the range
        assert any(crossing < beta < valid for beta in BETAS)


@pytest.mark.parametrize("clf", ["ridge", "logistic"])
def test_followed_validity_range_is_the_crossing(clf: str) -> None:
    """Logistic and ridge have no breakpoints: the range is the root of the miss."""
    rows = _path_rows(*curve_inputs(clf, None, 1e3))
    assert rows[0]["tangent_valid_until"] == rows[0]["tangent_crossing"]


@pytest.mark.parametrize("clf", ["ridge", "logistic"])
def test_followed_rows_hold_the_tolerance_against_fresh_fits(clf: str) -> None:
    """Between consecutive rows the chord is within ``REFINE_TOLERANCE`` of fresh fits.

    Ridge at a large C learns the poisons within a tiny beta: the grid alone misses there.
    On this logistic curve a step accepted on the Hermite estimate alone (without its margin)
    missed by 1.004 times the tolerance.
    """
    task, problem, model, kernels = curve_inputs(clf, None, C=1e3)
    rows = _path_rows(task, problem, model, kernels)
    assert [row["beta"] for row in rows if row["point"] == GRID_POINT] == list(BETAS)
    assert {row["point"] for row in rows} == {GRID_POINT, REFINED}
    betas = np.array([row["beta"] for row in rows])
    columns = ("backdoor_loss", "clean_loss")
    values = np.array([[row[column] for column in columns] for row in rows])
    on_grid = np.array([row["point"] == GRID_POINT for row in rows])
    scale = REFINE_TOLERANCE * np.ptp(values[on_grid], axis=0)
    rng = np.random.default_rng(5)
    for i in range(betas.size - 1):
        t = rng.uniform(size=3)
        for beta in betas[i] + t * (betas[i + 1] - betas[i]):
            weights = np.where(problem.is_poison, beta, 1.0)
            fitted = model.with_params().fit(kernels.train, problem.y_train, weights)
            actual = [
                fitted.loss(kernels.backdoor, problem.y_backdoor).mean(),
                fitted.loss(kernels.test, problem.y_test).mean(),
            ]
            chord = np.interp(beta, betas, values[:, 0]), np.interp(beta, betas, values[:, 1])
            assert np.all(np.abs(np.subtract(actual, chord)) <= scale), (beta, i)


def mnist_svm_curves():
    """The SVM curves of the default run on MNIST 7-1: ``(task, model, kernels, problem, rows)``."""
    config = mnist_config()
    request = DataRequest("mnist", "7-1", None, None, config.data_seed)
    with threadpool_limits(1), tempfile.TemporaryDirectory() as empty:
        workspace = Workspace(data_dir=empty)
        svms = [model for model in config.curves.models if model.clf.startswith("svm")]
        curves = [
            (model_config, lam, fraction)
            for model_config in svms
            for lam in model_config.lambdas
            for fraction in config.curves.poison_fractions
        ]
        for model_config, lam, fraction in curves:
            task = CurveTask(request, "pixels", config.curves.trigger, model_config.clf,
                             model_config.gamma, lam, fraction, config.curves.seeds[0],
                             config.curves.betas)  # fmt: skip
            model = on_kernels(make_classifier(task.clf, 1.0 / lam, task.gamma))
            key = curve_group(task)
            kernels, problem = workspace.inputs(key, model), workspace.problem(key)
            yield task, model, kernels, problem, _path_rows(task, problem, model, kernels)


@pytest.mark.slow
def test_lines_through_the_rows_of_the_mnist_svm_curves_are_close_to_the_exact_path() -> None:
    """Every SVM curve of the default run on MNIST 7-1 (docs/method.md, F2's lines).

    Between consecutive rows (grid betas and breakpoints) the losses bend only where a test
    score crosses its margin: at 8 betas inside every interval the line through the rows is
    within 1e-3 (backdoor loss) and 1e-2 (clean loss) of the path's losses, relative to their
    range over the grid.
    """
    inside = np.linspace(0, 1, 10)[1:-1]
    for task, model, kernels, problem, rows in mnist_svm_curves():
        betas = np.array([row["beta"] for row in rows])
        exact = exact_beta_path(
            model, kernels.train, problem.y_train, problem.is_poison, beta_end=betas[-1]
        )
        between = np.concatenate([a + inside * (b - a) for a, b in pairwise(betas)])
        optima = exact.optima(list(between))
        grid = np.array([row["point"] == GRID_POINT for row in rows])
        for column, K, y, bound in (
            ("backdoor_loss", kernels.backdoor, problem.y_backdoor, 1e-3),
            ("clean_loss", kernels.test, problem.y_test, 1e-2),
        ):
            on_rows = np.array([row[column] for row in rows])
            scores = optima.decision_function(K)
            actual = exact.start.margin_loss.value(to_signed(y), scores).mean(axis=1)
            miss = np.abs(actual - np.interp(between, betas, on_rows))
            assert miss.max() <= bound * np.ptp(on_rows[grid]), (task.clf, task.lam, column)


@pytest.mark.slow
def test_the_tangent_columns_of_the_mnist_svm_curves_against_fresh_fits() -> None:
    """On MNIST 7-1, fresh fits leave the tangent at the crossing and miss at the range."""
    checked = 0
    for task, model, kernels, problem, rows in mnist_svm_curves():
        crossing, valid = rows[0]["tangent_crossing"], rows[0]["tangent_valid_until"]
        if not crossing < task.betas[-1]:
            continue
        fits, tangent = (problem, model, kernels), (rows[0]["backdoor_loss"], rows[0]["slope_if"])
        key = (task.clf, task.lam, task.poison_fraction)
        assert tangent_holds(*fits, crossing * (1 - 1e-6), *tangent), key
        assert not tangent_holds(*fits, crossing * (1 + 1e-6), *tangent), key
        breakpoints = [row["beta"] for row in rows if row["point"] == BREAKPOINT]
        assert valid in breakpoints and not tangent_holds(*fits, valid, *tangent), key
        earlier = [beta for beta in breakpoints if beta < valid]
        assert not earlier or tangent_holds(*fits, earlier[-1], *tangent), key
        checked += 1
    assert checked == 18  # every curve leaves its tangent before beta = 1
