r"""The safe region of a hyper-parameter grid: high clean accuracy and a backdoor not learned.

A slope table (one row per grid cell and seed, the columns of the slope driver's
``results.csv``, ``docs/safe_region.md``) is split into **groups**, one per dataset, pair,
trigger, poison fraction and model (:data:`GROUP_COLUMNS`, those present). A **cell** of a
group is one hyper-parameter setting: ``C`` for the linear models, ``(C, gamma)`` for the RBF
SVM (:data:`CELL_COLUMNS`; ``gamma`` is NaN for models without a kernel width, and is
optional in the table). For a group with cells ``c`` and the seeds ``s`` of each cell:

.. math::

    \overline{CA}_c = \operatorname{mean}_s CA_{c,s}, \qquad
    \overline{BA}_c = \operatorname{mean}_s BA_{c,s}, \qquad
    CA^*_g = \max_c \overline{CA}_c,

with ``CA`` the clean test accuracy and ``BA`` the backdoor test accuracy of the model trained
on the poisoned set (the ``clean_acc`` and ``backdoor_acc`` columns, what the F4 heat maps
show). A cell is **safe** for a margin ``m`` and a level ``l``, both in ``[0, 1]``, when

.. math::

    \overline{CA}_c \ge CA^*_g - m \quad\text{and}\quad \overline{BA}_c \le l,

up to a rounding tolerance of ``1e-9`` (means of accuracies on a few hundred test points are
not exact in binary). The best cell is taken **per model**: a practitioner tunes the
hyper-parameters of the model they chose, so ``CA^*`` is the best mean clean accuracy of that
model on that pair and trigger; for the RBF SVM it is the best over the whole ``(C, gamma)``
grid, since both are chosen together. The spread over seeds is the sample standard deviation
(``ddof = 1``, NaN for one seed); ``backdoor_ok_seeds`` is the share of a cell's seeds whose own
BA is at most ``l``. A cell whose mean is NaN is never safe.

Inside: :class:`SafetyCriteria` (the validated margin and level), :func:`cell_statistics`
(mean and spread per cell) and :func:`safe_region` (the table ``safe_region.csv`` holds).
Pure functions: pandas in, pandas out.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "CELL_COLUMNS",
    "DEFAULT_BA_LEVEL",
    "DEFAULT_CA_MARGIN",
    "GROUP_COLUMNS",
    "REGION_COLUMNS",
    "SAFE_REGION_FILENAME",
    "SafetyCriteria",
    "cell_statistics",
    "check_unit_fields",
    "check_unit_interval",
    "group_columns",
    "safe_region",
]

SAFE_REGION_FILENAME = "safe_region.csv"
"""Name of the safe-region table, next to the ``results.csv`` of a slope run folder."""

GROUP_COLUMNS: tuple[str, ...] = (
    "dataset", "pair", "trigger", "trigger_size", "trigger_eps", "poison_fraction", "clf",
)  # fmt: skip
"""Columns that identify a group (one model on one problem); those present in a table."""

CELL_COLUMNS: tuple[str, ...] = ("C", "gamma")
"""Hyper-parameters that identify a cell within a group (``gamma`` NaN without a kernel)."""

DEFAULT_CA_MARGIN = 0.02
"""Default clean-accuracy margin: two points, about two standard errors of an accuracy near
0.98 on 250 test points, ``sqrt(0.98 * 0.02 / 250) = 0.009``."""

DEFAULT_BA_LEVEL = 0.1
"""Default backdoor-accuracy level: at most one triggered test point in ten misclassified."""

_TOLERANCE = 1e-9

_STATISTICS = (
    ("clean_acc", "clean_acc"),
    ("backdoor_acc", "backdoor_acc"),
    ("theta", "theta"),
    ("clean_acc_clean_model", "clean_model_acc"),
)

REGION_COLUMNS: tuple[str, ...] = (
    *GROUP_COLUMNS, *CELL_COLUMNS, "n_seeds",
    "clean_acc_mean", "clean_acc_std", "backdoor_acc_mean", "backdoor_acc_std",
    "theta_mean", "theta_std", "clean_model_acc_mean", "clean_model_acc_std",
    "best_clean_acc", "clean_acc_ok", "backdoor_ok", "backdoor_ok_seeds", "safe",
    "margin", "level",
)  # fmt: skip
"""Columns of ``safe_region.csv`` (group columns absent from the slope table are left out, and
so are the statistics of ``theta`` and ``clean_acc_clean_model`` when the table lacks them)."""

_REQUIRED = ("clf", "C", "seed", "clean_acc", "backdoor_acc")


def check_unit_interval(name: str, value: object, meaning: str) -> float:
    """Return ``value`` as a float if it is a real number in ``[0, 1]``.

    Raises
    ------
    ValueError
        Naming ``name``, the allowed range and ``meaning`` otherwise (NaN, booleans and
        non-numbers included).
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= float(value) <= 1.0
    ):
        raise ValueError(f"{name} must be a number in [0, 1] ({meaning}), got {value!r}")
    return float(value)


