r"""How well the slope-only rule finds the safe region (``docs/safe_hyperparameters.md``).

Given the slope tables of several pairs and triggers (one row per group, cell and seed), and a
**surrogate trigger** (the one the defender computes the slope with, badnet 3x3 on MNIST):

1. ``in-sample``: the threshold is tuned
   (:func:`~backdoor_curves.analyses.slope_rule.tune_threshold`) on every pair of the
   surrogate trigger and scored on the same rows (optimistic);
2. ``leave-one-pair-out``: for each pair, tuned on the other pairs, scored on that pair (the
   honest estimate for a new pair);
3. for every other trigger ``T`` of the tables (badnet 6x6, the invisible trigger):
   ``transfer (attacker theta)`` scores the surrogate-tuned threshold on ``T``'s own slopes (the
   threshold transfers, the slope is computed with the right trigger), and ``transfer
   (surrogate theta)`` scores the choices made from the surrogate's slopes against ``T``'s safe
   region (what a defender who does not know the trigger actually gets).

4. ``baseline (clean accuracy only)``: the same choices with no slope (threshold 1: the
   cell of best clean-model accuracy), on every trigger, to see what the slope adds.

Every evaluation scores one row per (group, seed)
(:func:`~backdoor_curves.analyses.slope_rule.score_rule`) against the region of the trigger the
attacker used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from backdoor_curves.analyses.safe_region import SafetyCriteria, safe_region
from backdoor_curves.analyses.slope_rule import (
    SlopeRule,
    score_rule,
    summarise_scores,
    transfer_table,
    tune_threshold,
)

__all__ = ["RuleEvaluation", "evaluate_rule", "trigger_tags"]

_TRIGGER_COLUMNS = ("trigger", "trigger_size", "trigger_eps")


def trigger_tags(table: pd.DataFrame) -> pd.Series:
    """Return a short name per row: ``badnet3``, ``badnet6``, ``invisible0.0392``."""
    sizes, eps = table["trigger_size"], table.get("trigger_eps", pd.Series(np.nan, table.index))
    return pd.Series(
        [
            f"{kind}{int(size)}" if np.isfinite(size) else f"{kind}{value:g}"
            for kind, size, value in zip(table["trigger"], sizes.astype(float), eps, strict=True)
        ],
        index=table.index,
    )


@dataclass(frozen=True)
class RuleEvaluation:
    """The scores of every evaluation, and the threshold tuned on the surrogate.

    Attributes
    ----------
    rule : SlopeRule
        Tuned on every pair of the surrogate trigger.
    scores : pandas.DataFrame
        :func:`~backdoor_curves.analyses.slope_rule.score_rule` rows with the columns
        ``evaluation``, ``attacker_trigger`` and ``threshold`` in front.
    """

    rule: SlopeRule
    scores: pd.DataFrame

    def summary(self, by: tuple[str, ...] = ()) -> pd.DataFrame:
        """Summaries per evaluation (and ``by``), see :func:`summarise_scores`."""
        return summarise_scores(self.scores, ("evaluation", "attacker_trigger", *by))


def evaluate_rule(
    table: pd.DataFrame, criteria: SafetyCriteria, surrogate: str = "badnet3"
) -> RuleEvaluation:
    """Run the protocol of the module docstring on a slope table.

    Parameters
    ----------
    table : pandas.DataFrame
        Slope rows of one or more pairs and triggers (``results.csv`` columns).
    criteria : SafetyCriteria
        What makes a cell safe; the rule's margin is ``criteria.margin``.
    surrogate : str, default "badnet3"
        Tag (:func:`trigger_tags`) of the defender's trigger.

    Raises
    ------
    ValueError
        If no row has the surrogate trigger, or the rule cannot be tuned.
    """
    tags = trigger_tags(table)
    if not (tags == surrogate).any():
        raise ValueError(
            f"no slope rows with the surrogate trigger {surrogate!r}; "
            f"the tables hold {sorted(tags.unique())}"
        )
    own = table[tags == surrogate]
    own_region = safe_region(own, criteria)
    rule = tune_threshold(own, own_region, criteria)
    parts = [_labelled(score_rule(own, own_region, rule), "in-sample", surrogate, rule)]
    for pair in sorted(own["pair"].unique()):
        train, test = own[own["pair"] != pair], own[own["pair"] == pair]
        if train.empty:
            continue
        pair_rule = tune_threshold(train, safe_region(train, criteria), criteria)
        scores = score_rule(test, safe_region(test, criteria), pair_rule)
        parts.append(_labelled(scores, "leave-one-pair-out", surrogate, pair_rule))
    for tag in sorted(set(tags) - {surrogate}):
        attacker = table[tags == tag]
        region = safe_region(attacker, criteria)
        parts.append(
            _labelled(score_rule(attacker, region, rule), "transfer (attacker theta)", tag, rule)
        )
        relabelled = transfer_table(own[own["pair"].isin(attacker["pair"])], attacker)
        if not relabelled.empty:
            scores = score_rule(relabelled, region, rule)
            parts.append(_labelled(scores, "transfer (surrogate theta)", tag, rule))
    baseline = SlopeRule(1.0, criteria.margin)
    for tag in sorted(set(tags)):
        attacker = table[tags == tag]
        scores = score_rule(attacker, safe_region(attacker, criteria), baseline)
        parts.append(_labelled(scores, "baseline (clean accuracy only)", tag, baseline))
    return RuleEvaluation(rule, pd.concat(parts, ignore_index=True))


def _labelled(scores: pd.DataFrame, evaluation: str, trigger: str, rule: SlopeRule):
    return scores.assign(evaluation=evaluation, attacker_trigger=trigger, threshold=rule.threshold)[
        ["evaluation", "attacker_trigger", "threshold", *scores.columns]
    ]
