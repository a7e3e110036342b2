"""The slope-only rule scored on a constructed table whose precision and recall are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from generated_data import SLOPE_CELLS as LINEAR
from generated_data import slope_rows

from backdoor_curves.analyses.safe_region import SafetyCriteria, safe_region
from backdoor_curves.analyses.slope_rule import (
    SlopeRule,
    score_rule,
    select_cells,
    summarise_scores,
    transfer_table,
    tune_threshold,
)

CRITERIA = SafetyCriteria(margin=0.02, level=0.1)


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(slope_rows("svm", LINEAR))


def scores(table: pd.DataFrame, threshold: float) -> pd.DataFrame:
    return score_rule(table, safe_region(table, CRITERIA), SlopeRule(threshold, 0.02))


def test_a_cautious_threshold_is_precise_but_misses_safe_cells(table: pd.DataFrame) -> None:
    # Safe: C = 0.1 and 1; theta <= 0.4 selects C = 0.1 only (C = 0.01 is 0.06 below the best).
    result = scores(table, 0.4)
    assert result["n_selected"].tolist() == [1, 1] and result["n_safe"].tolist() == [2, 2]
    assert result["precision"].tolist() == [1.0, 1.0]
    assert result["recall"].tolist() == [0.5, 0.5]
    assert result["choice_C"].tolist() == [0.1, 0.1]
    assert result["clean_acc_given_up"].to_numpy() == pytest.approx([0.01, 0.01])
    assert not result["costly_mistake"].any() and result["choice_safe"].all()


def test_a_loose_threshold_chooses_the_learned_backdoor(table: pd.DataFrame) -> None:
    # theta <= 1 selects C = 0.1, 1 and 10; the choice is the best clean accuracy, C = 10,
    # whose mean BA is 0.6: a costly mistake, with no clean accuracy given up.
    result = scores(table, 1.0)
    assert result["precision"].to_numpy() == pytest.approx([2 / 3, 2 / 3])
    assert result["recall"].tolist() == [1.0, 1.0]
    assert result["choice_C"].tolist() == [10.0, 10.0]
    assert result["costly_mistake"].all() and not result["choice_safe"].any()
    assert result["clean_acc_given_up"].tolist() == [0.0, 0.0]
    summary = summarise_scores(result).iloc[0]
    assert summary["precision_pooled"] == pytest.approx(4 / 6)
    assert summary["costly_mistake"] == 1.0


def test_selecting_nothing_has_no_precision(table: pd.DataFrame) -> None:
    result = scores(table, 0.05)
    assert result["n_selected"].tolist() == [0, 0]
    assert all(math.isnan(value) for value in result["precision"])
    assert result["recall"].tolist() == [0.0, 0.0]
    assert summarise_scores(result).iloc[0]["no_selection"] == 1.0


def test_the_rule_never_sees_the_poisoned_model(table: pd.DataFrame) -> None:
    shuffled = table.assign(backdoor_acc=1.0 - table["backdoor_acc"], clean_acc=0.5)
    rule = SlopeRule(0.6, 0.02)
    assert select_cells(shuffled, rule)["selected"].equals(select_cells(table, rule)["selected"])


def test_tuning_picks_the_smallest_threshold_with_the_best_f1(table: pd.DataFrame) -> None:
    region = safe_region(table, CRITERIA)
    rule = tune_threshold(table, region, CRITERIA, candidates=(0.05, 0.4, 0.6, 0.8, 1.0))
    assert rule == SlopeRule(0.6, 0.02)


def test_transfer_scores_surrogate_choices_against_the_attacker_region(
    table: pd.DataFrame,
) -> None:
    attacker = table.assign(trigger_size=6, backdoor_acc=0.9)  # every cell learns the 6x6
    relabelled = transfer_table(table, attacker)
    assert set(relabelled["trigger_size"]) == {6}
    assert relabelled["theta"].tolist() == table["theta"].tolist()
    result = score_rule(relabelled, safe_region(attacker, CRITERIA), SlopeRule(0.6, 0.02))
    assert result["n_safe"].tolist() == [0, 0]
    assert result["costly_mistake"].all()


@pytest.mark.parametrize(("threshold", "margin"), [(1.2, 0.02), (0.5, -1.0), (np.nan, 0.0)])
def test_rule_outside_the_unit_interval_is_refused(threshold, margin) -> None:
    with pytest.raises(ValueError, match="must be a number in"):
        SlopeRule(threshold, margin)


def test_an_empty_table_is_refused(table: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no grid cells"):
        select_cells(table.iloc[:0], SlopeRule(0.5, 0.02))
