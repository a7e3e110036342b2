r"""Compare a run's table with a reference table, cell by cell, within stated tolerances.

- cells are matched on their identity columns (pair, trigger, classifier, ``C``, ``gamma``,
  seed, poison fraction, and ``beta`` for curves), read as text, so that a run over a sub-grid
  (``--seeds 1 -clf svm``) is compared cell by cell with the full reference;
- a curve's breakpoints and refined points sit at betas the run computes, whose last digits
  move with rounding (another BLAS): a curves cell left unmatched as text meets the reference
  cell of its curve and kind (``point``) with the nearest beta, within a relative
  :data:`COMPUTED_RTOL`, and its losses are compared with the reference curve interpolated
  linearly at the run's beta;
- for every matched cell and every compared column of its kind (:data:`COMPARED_KINDS`:
  slope, CA and BA; curves: the losses, CA, BA, the tangent range and crossing) the relative
  difference

  .. math:: r(a, b) = \frac{|a - b|}{\max(|a|, |b|)}, \quad r(0, 0) = r(\mathrm{nan},
            \mathrm{nan}) = 0, \quad r(\mathrm{nan}, b) = \infty,

  and a cell *differs* when ``|a - b| > rtol * max(|a|, |b|) + atol`` for some column
  (:data:`RTOL`, :data:`ATOL`; for the slope ``rtol = max(RTOL, 100 eps kappa)`` with kappa the
  cell's recorded condition number, :data:`CONDITION_FACTOR`) or its status text differs;
- tables computed on other data (the ``data_source`` column: embedded digits vs full MNIST)
  are not compared; they are reported as such.

:func:`compare_table` compares two tables of one kind (:class:`TableSpec`, :func:`table_spec`)
into a :class:`Comparison`; the run and reference folders are walked by
:mod:`backdoor_curves.experiments.reference_tables`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "ATOL",
    "COMPARED_KINDS",
    "COMPUTED_RTOL",
    "CONDITION_FACTOR",
    "RTOL",
    "CellDifference",
    "Comparison",
    "TableSpec",
    "compare_table",
    "listed",
    "table_spec",
]

RTOL = 1e-6
"""Relative tolerance of a compared value (slopes agree to ~1e-10 between runs of one build)."""

CONDITION_FACTOR = 100.0
"""A solve with condition number kappa has a forward error of order ``kappa * eps``: a
conditioned column's tolerance is ``max(RTOL, CONDITION_FACTOR * eps * kappa)`` (ridge at
``C = 1000`` has kappa ~ 5e8, i.e. a tolerance of ~1e-5; BLAS of another machine may differ
there by 1e-6)."""

ATOL = 1e-12
"""Absolute tolerance, for values that are zero (or nearly) in both tables."""

COMPUTED_RTOL = 1e-4
"""Relative distance within which a computed identity value (the beta of a breakpoint or of a
refined point) matches the reference's. Such betas move with rounding: the step control that places
refined points compares nearly equal numbers, so optima that differ by a relative 1e-10 (another
BLAS, another correct solver path) can move a refined beta by 1e-6. The values compared there are
interpolated to the run's beta, so the match window does not loosen the comparison."""

_MAX_LISTED = 20
"""Differing cells listed one per line; the rest are counted."""


def listed(entries: list[str]) -> list[str]:
    """Return the report lines of differing cells: the first 20 indented, then a count."""
    lines = [f"  {entry}" for entry in entries[:_MAX_LISTED]]
    if len(entries) > _MAX_LISTED:
        lines.append(f"  ... and {len(entries) - _MAX_LISTED} more")
    return lines