def check_unit_fields(instance: object, **meanings: str) -> None:
    """Check and store as floats the named fields of a frozen dataclass (see above)."""
    for name, meaning in meanings.items():
        value = check_unit_interval(name, getattr(instance, name), meaning)
        object.__setattr__(instance, name, value)


@dataclass(frozen=True)
class SafetyCriteria:
    """What makes a cell safe (see the module docstring).

    Parameters
    ----------
    margin : float, default DEFAULT_CA_MARGIN
        Clean-accuracy margin ``m`` in ``[0, 1]``: a safe cell's mean CA is at least the best
        cell's minus ``m``.
    level : float, default DEFAULT_BA_LEVEL
        Backdoor-accuracy level ``l`` in ``[0, 1]``: a safe cell's mean BA is at most ``l``.

    Raises
    ------
    ValueError
        If either is not a number in ``[0, 1]``.
    """

    margin: float = DEFAULT_CA_MARGIN
    level: float = DEFAULT_BA_LEVEL

    def __post_init__(self) -> None:
        check_unit_fields(
            self,
            margin="the clean accuracy a safe cell may give up, e.g. 0.02",
            level="the highest backdoor accuracy of a safe cell, e.g. 0.1",
        )

    def describe(self) -> str:
        """Return the criteria in words, e.g. ``"CA >= best - 0.02, BA <= 0.1"``."""
        return f"CA ≥ best − {self.margin:g}, BA ≤ {self.level:g}"


def group_columns(table: pd.DataFrame) -> list[str]:
    """Return the :data:`GROUP_COLUMNS` present in ``table``, in that order."""
    return [column for column in GROUP_COLUMNS if column in table.columns]


def _check_table(table: pd.DataFrame) -> pd.DataFrame:
    """Return ``table`` with a ``gamma`` column (NaN if absent); raise if it has no cell."""
    missing = [column for column in _REQUIRED if column not in table.columns]
    if missing:
        raise ValueError(
            f"the slope table lacks the columns {missing}; the safe region needs "
            f"{list(_REQUIRED)} (and optionally gamma, theta, clean_acc_clean_model)"
        )
    if table.empty:
        raise ValueError(
            "the slope table has no grid cells (0 rows); the safe region needs at least one "
            "(C, gamma) cell with its clean and backdoor accuracy"
        )
    if "gamma" not in table.columns:
        table = table.assign(gamma=np.nan)
    return table


