"""The rule's evaluation protocol on a constructed table, and the committed MNIST threshold."""

from __future__ import annotations

import glob
from pathlib import Path

import pandas as pd
import pytest
from generated_data import SLOPE_CELLS, slope_rows

from backdoor_curves.analyses.rule_evaluation import evaluate_rule
from backdoor_curves.analyses.safe_region import SafetyCriteria
from backdoor_curves.analyses.slope_rule import MNIST_THRESHOLD

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_larger_trigger_learned_everywhere_is_a_costly_transfer() -> None:
    small = slope_rows("svm", SLOPE_CELLS) + slope_rows("svm", SLOPE_CELLS, pair="3-0")
    large = [
        row | {"trigger_size": 6, "backdoor_acc": 0.9} for row in slope_rows("svm", SLOPE_CELLS)
    ]
    evaluation = evaluate_rule(pd.DataFrame(small + large), SafetyCriteria(0.02, 0.1))
    assert evaluation.rule.threshold == pytest.approx(0.5)  # smallest tau selecting C = 0.1, 1
    summary = evaluation.summary().set_index(["evaluation", "attacker_trigger"])
    assert summary.loc[("in-sample", "badnet3"), "precision_pooled"] == 1.0
    assert summary.loc[("leave-one-pair-out", "badnet3"), "recall_pooled"] == 1.0
    # Nothing is safe against the 6x6 trigger: every choice is a costly mistake.
    assert summary.loc[("transfer (surrogate theta)", "badnet6"), "costly_mistake"] == 1.0
    assert summary.loc[("baseline (clean accuracy only)", "badnet3"), "costly_mistake"] == 1.0


def test_an_absent_surrogate_is_refused() -> None:
    with pytest.raises(ValueError, match="no slope rows with the surrogate trigger 'badnet9'"):
        evaluate_rule(pd.DataFrame(slope_rows("svm", SLOPE_CELLS)), SafetyCriteria(), "badnet9")


@pytest.mark.slow
def test_the_mnist_threshold_is_the_one_the_committed_tables_give() -> None:
    paths = sorted(glob.glob(str(REPO_ROOT / "results/mnist/slope/*/results.csv")))
    table = pd.concat(pd.read_csv(path, dtype={"pair": str}) for path in paths)
    assert evaluate_rule(table, SafetyCriteria()).rule.threshold == MNIST_THRESHOLD
