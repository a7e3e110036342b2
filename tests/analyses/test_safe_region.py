"""The safe region of a constructed slope table, whose safe cells are known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from generated_data import SLOPE_CELLS as LINEAR
from generated_data import slope_rows

from backdoor_curves.analyses.safe_region import SafetyCriteria, safe_region


@pytest.fixture
def table() -> pd.DataFrame:
    rows = slope_rows("svm", LINEAR)
    rows += slope_rows("svm-rbf", {1.0: [(0.99, 0.0, 0.2, 0.99)] * 2}, gamma=0.01)
    rows += slope_rows("svm-rbf", {1.0: [(0.97, 0.3, 0.4, 0.97)] * 2}, gamma=0.1)
    return pd.DataFrame(rows)


def test_safe_cells_are_the_known_ones(table: pd.DataFrame) -> None:
    region = safe_region(table, SafetyCriteria(margin=0.02, level=0.1))
    linear = region[region["clf"] == "svm"].set_index("C")
    assert linear["safe"].to_dict() == {0.01: False, 0.1: True, 1.0: True, 10.0: False}
    assert linear["best_clean_acc"].tolist() == [0.96] * 4
    assert linear.loc[0.1, "backdoor_acc_mean"] == pytest.approx(0.075)
    assert linear.loc[0.1, "backdoor_acc_std"] == pytest.approx(np.std([0.05, 0.10], ddof=1))
    assert linear.loc[10.0, "backdoor_ok_seeds"] == 0.0
    # The RBF SVM's best is over the whole (C, gamma) grid: gamma = 0.1 is 0.02 below it.
    rbf = region[region["clf"] == "svm-rbf"].set_index("gamma")
    assert rbf["safe"].to_dict() == {0.01: True, 0.1: False}
    assert rbf.loc[0.1, "clean_acc_ok"] and not rbf.loc[0.1, "backdoor_ok"]


def test_criteria_move_the_region(table: pd.DataFrame) -> None:
    strict = safe_region(table, SafetyCriteria(margin=0.0, level=0.1))
    assert strict.loc[strict["safe"], ["clf", "gamma"]].to_dict("records") == [
        {"clf": "svm-rbf", "gamma": 0.01}
    ]
    loose = safe_region(table, SafetyCriteria(margin=1.0, level=1.0))
    assert loose["safe"].all()


def test_a_nan_accuracy_is_never_safe(table: pd.DataFrame) -> None:
    table.loc[table["C"] == 0.1, "backdoor_acc"] = np.nan
    region = safe_region(table, SafetyCriteria(margin=0.02, level=0.1))
    assert not region.loc[(region["clf"] == "svm") & (region["C"] == 0.1), "safe"].item()


@pytest.mark.parametrize(
    ("margin", "level", "needle"),
    [
        (1.5, 0.1, "margin must be a number in [0, 1]"),
        (-0.01, 0.1, "margin must be a number in [0, 1]"),
        (0.02, float("nan"), "level must be a number in [0, 1]"),
        (True, 0.1, "margin must be a number in [0, 1]"),
        ("0.1", 0.1, "margin must be a number in [0, 1]"),
    ],
)
def test_criteria_outside_the_unit_interval_are_refused(margin, level, needle) -> None:
    with pytest.raises(ValueError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        SafetyCriteria(margin=margin, level=level)


def test_an_empty_grid_is_refused(table: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no grid cells"):
        safe_region(table.iloc[:0])


def test_a_table_without_accuracies_is_refused(table: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="lacks the columns \\['backdoor_acc'\\]"):
        safe_region(table.drop(columns="backdoor_acc"))