def cell_statistics(table: pd.DataFrame, cells: Sequence[str] = CELL_COLUMNS) -> pd.DataFrame:
    """Mean and spread over seeds of each cell's accuracies (and theta, when present).

    Parameters
    ----------
    table : pandas.DataFrame
        Slope table, one row per (group, cell, seed); needs ``clf``, ``C``, ``seed``,
        ``clean_acc`` and ``backdoor_acc``.
    cells : sequence of str, default CELL_COLUMNS
        The columns that identify a cell within a group (e.g. the index of a grid point when
        a kernel width resolved on each seed's data differs between seeds).

    Returns
    -------
    pandas.DataFrame
        One row per (group, cell): the group and cell columns, ``n_seeds``, and
        ``<name>_mean``, ``<name>_std`` for ``clean_acc``, ``backdoor_acc`` and, when present,
        ``theta`` and ``clean_model_acc`` (from ``clean_acc_clean_model``). Sorted by group,
        then by the cell columns in reverse order (``gamma``, then ``C``).

    Raises
    ------
    ValueError
        If a required column is missing or the table has no row.
    """
    table = _check_table(table)
    keys = _cell_keys(table, cells)
    present = [(column, name) for column, name in _STATISTICS if column in table.columns]
    aggregations: dict[str, tuple[str, str]] = {"n_seeds": ("seed", "nunique")}
    for column, name in present:
        aggregations[f"{name}_mean"] = (column, "mean")
        aggregations[f"{name}_std"] = (column, "std")
    statistics = table.groupby(keys, dropna=False, sort=True).agg(**aggregations).reset_index()
    return statistics[[*group_columns(table), *cells, *aggregations]]


def safe_region(
    table: pd.DataFrame,
    criteria: SafetyCriteria | None = None,
    cells: Sequence[str] = CELL_COLUMNS,
) -> pd.DataFrame:
    """Return the safe cells of every group of a slope table (see the module docstring).

    Parameters
    ----------
    table : pandas.DataFrame
        Slope table (see :func:`cell_statistics`).
    criteria : SafetyCriteria, optional
        Margin and level (default: :data:`DEFAULT_CA_MARGIN`, :data:`DEFAULT_BA_LEVEL`).
    cells : sequence of str, default CELL_COLUMNS
        The columns that identify a cell within a group (see :func:`cell_statistics`).

    Returns
    -------
    pandas.DataFrame
        Every cell, with the columns :data:`REGION_COLUMNS` that apply (``cells`` in place of
        ``C`` and ``gamma``): the statistics of
        :func:`cell_statistics`, ``best_clean_acc`` (``CA*`` of its group), ``clean_acc_ok``
        and ``backdoor_ok`` (each condition on the means), ``backdoor_ok_seeds`` (share of
        seeds with BA at most the level), ``safe`` (both conditions) and the ``margin`` and
        ``level`` used.

    Raises
    ------
    ValueError
        If a required column is missing or the table has no row.
    """
    criteria = SafetyCriteria() if criteria is None else criteria
    statistics = cell_statistics(table, cells)
    groups = group_columns(statistics)
    best = statistics.groupby(groups, dropna=False, sort=False)["clean_acc_mean"].transform("max")
    region = statistics.assign(best_clean_acc=best)
    region["clean_acc_ok"] = region["clean_acc_mean"] >= best - criteria.margin - _TOLERANCE
    region["backdoor_ok"] = region["backdoor_acc_mean"] <= criteria.level + _TOLERANCE
    region["backdoor_ok_seeds"] = _share_of_seeds_below(_check_table(table), criteria.level, cells)[
        "share"
    ].to_numpy()
    region["safe"] = region["clean_acc_ok"] & region["backdoor_ok"]
    region["margin"], region["level"] = criteria.margin, criteria.level
    columns = [*GROUP_COLUMNS, *cells, *REGION_COLUMNS[len(GROUP_COLUMNS) + len(CELL_COLUMNS) :]]
    return region[[column for column in columns if column in region.columns]]


def _share_of_seeds_below(table: pd.DataFrame, level: float, cells: Sequence[str]) -> pd.DataFrame:
    """Per cell (in :func:`cell_statistics` order): share of seeds whose BA is at most ``level``."""
    keys = _cell_keys(table, cells)
    below = table["backdoor_acc"] <= level + _TOLERANCE
    return (
        table.assign(below=below.astype(float))
        .groupby(keys, dropna=False, sort=True)
        .agg(share=("below", "mean"))
        .reset_index()
    )


def _cell_keys(table: pd.DataFrame, cells: Sequence[str]) -> list[str]:
    """Group columns, then the cell columns in reverse order (the sort order of the region)."""
    missing = [column for column in cells if column not in table.columns]
    if missing:
        raise ValueError(f"the slope table lacks the cell columns {missing}")
    return [*group_columns(table), *reversed(cells)]
