"""Reading the result tables and labelling their rows for the figures.

Inside:

- :func:`read_table`: one ``results.csv`` of a registered kind, columns checked;
- :func:`load_tables`, :func:`load_requested_tables`: every table of a results directory,
  concatenated per kind (``<results_dir>/<kind>/**/results.csv``);
- :func:`with_safe_flags`: a slope table with the ``safe`` flag of its run folder's
  ``safe_region.csv`` (the cells the figures outline);
- :func:`with_labels`: adds the ``trigger_label``, ``trigger_tag`` and ``model`` columns
  (names from :mod:`backdoor_curves.naming`), and the grouping helpers the families share;
- :func:`seed_means`: the mean over seeds of curves in beta whose rows sit at betas of
  their own (breakpoints, refined steps), for the F2 and F6 lines.

The figures never recompute an experiment: they read these tables only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from backdoor_curves.analyses.safe_region import (
    CELL_COLUMNS,
    SAFE_REGION_FILENAME,
    group_columns,
)
from backdoor_curves.naming import (
    GRID_POINT,
    model_order,
    model_tag,
    trigger_label,
    trigger_tag,
)
from backdoor_curves.plots.registry import required_columns, table_kinds

__all__ = [
    "PAIR_COLUMNS",
    "TEXT_COLUMNS",
    "groups",
    "load_requested_tables",
    "load_tables",
    "models_in_order",
    "optional_part",
    "read_table",
    "seed_means",
    "seed_note",
    "with_labels",
    "with_safe_flags",
]

TEXT_COLUMNS = ("dataset", "data_source", "pair", "trigger", "clf", "status")
"""Columns read as text, so that a pair such as ``"7-1"`` stays a string."""

PAIR_COLUMNS = ("dataset", "pair")
"""Columns whose values select the rows of one pair (the F2 and F6 figures are drawn per pair)."""

# The columns with_labels reads; read_table checks that every row can be labelled.
_LABEL_COLUMNS = ["trigger", "trigger_size", "trigger_eps", "clf", "gamma"]


def load_tables(results_dir: Path | str) -> dict[str, pd.DataFrame]:
    """Read and concatenate every result table under ``results_dir``.

    Parameters
    ----------
    results_dir : path
        Folder holding ``slope/``, ``curves/`` and/or ``deviation/`` (any registered kind)
        with one ``results.csv`` per run folder at any depth.

    Returns
    -------
    dict of str to pandas.DataFrame
        One concatenated table per registered kind that has at least one row; kinds without
        tables are absent. Text columns (``dataset``, ``pair``, ``trigger``, ``clf``,
        ``status``...) are read as strings.

    Raises
    ------
    FileNotFoundError
        If ``results_dir`` is not a directory.
    ValueError
        If a table is unreadable or lacks a column the figures need.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(
            f"results directory {str(results_dir)!r} does not exist; pass the folder that holds "
            f"the {', '.join(table_kinds())} result tables (e.g. results/mnist)"
        )
    tables = {}
    for kind in table_kinds():
        paths = sorted((results_dir / kind).glob("**/results.csv"))
        frames = [frame for frame in (read_table(p, kind) for p in paths) if not frame.empty]
        if frames:
            tables[kind] = pd.concat(frames, ignore_index=True)
    return tables


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    """Read a CSV file with :data:`TEXT_COLUMNS` as strings; an unreadable one raises."""
    try:
        header = pd.read_csv(path, nrows=0).columns
        dtypes = {name: "str" for name in TEXT_COLUMNS if name in header}
        return pd.read_csv(path, dtype=dtypes)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read {what} {str(path)!r}: {error}") from error