@dataclass(frozen=True)
class TableSpec:
    """How the tables of one kind are compared.

    Attributes
    ----------
    kind : str
        Table kind, the folder under a results root (``"slope"``, ``"curves"``).
    identity : tuple of str
        Columns naming a cell (matched as text; absent ones are ignored).
    compared : tuple of tuple of str
        ``(column, label)`` of the numbers compared, in report order (a column that one of
        the two tables lacks is not compared, with a note; one that both lack, silently).
    status : str
        Text column compared exactly (an empty string: none).
    conditioned : tuple of str, default ()
        Compared columns computed by a linear solve whose condition number is in the
        ``condition_number`` column: their tolerance grows with it (:data:`CONDITION_FACTOR`).
    computed : str, default ""
        An identity column whose value the run computes rather than chooses (the beta of a
        curve's breakpoint or refined point; ``""``: every identity column is matched as
        text only). A cell that no reference cell matches as text is matched to the
        reference cell with the nearest such value, among those agreeing on every other
        identity column and on ``computed_kind``, when the two values agree within
        :data:`COMPUTED_RTOL`; its ``smooth`` columns are then compared with the reference
        curve interpolated linearly at the run's value.
    computed_kind : str, default ""
        The column naming what kind of point a cell is (``point``: grid, breakpoint,
        refined); cells of different kinds never match.
    smooth : tuple of str, default ()
        Compared columns that vary smoothly with ``computed`` (the losses; not the
        accuracies, which are step functions of beta).
    """

    kind: str
    identity: tuple[str, ...]
    compared: tuple[tuple[str, str], ...]
    status: str
    conditioned: tuple[str, ...] = ()
    computed: str = ""
    computed_kind: str = ""
    smooth: tuple[str, ...] = ()


_SLOPE_TABLE = TableSpec(
    "slope",
    ("pair", "trigger", "trigger_size", "trigger_eps", "clf", "gamma", "C", "seed",
     "poison_fraction", "n_train", "n_test"),
    (("slope", "slope"), ("clean_acc", "CA"), ("backdoor_acc", "BA")),
    "status",
    ("slope",),
)  # fmt: skip
_CURVES_TABLE = TableSpec(
    "curves",
    ("pair", "trigger", "trigger_size", "trigger_eps", "clf", "gamma", "C", "poison_fraction",
     "seed", "n_train", "n_test", "beta"),
    (("clean_loss", "clean loss"), ("backdoor_loss", "backdoor loss"), ("clean_acc", "CA"),
     ("backdoor_acc", "BA"), ("tangent_valid_until", "tangent range"),
     ("tangent_crossing", "tangent crossing")),
    "slope_status",
    computed="beta",
    computed_kind="point",
    smooth=("clean_loss", "backdoor_loss"),
)  # fmt: skip

COMPARED_KINDS: dict[str, TableSpec] = {spec.kind: spec for spec in (_SLOPE_TABLE, _CURVES_TABLE)}
"""The table kinds a run is compared on, with how."""

# Identity columns shown when a differing cell is listed.
_SHOWN = ("clf", "gamma", "C", "seed", "poison_fraction", "beta")


def table_spec(kind: str) -> TableSpec:
    """Return the :class:`TableSpec` of ``kind``; unknown kinds raise listing the valid ones."""
    try:
        return COMPARED_KINDS[kind]
    except KeyError:
        valid = ", ".join(repr(name) for name in COMPARED_KINDS)
        raise ValueError(f"unknown table kind {kind!r}; compared kinds are {valid}") from None


@dataclass(frozen=True)
class CellDifference:
    """One cell whose values differ from the reference beyond tolerance.

    Attributes
    ----------
    folder : str
        Run folder (e.g. ``7-1_badnet3``).
    cell : str
        The cell's identity, e.g. ``clf=svm C=0.01 seed=1``.
    what : str
        The differing values, e.g. ``slope -0.25 vs -0.26 (rel. 3.9e-02)``.
    """

    folder: str
    cell: str
    what: str


