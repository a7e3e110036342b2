r"""Tables derived from ``results.csv`` after the grid (written next to it; F8 reads them).

``summary.csv`` (:func:`seed_summary`)
    One row per cell (every identity column but the seed): the seeds it holds, and the mean
    and standard deviation over seeds (``ddof = 1``; NaN for one seed) of CA, BA, clean and
    backdoor CE.
``head_slope.csv`` (:func:`head_slope_table`)
    One row per trained network at ``beta = 0`` (arch, epochs, p, seed): the head slope and
    its check on the head's own curve (``head_slope_fd``, their ratio,
    ``head_tangent_valid_until``), and two measures of how much the *network* learns the
    backdoor: ``network_slope = (L_bt(beta_1) - L_bt(0)) / beta_1``, the first step of its
    measured backdoor-CE curve (``beta_1`` the smallest positive beta of the grid), and
    ``network_mean_ba``, its BA averaged over the positive betas.
``head_curve.csv`` (:func:`head_curve_table`)
    The head's exact backdoor CE at ``0`` and the small betas, with its tangent
    ``L(0) + s beta``, one row per (network, beta).
``head_slope_rank.csv`` (:func:`head_slope_ranking`)
    Whether the head slope ranks the networks' backdoor learning: Spearman's rank correlation
    over every network of an architecture (p, epochs, seeds) between the head's predicted
    learning ``-s`` and each measure oriented the same way (``-network_slope``,
    ``network_mean_ba``), so that a positive rho means "a steeper head slope goes with more
    backdoor learning".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats

from backdoor_curves.analyses.tangent import slope_ratio
from backdoor_curves.experiments.nn.columns import HEAD_BETAS, IDENTITY, head_curve_column

__all__ = [
    "HEAD_CURVE_COLUMNS",
    "HEAD_SLOPE_COLUMNS",
    "RANK_COLUMNS",
    "SUMMARISED",
    "head_curve_table",
    "head_slope_ranking",
    "head_slope_table",
    "seed_summary",
]

SUMMARISED: tuple[str, ...] = ("clean_acc", "backdoor_acc", "clean_ce", "backdoor_ce")
"""Columns averaged over seeds in ``summary.csv`` (``<column>_mean``, ``<column>_sd``)."""

NETWORK_KEYS: tuple[str, ...] = ("arch", "epochs", "poison_fraction", "seed")

HEAD_SLOPE_COLUMNS: tuple[str, ...] = (
    *NETWORK_KEYS, "head_slope_if", "head_slope_fd", "head_slope_ratio",
    "head_tangent_valid_until", "head_backdoor_ce", "head_damping", "head_status",
    "network_beta_1", "network_slope", "network_mean_ba",
)  # fmt: skip
"""Columns of ``head_slope.csv``."""

HEAD_CURVE_COLUMNS: tuple[str, ...] = (*NETWORK_KEYS, "beta", "head_backdoor_ce", "tangent_ce")
"""Columns of ``head_curve.csv``."""

RANK_COLUMNS: tuple[str, ...] = ("arch", "measure", "n_networks", "spearman", "p_value")
"""Columns of ``head_slope_rank.csv``."""

_MEASURES = (
    ("network_slope", -1.0, "first step of the backdoor-CE curve"),
    ("network_mean_ba", 1.0, "mean BA over beta > 0"),
)


def seed_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread over seeds per cell (module docstring).

    Parameters
    ----------
    table : pandas.DataFrame
        ``results.csv``.

    Returns
    -------
    pandas.DataFrame
        The identity columns, ``n_seeds``, ``seeds`` (space-separated) and
        ``<column>_mean``, ``<column>_sd`` for :data:`SUMMARISED`.
    """
    keys = [column for column in IDENTITY if column in table.columns]
    rows = []
    for values, group in table.groupby(keys, sort=True, dropna=False):
        row = dict(zip(keys, values, strict=True))
        row["n_seeds"] = len(group)
        row["seeds"] = " ".join(str(seed) for seed in sorted(group["seed"]))
        for column in SUMMARISED:
            row[f"{column}_mean"] = float(group[column].mean())
            row[f"{column}_sd"] = float(group[column].std(ddof=1)) if len(group) > 1 else np.nan
        rows.append(row)
    columns = [*keys, "n_seeds", "seeds"]
    columns += [f"{c}_{stat}" for c in SUMMARISED for stat in ("mean", "sd")]
    return pd.DataFrame(rows, columns=columns)


