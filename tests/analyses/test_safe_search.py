"""safe_hyperparameters on a small problem: every cell checked against independent fits."""

from __future__ import annotations

import numpy as np
import pytest
from generated_data import backdoor_blobs
from sklearn.linear_model import Ridge

from backdoor_curves.analyses.safe_region import SafetyCriteria
from backdoor_curves.analyses.safe_search import safe_hyperparameters
from backdoor_curves.classifiers.registry import make_classifier

GRID = {"C": [0.001, 0.1, 10.0]}


@pytest.fixture(scope="module")
def problem():
    X, y, is_poison, X_backdoor, y_backdoor = backdoor_blobs(0, n=80, n_poison=12)
    X_test, y_test, _, _, _ = backdoor_blobs(1, n=60, n_poison=1)
    to01 = lambda labels: (labels == 8).astype(np.int64)  # noqa: E731
    return (X, to01(y), is_poison, X_test[:60], to01(y_test[:60]), X_backdoor, to01(y_backdoor))


def test_cells_match_independent_ridge_fits(problem) -> None:
    X, y, is_poison, X_test, y_test, X_backdoor, y_backdoor = problem
    found = safe_hyperparameters(make_classifier("ridge", 1.0), GRID, *problem)
    assert found.cells["C"].tolist() == GRID["C"]
    for _, cell in found.cells.iterrows():
        # Ridge classifier: squared loss on +-1 targets, 1/2 |w|^2 + C sum (...)^2.
        reference = Ridge(alpha=1.0 / (2.0 * cell["C"])).fit(X, 2.0 * y - 1.0)
        ca = np.mean((reference.predict(X_test) > 0) == (y_test == 1))
        ba = np.mean((reference.predict(X_backdoor) > 0) == (y_backdoor == 1))
        assert cell["clean_acc"] == pytest.approx(ca)
        assert cell["backdoor_acc"] == pytest.approx(ba)
        assert 0.0 < cell["theta"] < 1.0


def test_region_and_choice_follow_the_cells(problem) -> None:
    found = safe_hyperparameters(
        make_classifier("ridge", 1.0), GRID, *problem, criteria=SafetyCriteria(1.0, 1.0),
        threshold=1.0,
    )  # fmt: skip
    assert found.region["safe"].all()
    best = found.cells["clean_acc_clean_model"].max()
    chosen = found.cells[found.cells["chosen"]].iloc[0]
    assert chosen["clean_acc_clean_model"] == best
    assert found.choice == {"C": chosen["C"]}
    nothing = safe_hyperparameters(make_classifier("ridge", 1.0), GRID, *problem, threshold=0.0)
    assert nothing.choice is None


@pytest.mark.parametrize("grid", [{}, {"C": []}])
def test_an_empty_grid_is_refused(grid, problem) -> None:
    with pytest.raises(ValueError, match="the parameter grid is empty"):
        safe_hyperparameters(make_classifier("ridge", 1.0), grid, *problem)


def test_an_unknown_hyperparameter_is_refused(problem) -> None:
    with pytest.raises(ValueError, match="has no parameter degree"):
        safe_hyperparameters(make_classifier("ridge", 1.0), {"degree": [2]}, *problem)