@dataclass
class Comparison:
    """Outcome of comparing a run's tables of one kind with the reference.

    Attributes
    ----------
    spec : TableSpec
        What was compared.
    n_compared : int
        Cells found in both tables.
    n_unmatched : int
        Cells of the run that the reference does not have.
    n_nearby : int
        Compared cells matched at a nearby computed value (:attr:`TableSpec.computed`).
    n_missing : int
        Cells of the reference that the run does not have, among the curves the run
        computed (tables with a :attr:`TableSpec.computed` column; e.g. a breakpoint or a
        refined point the run no longer has).
    max_rel : dict of str to float
        Largest relative difference per compared column (0 when nothing was compared).
    differences : list of CellDifference
        Cells beyond tolerance.
    notes : list of str
        Folders not compared and why (no reference table, other data).
    """

    spec: TableSpec
    n_compared: int = 0
    n_unmatched: int = 0
    n_nearby: int = 0
    n_missing: int = 0
    max_rel: dict[str, float] = field(default_factory=dict)
    differences: list[CellDifference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def merge(self, other: Comparison) -> None:
        """Add ``other`` (same kind) into this comparison."""
        self.n_compared += other.n_compared
        self.n_unmatched += other.n_unmatched
        self.n_nearby += other.n_nearby
        self.n_missing += other.n_missing
        for column, value in other.max_rel.items():
            self.max_rel[column] = max(self.max_rel.get(column, 0.0), value)
        self.differences += other.differences
        self.notes += other.notes

    @property
    def reproduces(self) -> bool:
        """Whether cells were compared and none differs."""
        return self.n_compared > 0 and not self.differences

    def max_rel_text(self) -> str:
        """``slope 2.1e-13, CA 0, BA 0``: the largest relative difference per compared column."""
        parts = []
        for column, label in self.spec.compared:
            if column in self.max_rel:
                parts.append(f"{label} {_format_rel(self.max_rel[column])}")
        return ", ".join(parts)

    def lines(self, reference: Path) -> list[str]:
        """Return the report: one line when it reproduces, else the differing cells (and notes)."""
        where = reference / self.spec.kind
        extra = f"; {self.n_unmatched} cell(s) not in the reference" if self.n_unmatched else ""
        if self.n_missing:
            extra += f"; {self.n_missing} reference cell(s) of these curves not in the run"
        nearby = f", {self.n_nearby} at a nearby {self.spec.computed}" if self.n_nearby else ""
        if self.reproduces:
            return [
                f"reproduces the reference {where} ({self.n_compared} cells{nearby}, max rel. "
                f"diff {self.max_rel_text()}){extra}"
            ] + [f"  note: {note}" for note in self.notes]
        if self.n_compared == 0:
            why = "; ".join(self.notes) or "no cell of this run is in the reference"
            return [f"not compared with the reference {where}: {why}"]
        lines = [
            f"DIFFERS from the reference {where}: {len(self.differences)} of "
            f"{self.n_compared} cells{nearby} beyond rtol {RTOL:g} (max rel. diff "
            f"{self.max_rel_text()}){extra}"
        ]
        lines += listed([f"{d.folder} {d.cell}: {d.what}" for d in self.differences])
        return lines + [f"  note: {note}" for note in self.notes]


def _format_rel(value: float) -> str:
    """Relative difference for the report: ``0``, ``3.1e-13`` or ``inf``."""
    if value == 0:
        return "0"
    return "inf" if math.isinf(value) else f"{value:.1e}"


def _relative_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return ``|a - b| / max(|a|, |b|)``: 0 where equal (or both NaN), inf where one is NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))
    rel = np.where(a == b, 0.0, rel)
    both_nan = np.isnan(a) & np.isnan(b)
    one_nan = np.isnan(a) ^ np.isnan(b)
    return np.where(both_nan, 0.0, np.where(one_nan, np.inf, rel))


def _beyond_tolerance(a: np.ndarray, b: np.ndarray, rtol: np.ndarray | float) -> np.ndarray:
    """Whether ``|a - b| > rtol * max(|a|, |b|) + ATOL`` (NaN against a number counts)."""
    with np.errstate(invalid="ignore"):
        close = np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b)) + ATOL
    return ~(close | (np.isnan(a) & np.isnan(b)))


