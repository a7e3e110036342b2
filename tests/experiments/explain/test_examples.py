"""Figure F7's examples: which two C it shows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backdoor_curves.experiments.config import smoke_config
from backdoor_curves.experiments.explain.cell import ExplainTask
from backdoor_curves.experiments.explain.examples import choose_example_C, example_C
from backdoor_curves.experiments.problem import DataRequest


def _rows(C_values, ranked, statuses=None):
    statuses = statuses or ["ok"] * len(C_values)
    return pd.DataFrame({"C": C_values, "n_images_ranked": ranked, "status": statuses})


@pytest.mark.parametrize(
    ("ranked", "statuses", "expected"),
    [
        # An SVM: nothing to rank at either end of the grid, informative in the middle.
        ((0, 3, 5, 0), ("no margin support vectors", "ok", "ok", "ok"), (0.01, 1.0)),
        ((0, 0, 5, 0), None, (1e-3, 1.0)),  # one informative C and the farther grid end
        ((0, 0, 0, 0), None, (1e-3, 10.0)),  # none: the grid ends
        ((2, 2, 2, 2), None, (1e-3, 10.0)),
    ],
)
def test_example_C_are_where_the_poisoned_model_ranks_points(ranked, statuses, expected):
    grid = (1e-3, 0.01, 1.0, 10.0)
    assert choose_example_C(_rows(grid, ranked, statuses), grid) == expected


def explain_task(clf: str, gamma: float | None) -> ExplainTask:
    config = smoke_config()
    request = DataRequest("mnist", "7-1", 40, 20, 0)
    return ExplainTask(
        request, "pixels", config.main_trigger, 0.1, clf, gamma, (1e-3, 0.1, 1.0), 1, 5, 4
    )


def test_the_flag_wins_and_comes_back_increasing() -> None:
    task = explain_task("svm", None)
    assert example_C((5.0, 0.02), pd.DataFrame(), task) == (0.02, 5.0)


def test_only_the_task_s_poisoned_rows_choose() -> None:
    """Rows of other classifiers, gammas, seeds, betas or C values do not count."""
    task = explain_task("svm-rbf", 0.5)
    base = {"clf": "svm-rbf", "gamma": 0.5, "seed": 1, "k": 5, "n_images": 4, "beta": 1.0}
    rows = [
        base | {"C": 0.1, "n_images_ranked": 2},
        base | {"C": 1.0, "n_images_ranked": 0},
        base | {"C": 1e-3, "n_images_ranked": 3, "beta": 0.0},  # the clean model
        base | {"C": 1.0, "n_images_ranked": 3, "gamma": 0.25},  # another gamma
        base | {"C": 1.0, "n_images_ranked": 3, "seed": 2},  # another seed
        base | {"C": 5.0, "n_images_ranked": 3},  # not in the task's grid
    ]
    table = pd.DataFrame(rows).assign(status="ok")
    # Only C = 0.1 is informative: it and the grid end farther from it in log scale.
    assert example_C(None, table, task) == (1e-3, 0.1)
    linear = explain_task("svm", None)
    table = table.assign(clf="svm", gamma=table["gamma"].where(table["gamma"] != 0.5, np.nan))
    assert example_C(None, table, linear) == (1e-3, 0.1)
