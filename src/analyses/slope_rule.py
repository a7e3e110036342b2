r"""A slope-only selection rule for hyper-parameters, scored against the safe region.

A defender who does not know the attack can still train each grid cell's model on its own
(clean) training set and compute the backdoor learning slope with a surrogate trigger: one
solve, no poisoned training. The **slope-only rule** uses those two numbers alone. For one
group ``g`` (one model on one problem, :data:`~backdoor_curves.analyses.safe_region.GROUP_COLUMNS`)
and one seed, with ``A_c`` the clean test accuracy of cell ``c``'s model trained on the clean set
(``clean_acc_clean_model``) and ``theta_c`` its normalised slope (``theta = -(2/pi) arctan(s)``,
larger: learned faster, ``docs/method.md``), the rule with threshold ``tau`` and margin ``m``
**selects**

.. math::

    S_{g,s} = \{ c : A_c \ge \max_{c'} A_{c'} - m \ \text{and}\ \theta_c \le \tau \},

and **chooses** the selected cell with the highest ``A_c`` (ties: the lowest ``theta``, then the
smallest ``C``). It never sees the poisoned model.

Scoring (:func:`score_rule`) compares ``S_{g,s}`` with the safe cells ``R_g`` of the region
(:func:`~backdoor_curves.analyses.safe_region.safe_region`, means over seeds of the poisoned
model's accuracies): precision ``|S cap R| / |S|`` (NaN when nothing is selected), recall
``|S cap R| / |R|`` (NaN when no cell is safe), whether the choice is safe, whether it is a
**costly mistake** (its mean backdoor accuracy is at least ``high_ba``, the backdoor learned),
and the clean accuracy **given up**: ``CA*_g`` minus the choice's mean clean accuracy. One row
per (group, seed); :func:`summarise_scores` gives means, spreads and pooled counts.

:func:`tune_threshold` picks ``tau`` on one table (the pooled F1 score of selected vs safe);
:func:`transfer_table` relabels a surrogate trigger's slope table as another trigger's, so that
the rule's choices made with the surrogate are scored against the other trigger's region
(a defender does not know the attacker's trigger).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from backdoor_curves.analyses.safe_region import (
    CELL_COLUMNS,
    SafetyCriteria,
    check_unit_fields,
    check_unit_interval,
    group_columns,
)

__all__ = [
    "DEFAULT_HIGH_BA",
    "MNIST_THRESHOLD",
    "SCORE_COLUMNS",
    "THRESHOLD_CANDIDATES",
    "SlopeRule",
    "score_rule",
    "select_cells",
    "summarise_scores",
    "transfer_table",
    "tune_threshold",
]

MNIST_THRESHOLD = 0.55
"""``tau`` tuned on the embedded MNIST badnet 3x3 tables (``results/mnist``, three pairs, four
models, five seeds) by ``python -m backdoor_curves.experiments.binary.safe_rule results/mnist``
with the default region (``docs/safe_hyperparameters.md``); a starting point, not a guarantee."""

DEFAULT_HIGH_BA = 0.5
"""Mean backdoor accuracy from which a chosen cell is a costly mistake (backdoor learned)."""

THRESHOLD_CANDIDATES: tuple[float, ...] = tuple(np.round(np.arange(0.05, 1.0, 0.05), 2))
"""Thresholds ``tau`` that :func:`tune_threshold` tries by default."""

SCORE_COLUMNS: tuple[str, ...] = (
    "seed", "n_cells", "n_selected", "n_safe", "n_selected_safe", "precision", "recall",
    "choice_C", "choice_gamma", "choice_theta", "choice_safe", "choice_backdoor_acc",
    "costly_mistake", "clean_acc_given_up",
)  # fmt: skip
"""Columns of :func:`score_rule` after the group columns."""

_DEFENDER_COLUMNS = ("clean_acc_clean_model", "theta")
_TRIGGER_COLUMNS = ("trigger", "trigger_size", "trigger_eps")


@dataclass(frozen=True)
class SlopeRule:
    """The slope-only rule (see the module docstring).

    Parameters
    ----------
    threshold : float
        ``tau`` in ``[0, 1]``: the largest normalised slope of a selected cell.
    margin : float
        ``m`` in ``[0, 1]``: a selected cell's clean-model accuracy is at least the group's
        best minus ``m``.

    Raises
    ------
    ValueError
        If either is not a number in ``[0, 1]``.
    """

    threshold: float
    margin: float

    def __post_init__(self) -> None:
        check_unit_fields(
            self,
            threshold="the largest normalised slope theta selected",
            margin="the clean accuracy a selected cell may give up",
        )


def _check_defender_table(table: pd.DataFrame) -> pd.DataFrame:
    needed = ["clf", "C", "seed", *_DEFENDER_COLUMNS]
    missing = [column for column in needed if column not in table.columns]
    if missing:
        raise ValueError(f"the slope table lacks the columns {missing}; the rule needs {needed}")
    if table.empty:
        raise ValueError("the slope table has no grid cells (0 rows); the rule needs at least one")
    return table if "gamma" in table.columns else table.assign(gamma=np.nan)


def select_cells(table: pd.DataFrame, rule: SlopeRule) -> pd.DataFrame:
    """Apply the rule to every (group, seed) of a slope table.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per (group, cell, seed), with ``clf``, ``C``, ``seed``,
        ``clean_acc_clean_model``, ``theta`` (and ``gamma``, the group columns present).
    rule : SlopeRule

    Returns
    -------
    pandas.DataFrame
        ``table`` with the boolean columns ``selected`` and ``chosen`` (one chosen row per
        (group, seed) with a selected cell; none otherwise). A NaN ``theta`` (undefined slope)
        or accuracy is never selected.
    """
    table = _check_defender_table(table).reset_index(drop=True)
    keys = [*group_columns(table), "seed"]
    accuracy = table["clean_acc_clean_model"]
    best = accuracy.groupby([table[key] for key in keys], dropna=False).transform("max")
    selected = (accuracy >= best - rule.margin - 1e-9) & (table["theta"] <= rule.threshold)
    out = table.assign(selected=selected.fillna(False).astype(bool), chosen=False)
    candidates = out[out["selected"]].sort_values(
        ["clean_acc_clean_model", "theta", "C"], ascending=[False, True, True], kind="stable"
    )
    first = candidates.groupby(keys, dropna=False, sort=False).head(1).index
    out.loc[first, "chosen"] = True
    return out


def score_rule(
    table: pd.DataFrame,
    region: pd.DataFrame,
    rule: SlopeRule,
    *,
    high_ba: float = DEFAULT_HIGH_BA,
) -> pd.DataFrame:
    """Precision, recall, costly mistakes and clean accuracy given up, per (group, seed).

    Parameters
    ----------
    table : pandas.DataFrame
        The defender's slope table (see :func:`select_cells`).
    region : pandas.DataFrame
        The safe region of the same groups and cells
        (:func:`~backdoor_curves.analyses.safe_region.safe_region`).
    rule : SlopeRule
    high_ba : float, default DEFAULT_HIGH_BA
        Mean backdoor accuracy in ``[0, 1]`` from which the choice is a costly mistake.

    Returns
    -------
    pandas.DataFrame
        One row per (group, seed): the group columns, then :data:`SCORE_COLUMNS`. Without a
        selected cell the choice columns are NaN, ``costly_mistake`` and ``choice_safe`` are
        False and ``clean_acc_given_up`` is NaN.

    Raises
    ------
    ValueError
        If a cell of ``table`` is missing from ``region``, or ``high_ba`` is outside [0, 1].
    """
    high_ba = check_unit_interval("high_ba", high_ba, "the BA of a costly mistake")
    selection = select_cells(table, rule)
    groups = group_columns(selection)
    cell_keys = [*groups, *CELL_COLUMNS]
    truth = region[[*cell_keys, "safe", "backdoor_acc_mean", "clean_acc_mean", "best_clean_acc"]]
    joined = selection.merge(truth, on=cell_keys, how="left", validate="many_to_one")
    if joined["safe"].isna().any():
        lost = joined.loc[joined["safe"].isna(), cell_keys].drop_duplicates().head(3)
        raise ValueError(
            f"{int(joined['safe'].isna().sum())} row(s) of the slope table have no cell in the "
            f"safe region (e.g. {lost.to_dict('records')}); score a table against its own region"
        )
    joined["safe"] = joined["safe"].astype(bool)
    rows = [
        _score_one(rows, dict(zip([*groups, "seed"], key, strict=True)), high_ba)
        for key, rows in joined.groupby([*groups, "seed"], dropna=False, sort=True)
    ]
    return pd.DataFrame(rows, columns=[*groups, *SCORE_COLUMNS])


def _score_one(rows: pd.DataFrame, key: dict, high_ba: float) -> dict:
    """Score the rule on the cells of one (group, seed)."""
    selected, safe = rows["selected"], rows["safe"]
    n_selected, n_safe = int(selected.sum()), int(safe.sum())
    hits = int((selected & safe).sum())
    chosen = rows[rows["chosen"]]
    score = {
        **key,
        "n_cells": len(rows),
        "n_selected": n_selected,
        "n_safe": n_safe,
        "n_selected_safe": hits,
        "precision": hits / n_selected if n_selected else np.nan,
        "recall": hits / n_safe if n_safe else np.nan,
        "choice_C": np.nan,
        "choice_gamma": np.nan,
        "choice_theta": np.nan,
        "choice_safe": False,
        "choice_backdoor_acc": np.nan,
        "costly_mistake": False,
        "clean_acc_given_up": np.nan,
    }
    if not chosen.empty:
        choice = chosen.iloc[0]
        score.update(
            choice_C=choice["C"],
            choice_gamma=choice["gamma"],
            choice_theta=choice["theta"],
            choice_safe=bool(choice["safe"]),
            choice_backdoor_acc=choice["backdoor_acc_mean"],
            costly_mistake=bool(choice["backdoor_acc_mean"] >= high_ba - 1e-9),
            clean_acc_given_up=choice["best_clean_acc"] - choice["clean_acc_mean"],
        )
    return score


def summarise_scores(scores: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Means, spreads and pooled rates of :func:`score_rule` rows, per ``by`` (or overall).

    Returns
    -------
    pandas.DataFrame
        Per value of ``by``: ``n`` (group-seed rows), ``precision_mean`` / ``_std`` and
        ``recall_mean`` / ``_std`` (over rows where defined, ``ddof = 1``), the pooled
        ``precision_pooled = sum hits / sum selected`` and ``recall_pooled = sum hits / sum
        safe``, ``no_selection`` (share of rows selecting nothing), ``choice_safe`` and
        ``costly_mistake`` (shares of rows), ``given_up_mean`` and ``given_up_max``.
    """
    grouped = scores.groupby(list(by), dropna=False) if by else [((), scores)]
    rows = []
    for key, part in grouped:
        key = key if isinstance(key, tuple) else (key,)
        selected, safe = part["n_selected"].sum(), part["n_safe"].sum()
        hits = part["n_selected_safe"].sum()
        rows.append(
            {
                **dict(zip(by, key, strict=True)),
                "n": len(part),
                "precision_mean": part["precision"].mean(),
                "precision_std": part["precision"].std(),
                "recall_mean": part["recall"].mean(),
                "recall_std": part["recall"].std(),
                "precision_pooled": hits / selected if selected else np.nan,
                "recall_pooled": hits / safe if safe else np.nan,
                "no_selection": float((part["n_selected"] == 0).mean()),
                "choice_safe": float(part["choice_safe"].mean()),
                "costly_mistake": float(part["costly_mistake"].mean()),
                "given_up_mean": part["clean_acc_given_up"].mean(),
                "given_up_max": part["clean_acc_given_up"].max(),
            }
        )
    return pd.DataFrame(rows)