def _tolerance(matched: pd.DataFrame, conditioned: bool) -> np.ndarray | float:
    """Relative tolerance per cell: RTOL, widened by the larger condition number if any."""
    columns = [c for c in ("condition_number", "condition_number_ref") if c in matched.columns]
    if not conditioned or not columns:
        return RTOL
    kappa = np.full(len(matched), np.nan)
    for column in columns:
        values = pd.to_numeric(matched[column], errors="coerce").to_numpy(dtype=float)
        kappa = np.fmax(kappa, values)
    widened = CONDITION_FACTOR * np.finfo(np.float64).eps * np.nan_to_num(kappa, nan=0.0)
    return np.maximum(RTOL, widened)


def _match_computed(
    run: pd.DataFrame,
    free: pd.DataFrame,
    reference: pd.DataFrame,
    identity: list[str],
    spec: TableSpec,
) -> pd.DataFrame:
    """Match run cells to the free reference cells with the nearest computed value.

    ``run`` holds the run's cells left unmatched as text, ``free`` the reference cells no run
    cell matched. Cells pair within groups agreeing on the other identity columns (and
    ``spec.computed_kind``), when their computed values agree within
    :data:`COMPUTED_RTOL`; a reference cell pairs with one run cell at most (the nearest).
    The ``spec.smooth`` columns of a pair hold the reference curve (every cell of
    ``reference`` agreeing on the other identity columns) interpolated at the run's value.
    Returns the pairs as the text merge returns its matches (reference columns ``_ref``).
    """
    key, kind = spec.computed, spec.computed_kind
    curve = [c for c in identity if c != key]
    by = [*curve, kind] if kind in run.columns and kind in free.columns else curve
    ours = run.assign(_value=pd.to_numeric(run[key], errors="coerce")).dropna(subset="_value")
    theirs = free.assign(_value=pd.to_numeric(free[key], errors="coerce")).dropna(subset="_value")
    if ours.empty or theirs.empty:
        return run.iloc[:0]
    theirs = theirs.rename(columns={c: f"{c}_ref" for c in theirs.columns if c not in by})
    paired = pd.merge_asof(
        ours.sort_values("_value"), theirs.sort_values("_value_ref"),
        left_on="_value", right_on="_value_ref", by=by or None, direction="nearest",
    )  # fmt: skip
    distance = (paired["_value"] - paired["_value_ref"]).abs()
    window = COMPUTED_RTOL * np.maximum(paired["_value"].abs(), paired["_value_ref"].abs())
    paired = paired.assign(_distance=distance)[distance <= window]
    # One run cell per reference cell, the nearest: an extra point of the run stays unmatched.
    paired = paired.sort_values("_distance").drop_duplicates([*by, "_value_ref"])
    smooth = [c for c in spec.smooth if c in reference.columns and f"{c}_ref" in paired.columns]
    if smooth and curve and not paired.empty:
        points = reference.assign(_value=pd.to_numeric(reference[key], errors="coerce"))
        curves = points.sort_values("_value").groupby(curve, sort=False)
        for name, rows in paired.groupby(curve, sort=False):
            found = curves.get_group(name)
            for column in smooth:
                values = pd.to_numeric(found[column], errors="coerce").to_numpy(dtype=float)
                at = np.interp(rows["_value"], found["_value"].to_numpy(dtype=float), values)
                paired.loc[rows.index, f"{column}_ref"] = [repr(float(v)) for v in at]
    return paired.drop(columns=["_value", "_value_ref", "_distance"])


def _reference_cells_of_run_curves(
    run: pd.DataFrame, reference: pd.DataFrame, identity: list[str], spec: TableSpec
) -> int:
    """Count the reference cells whose curve (identity but the computed column) the run has.

    Each reference cell meets at most one run cell, so those the run did not meet are this
    count less the compared cells.
    """
    curve = [c for c in identity if c != spec.computed]
    if not curve:
        return len(reference)
    curves = run[curve].drop_duplicates()
    return len(reference.merge(curves, on=curve, how="inner"))