def head_slope_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per network at ``beta = 0``: its head slope and its measured learning.

    Parameters
    ----------
    table : pandas.DataFrame
        ``results.csv``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`HEAD_SLOPE_COLUMNS`, sorted by network.
    """
    rows = []
    for values, group in table.groupby(list(NETWORK_KEYS), sort=True):
        at_zero = group[group["beta"] == 0]
        if at_zero.empty:
            continue
        zero = at_zero.iloc[0]
        positive = group[group["beta"] > 0].sort_values("beta")
        beta_1, network_slope, mean_ba = np.nan, np.nan, np.nan
        if not positive.empty:
            first = positive.iloc[0]
            beta_1 = float(first["beta"])
            network_slope = (float(first["backdoor_ce"]) - float(zero["backdoor_ce"])) / beta_1
            mean_ba = float(positive["backdoor_acc"].mean())
        rows.append(
            {
                **dict(zip(NETWORK_KEYS, values, strict=True)),
                "head_slope_if": zero["head_slope_if"],
                "head_slope_fd": zero["head_slope_fd"],
                "head_slope_ratio": slope_ratio(
                    float(zero["head_slope_if"]), float(zero["head_slope_fd"])
                ),
                "head_tangent_valid_until": zero["head_tangent_valid_until"],
                "head_backdoor_ce": zero["head_backdoor_ce"],
                "head_damping": zero["head_damping"],
                "head_status": zero["head_status"],
                "network_beta_1": beta_1,
                "network_slope": network_slope,
                "network_mean_ba": mean_ba,
            }
        )
    return pd.DataFrame(rows, columns=list(HEAD_SLOPE_COLUMNS))


def head_curve_table(table: pd.DataFrame) -> pd.DataFrame:
    """Return the head's exact curve and its tangent, one row per (network, beta).

    Parameters
    ----------
    table : pandas.DataFrame
        ``results.csv``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`HEAD_CURVE_COLUMNS`; betas ``0`` and
        :data:`~backdoor_curves.experiments.nn.columns.HEAD_BETAS`.
    """
    rows = []
    at_zero = table[table["beta"] == 0].sort_values(list(NETWORK_KEYS))
    for _, network in at_zero.iterrows():
        keys = {key: network[key] for key in NETWORK_KEYS}
        start, slope = float(network["head_backdoor_ce"]), float(network["head_slope_if"])
        losses = [start, *(float(network[head_curve_column(b)]) for b in HEAD_BETAS)]
        for beta, loss in zip((0.0, *HEAD_BETAS), losses, strict=True):
            rows.append(
                {**keys, "beta": beta, "head_backdoor_ce": loss, "tangent_ce": start + slope * beta}
            )
    return pd.DataFrame(rows, columns=list(HEAD_CURVE_COLUMNS))


def head_slope_ranking(heads: pd.DataFrame) -> pd.DataFrame:
    """Spearman's rho between the head's predicted and the networks' measured learning.

    Parameters
    ----------
    heads : pandas.DataFrame
        :func:`head_slope_table`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RANK_COLUMNS`, one row per (arch, measure); rho and its two-sided
        p-value are NaN with fewer than 3 networks (or constant values).
    """
    rows = []
    usable = heads[heads["head_status"] == "ok"]
    for arch, group in usable.groupby("arch", sort=True):
        for column, sign, label in _MEASURES:
            pairs = group[["head_slope_if", column]].dropna()
            rho, p_value = np.nan, np.nan
            varied = pairs.nunique().min() > 1 if len(pairs) else False
            if len(pairs) >= 3 and varied:
                result = scipy.stats.spearmanr(-pairs["head_slope_if"], sign * pairs[column])
                rho, p_value = float(result.statistic), float(result.pvalue)
            rows.append(
                {
                    "arch": arch,
                    "measure": label,
                    "n_networks": len(pairs),
                    "spearman": rho,
                    "p_value": p_value,
                }
            )
    return pd.DataFrame(rows, columns=list(RANK_COLUMNS))