def read_table(path: Path, kind: str) -> pd.DataFrame:
    """Read one ``results.csv`` of the given kind and check its columns.

    Parameters
    ----------
    path : pathlib.Path
        The CSV file.
    kind : str
        Its table kind (a registered kind, e.g. ``"slope"``).

    Returns
    -------
    pandas.DataFrame
        The table with :data:`TEXT_COLUMNS` as strings; empty for a header-only table.

    Raises
    ------
    ValueError
        If ``kind`` is unknown, the file is unreadable, a required column is missing or not
        numeric, or a row's trigger or model cannot be named.
    """
    needed = required_columns(kind)
    table = _read_csv(path, "result table")
    missing = [name for name in needed if name not in table.columns]
    if missing:
        raise ValueError(
            f"{kind} table {str(path)!r} lacks the columns {missing}; "
            f"the {kind} figures need {list(needed)}"
        )
    if table.empty:
        # A header-only table (a run that has not finished a cell yet) holds nothing to check.
        return table
    required = table[list(needed)]
    not_numeric = [
        name
        for name in required.columns
        if name not in TEXT_COLUMNS and not pd.api.types.is_numeric_dtype(required[name])
    ]
    if not_numeric:
        raise ValueError(f"{kind} table {str(path)!r} has non-numeric values in {not_numeric}")
    if set(_LABEL_COLUMNS) <= set(table.columns):
        try:
            with_labels(table[_LABEL_COLUMNS].drop_duplicates())
        except ValueError as error:
            raise ValueError(f"{kind} table {str(path)!r}: {error}") from error
    region = path.parent / SAFE_REGION_FILENAME
    return with_safe_flags(table, region) if kind == "slope" and region.is_file() else table


def with_safe_flags(table: pd.DataFrame, region_path: Path) -> pd.DataFrame:
    """Return a slope table with the boolean ``safe`` column of its ``safe_region.csv``.

    Also ``safe_margin`` and ``safe_level``, the criteria the region was computed with.

    Rows are matched on the group columns and ``(C, gamma)``; a row whose cell is missing from
    the region (a region older than the table) is not safe. Row order and count are kept.

    Raises
    ------
    ValueError
        If the region file is unreadable or lacks the ``safe`` column.
    """
    region = _read_csv(region_path, "safe region")
    keys = [key for key in [*group_columns(table), *CELL_COLUMNS] if key in region.columns]
    if "safe" not in region.columns or "C" not in keys:
        raise ValueError(f"safe region {str(region_path)!r} lacks the columns safe and C")
    criteria = {"margin": "safe_margin", "level": "safe_level"}
    present = [column for column in criteria if column in region.columns]
    flags = region[[*keys, "safe", *present]].rename(columns=criteria).drop_duplicates(keys)
    added = ["safe", *(criteria[column] for column in present)]
    merged = table.drop(columns=added, errors="ignore").merge(flags, on=keys, how="left")
    merged["safe"] = merged["safe"].fillna(False).astype(bool)
    merged.index = table.index
    return merged


def load_requested_tables(
    results_dir: Path | str, kinds: Sequence[str] | None = None
) -> dict[str, pd.DataFrame]:
    """Load the tables of the requested kinds, insisting that at least one exists.

    Parameters
    ----------
    results_dir : path
        Folder holding the result tables (see :func:`load_tables`).
    kinds : sequence of str, optional
        Table kinds wanted (default: every registered kind); kinds without tables are left
        out of the result.

    Returns
    -------
    dict of str to pandas.DataFrame
        The non-empty tables among ``kinds``.

    Raises
    ------
    FileNotFoundError
        If ``results_dir`` does not exist or holds no table of the requested kinds.
    ValueError
        If a kind is unknown or a table is malformed.
    """
    kinds = table_kinds() if kinds is None else tuple(kinds)
    unknown = [kind for kind in kinds if kind not in table_kinds()]
    if unknown:
        raise ValueError(f"unknown table kinds {unknown}; valid kinds are {list(table_kinds())}")
    tables = {kind: table for kind, table in load_tables(results_dir).items() if kind in kinds}
    if not tables:
        expected = ", ".join(f"{kind}/**/results.csv" for kind in kinds)
        raise FileNotFoundError(f"no result tables in {str(results_dir)!r} (looked for {expected})")
    return tables