def _read_text_table(path: Path) -> pd.DataFrame:
    """Read a results table with every cell as text (identities match on the written text)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _cell_text(row: pd.Series, columns: Iterable[str]) -> str:
    return " ".join(f"{c}={row[c]}" for c in columns if c in row and row[c] != "")


def compare_table(run_table: Path, reference_table: Path, spec: TableSpec) -> Comparison:
    """Compare one run folder's table with the reference table of the same folder.

    Parameters
    ----------
    run_table, reference_table : Path
        The two ``results.csv`` files.
    spec : TableSpec
        Identity and compared columns.

    Returns
    -------
    Comparison
        With a note instead of compared cells when the reference is missing or was computed
        on other data.
    """
    folder = run_table.parent.name
    result = Comparison(spec)
    run = _read_text_table(run_table)
    if not reference_table.is_file():
        result.n_unmatched = len(run)
        result.notes.append(f"{folder}: no reference table {reference_table}")
        return result
    reference = _read_text_table(reference_table)
    sources = sorted(set(run.get("data_source", [])) - set(reference.get("data_source", [])))
    if sources:
        other = sorted(set(reference.get("data_source", [])))
        result.n_unmatched = len(run)
        result.notes.append(f"{folder}: computed on {sources[0]!r}, the reference on {other}")
        return result
    identity = [c for c in spec.identity if c in run.columns and c in reference.columns]
    merged = run.merge(reference, on=identity, how="left", suffixes=("", "_ref"), indicator=True)
    matched = merged[merged["_merge"] == "both"]
    unmatched = run[(merged["_merge"] == "left_only").to_numpy()]
    result.n_unmatched = len(unmatched)
    if spec.computed in identity and result.n_unmatched:
        taken = matched[identity].drop_duplicates()
        free = reference.merge(taken, on=identity, how="left", indicator=True)
        free = free[free["_merge"] == "left_only"].drop(columns="_merge")
        nearest = _match_computed(unmatched, free, reference, identity, spec)
        matched = pd.concat([matched, nearest], ignore_index=True)
        result.n_unmatched -= len(nearest)
        result.n_nearby = len(nearest)
    result.n_compared = len(matched)
    if spec.computed in identity:
        result.n_missing = _reference_cells_of_run_curves(run, reference, identity, spec) - len(
            matched
        )
    if matched.empty:
        return result
    differs = np.zeros(len(matched), dtype=bool)
    whats: list[list[str]] = [[] for _ in range(len(matched))]
    for column, label in spec.compared:
        if column not in run.columns or column not in reference.columns:
            if (column in run.columns) != (column in reference.columns):
                result.notes.append(f"{folder}: {label} not compared, one table has no {column}")
            continue
        a = pd.to_numeric(matched[column], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(matched[f"{column}_ref"], errors="coerce").to_numpy(dtype=float)
        rel = _relative_difference(a, b)
        result.max_rel[column] = float(rel.max())
        beyond = _beyond_tolerance(a, b, _tolerance(matched, column in spec.conditioned))
        differs |= beyond
        for index in np.flatnonzero(beyond):
            whats[index].append(f"{label} {a[index]:.6g} vs {b[index]:.6g} (rel. {rel[index]:.1e})")
    if spec.status and spec.status in matched.columns:
        ours = matched[spec.status].to_numpy()
        theirs = matched[f"{spec.status}_ref"].to_numpy()
        for index in np.flatnonzero(ours != theirs):
            differs[index] = True
            whats[index].append(f"status {ours[index]!r} vs {theirs[index]!r}")
    rows = matched.reset_index(drop=True)
    for index in np.flatnonzero(differs):
        cell = _cell_text(rows.iloc[index], _SHOWN)
        result.differences.append(CellDifference(folder, cell, "; ".join(whats[index])))
    return result