def tune_threshold(
    table: pd.DataFrame,
    region: pd.DataFrame,
    criteria: SafetyCriteria,
    candidates: Sequence[float] = THRESHOLD_CANDIDATES,
) -> SlopeRule:
    r"""Return the rule whose threshold maximises the pooled F1 score on ``table``.

    ``F1 = 2 P R / (P + R)`` with the pooled precision ``P`` and recall ``R`` of
    :func:`summarise_scores`; ties go to the smaller (more cautious) threshold. The rule's
    margin is the region's (``criteria.margin``).

    Raises
    ------
    ValueError
        If ``candidates`` is empty or no candidate selects a safe cell.
    """
    if not len(candidates):
        raise ValueError("no candidate thresholds; give at least one theta in [0, 1]")
    best_rule, best_f1 = None, 0.0
    for threshold in sorted(candidates):
        rule = SlopeRule(threshold, criteria.margin)
        summary = summarise_scores(score_rule(table, region, rule)).iloc[0]
        precision, recall = summary["precision_pooled"], summary["recall_pooled"]
        if np.isfinite(precision) and np.isfinite(recall) and precision + recall > 0:
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1 + 1e-12:
                best_rule, best_f1 = rule, f1
    if best_rule is None:
        raise ValueError("no candidate threshold selects a safe cell; the rule cannot be tuned")
    return best_rule


def transfer_table(surrogate: pd.DataFrame, attacker: pd.DataFrame) -> pd.DataFrame:
    """Return the surrogate trigger's slope rows relabelled with the attacker's trigger.

    The defender computes ``theta`` with a surrogate trigger; scored against the attacker's
    region, its rows must carry the attacker's trigger columns. Only the (pair, cell, seed)
    rows present in both tables are kept.

    Raises
    ------
    ValueError
        If ``attacker`` holds more than one trigger.
    """
    present = [column for column in _TRIGGER_COLUMNS if column in attacker.columns]
    triggers = attacker[present].drop_duplicates()
    if len(triggers) != 1:
        raise ValueError(f"the attacker's table holds {len(triggers)} triggers; give one")
    relabelled = surrogate.assign(**triggers.iloc[0].to_dict())
    attacker = attacker if "gamma" in attacker.columns else attacker.assign(gamma=np.nan)
    relabelled = _check_defender_table(relabelled)
    keys = [*group_columns(attacker), *CELL_COLUMNS, "seed"]
    shared = attacker[keys].drop_duplicates()
    return relabelled.merge(shared, on=keys, how="inner")