def with_labels(table: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``table`` with ``trigger_label``, ``trigger_tag`` and ``model`` columns.

    ``model`` is :func:`backdoor_curves.naming.model_tag` of ``(clf, gamma)``, e.g.
    ``"svm-rbf_g0.0005"``; the trigger columns come from ``(trigger, trigger_size,
    trigger_eps)`` through :func:`~backdoor_curves.naming.trigger_label` / ``trigger_tag``.

    Raises
    ------
    ValueError
        If a trigger is unknown or lacks its size / amplitude, or a gamma is not positive.
    """
    # Missing sizes, amplitudes and gammas are NaN here, which naming reads as "not given".
    triggers = list(zip(table["trigger"], table["trigger_size"], table["trigger_eps"], strict=True))
    models = zip(table["clf"], table["gamma"], strict=True)
    out = table.copy()
    out["trigger_label"] = [trigger_label(kind, size, eps) for kind, size, eps in triggers]
    out["trigger_tag"] = [trigger_tag(kind, size, eps) for kind, size, eps in triggers]
    out["model"] = [model_tag(clf, gamma) for clf, gamma in models]
    return out


def models_in_order(rows: pd.DataFrame) -> list[tuple[str, str, float]]:
    """Return ``(model tag, clf, gamma)`` of every model in labelled ``rows``, in figure order.

    The order is :func:`backdoor_curves.naming.model_order`: the paper's models first, then
    others by name, each kernel model by ascending gamma.
    """
    first = rows.drop_duplicates("model")
    models = zip(first["model"], first["clf"], first["gamma"], strict=True)
    return sorted(models, key=lambda model: model_order(model[1], model[2]))


def groups(table: pd.DataFrame, keys: list[str]) -> Iterator[tuple[tuple, pd.DataFrame]]:
    """Yield ``(key values, rows)`` for each combination of ``keys`` (sorted, NaN-free keys)."""
    for values, rows in table.groupby(keys, sort=True):
        yield tuple(values), rows


def optional_part(rows: pd.DataFrame, column: str, part: str) -> str:
    """Return ``"_" + part`` when ``rows`` hold several values of ``column``, else ``""``."""
    return f"_{part}" if rows[column].nunique() > 1 else ""


def seed_note(rows: pd.DataFrame) -> str:
    """``"1 seed"`` or ``"mean over <n> seeds"`` for the rows of one figure."""
    n_seeds = rows["seed"].nunique()
    return "1 seed" if n_seeds == 1 else f"mean over {n_seeds} seeds"


def seed_means(rows: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """Mean over seeds, per ``keys`` and beta, of ``columns`` of curves in beta.

    A curve's rows beyond the grid (breakpoints of an exact SVM path, refined steps of a
    followed one) sit at betas of their own, which differ from seed to seed: each seed's curve
    is interpolated linearly (as its rows are read) onto the betas of every seed of its
    ``keys`` before the mean, which skips the seeds where a column is NaN. The column
    ``on_grid`` says which betas are grid betas (every beta of a table without a ``point``
    column).

    Returns
    -------
    pandas.DataFrame
        Columns ``keys``, ``beta``, ``columns`` and ``on_grid``, sorted by ``keys`` and beta.
    """
    if "seed" not in rows:
        rows = rows.assign(seed=0)
    grid = rows if "point" not in rows else rows[rows["point"] == GRID_POINT]
    parts = []
    for key, group in rows.groupby(keys, sort=True):
        betas = np.unique(group["beta"].to_numpy(dtype=float))
        for _, curve in group.sort_values("beta").groupby("seed", sort=True):
            on_betas = {
                column: np.interp(betas, curve["beta"], curve[column]) for column in columns
            }
            parts.append(pd.DataFrame({**dict(zip(keys, key, strict=True)), "beta": betas,
                                       **on_betas}))  # fmt: skip
    interpolated = pd.concat(parts, ignore_index=True)
    means = interpolated.groupby([*keys, "beta"], sort=True)[columns].mean().reset_index()
    return means.assign(on_grid=means["beta"].isin(np.unique(grid["beta"])))
