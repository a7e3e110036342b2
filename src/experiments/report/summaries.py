"""The key tables of a results folder, as rows for the report's sortable HTML tables.

- :func:`spearman_table`: per slope run folder (pair and trigger) and model, Spearman's rank
  correlation of the normalised slope theta with the backdoor accuracy over the ``C`` grid and
  the seeds (:func:`~backdoor_curves.plots.slope.spearman_theta_ba`, the number in the slope
  figures' titles);
- :func:`status_table`: the cells whose status (a ``status`` or ``*_status`` column) is not
  ``"ok"``, counted per run folder, model and status;
- :func:`safe_region_tables`: every ``safe_region.csv`` found, as written;
- :func:`reference_summaries`: the run's tables of each compared kind against the reference
  (:mod:`backdoor_curves.experiments.reference_tables`), the line the drivers print and the
  differing cells.

Each returns :class:`Table` s of plain values (text or numbers); nothing here is HTML.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from backdoor_curves.experiments.reference_tables import compare_tree
from backdoor_curves.experiments.table_comparison import COMPARED_KINDS, Comparison
from backdoor_curves.plots.slope import model_panels, spearman_theta_ba
from backdoor_curves.plots.tables import read_table, with_labels
from backdoor_curves.utilities.store import RESULTS_FILENAME

__all__ = [
    "SAFE_REGION_FILENAME",
    "ReferenceSummary",
    "Table",
    "reference_summaries",
    "result_tables",
    "safe_region_tables",
    "spearman_table",
    "status_table",
]

SAFE_REGION_FILENAME = "safe_region.csv"
"""Table of the safe (C, gamma) cells that the slope driver may write next to its tables."""

Cell = str | float | int


@dataclass(frozen=True)
class Table:
    """A table of the report: a title, a note under it, column names and rows of values."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str = ""


@dataclass(frozen=True)
class ReferenceSummary:
    """How the tables of one kind compare with the reference.

    Attributes
    ----------
    kind : str
        ``"slope"`` or ``"curves"``.
    lines : tuple of str
        The line the driver prints at the end of a run, then its notes (folders not
        compared and why).
    reproduces : bool
        Cells were compared and none differs.
    differences : Table or None
        The differing cells (None when none differ).
    """

    kind: str
    lines: tuple[str, ...]
    reproduces: bool
    differences: Table | None = None


def result_tables(root: Path, kind: str) -> list[Path]:
    """Return the ``results.csv`` of every run folder directly under ``root/kind``."""
    return sorted((root / kind).glob(f"*/{RESULTS_FILENAME}"))


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def spearman_table(root: Path) -> Table | None:
    """Spearman(theta, BA) per slope run folder and model (None without slope tables)."""
    rows: list[tuple[Cell, ...]] = []
    for path in result_tables(root, "slope"):
        table = read_table(path, "slope")
        if table.empty:
            continue
        for title, cells in model_panels(with_labels(table)):
            rho = spearman_theta_ba(cells)
            rows.append((path.parent.name, title, len(cells), _rounded(rho)))
    if not rows:
        return None
    return Table(
        "Spearman(theta, BA) per pair and model",
        ("run folder", "model", "cells", "Spearman(theta, BA)"),
        tuple(rows),
        "Rank correlation of the normalised slope theta with the backdoor accuracy over the C "
        "grid and the seeds (empty: fewer than 3 finite cells or a constant column).",
    )


def _rounded(value: float) -> Cell:
    return "" if math.isnan(value) else round(value, 3)


def _status_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c == "status" or c.endswith("_status")]


def status_table(root: Path) -> Table:
    """Cells whose status is not ``"ok"``, counted per table, model and status.

    Every ``results.csv`` under ``root`` is read; a status column is ``status`` or ends in
    ``_status``; empty statuses (not recorded for that row) are not counted.
    """
    rows: list[tuple[Cell, ...]] = []
    n_cells = 0
    for path in sorted(root.rglob(RESULTS_FILENAME)):
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in _status_columns(table):
            recorded = table[table[column] != ""]
            n_cells += len(recorded)
            other = recorded[recorded[column] != "ok"]
            model = other["clf"] if "clf" in other.columns else pd.Series("", index=other.index)
            if "arch" in other.columns:
                model = other["arch"]
            counts = other.groupby([model, other[column]], sort=True).size()
            for (name, status), count in counts.items():
                rows.append((_relative(path.parent, root), column, name, status, int(count)))
    note = f'{n_cells} cells have a recorded status; those that are not "ok" are listed.'
    if not rows:
        note = f'All {n_cells} cells with a recorded status are "ok".'
    return Table(
        'Statuses that are not "ok"',
        ("table", "column", "model", "status", "cells"),
        tuple(rows),
        note,
    )


def safe_region_tables(root: Path) -> list[Table]:
    """Every ``safe_region.csv`` under ``root``, as written (empty list when there is none)."""
    tables = []
    for path in sorted(root.rglob(SAFE_REGION_FILENAME)):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        tables.append(
            Table(
                f"Safe region: {_relative(path, root)}",
                tuple(str(c) for c in frame.columns),
                tuple(tuple(row) for row in frame.itertuples(index=False)),
                "Grid cells that keep the clean accuracy and a low backdoor accuracy, as the "
                "slope driver wrote them.",
            )
        )
    return tables


def _same_folder(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def reference_summaries(
    root: Path,
    reference: Path | None,
    kinds: Sequence[str] = tuple(COMPARED_KINDS),
    known: Mapping[Path, Comparison] | None = None,
) -> list[ReferenceSummary]:
    """Compare the tables of each kind under ``root`` with ``reference`` (if it is another folder).

    Returns one summary per kind that has tables; with ``reference`` None, missing, or
    ``root`` itself, the line says why nothing was compared. ``known`` holds comparisons of
    run folders under ``root`` with ``reference`` already made by the driver run
    (:func:`~backdoor_curves.experiments.reference_tables.compare_tree`).
    """
    summaries = []
    for kind in kinds:
        if not result_tables(root, kind):
            continue
        if reference is None or not reference.is_dir():
            where = "no reference folder given" if reference is None else f"no folder {reference}"
            summaries.append(ReferenceSummary(kind, (f"not compared: {where}",), False))
            continue
        if _same_folder(root, reference):
            line = "this folder is the reference: runs are compared with it"
            summaries.append(ReferenceSummary(kind, (line,), False))
            continue
        comparison = compare_tree(root, reference, kind, known=known)
        headline = comparison.lines(reference)[0]
        lines = (headline, *(f"note: {note}" for note in comparison.notes))
        differences = None
        if comparison.differences:
            differences = Table(
                f"Cells of {kind} that differ from the reference",
                ("run folder", "cell", "difference"),
                tuple((d.folder, d.cell, d.what) for d in comparison.differences),
            )
        summaries.append(ReferenceSummary(kind, lines, comparison.reproduces, differences))
    return summaries
