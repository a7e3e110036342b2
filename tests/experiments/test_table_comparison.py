"""Comparing a run's table with the reference: matched cells, tolerances, statuses, notes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from generated_data import curves_table, slope_table

from backdoor_curves.experiments.table_comparison import compare_table, listed, table_spec

SLOPE = table_spec("slope")
CURVES = table_spec("curves")


def test_identical_tables_reproduce_with_zero_difference(tmp_path: Path) -> None:
    run = slope_table(tmp_path / "run" / "7-1_badnet3", [0.5, -1.25, 3.0])
    ref = slope_table(tmp_path / "ref" / "7-1_badnet3", [0.5, -1.25, 3.0], seconds=[9.0] * 3)
    comparison = compare_table(run, ref, SLOPE)
    assert comparison.reproduces
    assert comparison.n_compared == 3
    assert comparison.max_rel == {"slope": 0.0, "clean_acc": 0.0, "backdoor_acc": 0.0}
    (line,) = comparison.lines(tmp_path / "ref")
    assert line.startswith("reproduces the reference")
    assert "(3 cells, max rel. diff slope 0, CA 0, BA 0)" in line


def test_differences_beyond_tolerance_are_listed_cell_by_cell(tmp_path: Path) -> None:
    run = slope_table(
        tmp_path / "run" / "7-1_badnet3",
        [0.5 * (1 + 1e-9), -1.2, float("nan")],
        status=["ok", "ok", "damped"],
    )
    ref = slope_table(tmp_path / "ref" / "7-1_badnet3", [0.5, -1.25, 3.0])
    comparison = compare_table(run, ref, SLOPE)
    assert not comparison.reproduces
    # 1e-9 relative is within tolerance; -1.2 vs -1.25 is not; NaN vs 3 is not, nor its status.
    assert [d.cell for d in comparison.differences] == [
        "clf=svm C=1.0 seed=1",
        "clf=svm C=10.0 seed=1",
    ]
    assert "slope -1.2 vs -1.25 (rel. 4.0e-02)" in comparison.differences[0].what
    assert "status 'damped' vs 'ok'" in comparison.differences[1].what
    assert comparison.max_rel["slope"] == float("inf")
    lines = comparison.lines(tmp_path / "ref")
    assert lines[0].startswith("DIFFERS from the reference")
    assert "2 of 3 cells" in lines[0]
    assert len(lines) == 3


def test_slope_tolerance_grows_with_the_condition_number(tmp_path: Path) -> None:
    ref = slope_table(tmp_path / "ref" / "7-1_badnet3", [-4.9e6, 2.0], condition_number=[5e8, 1])
    # 2e-6 relative: within 100 eps kappa ~ 1.1e-5 at kappa 5e8, beyond RTOL at kappa 1.
    run = slope_table(
        tmp_path / "run" / "7-1_badnet3",
        [-4.9e6 * (1 + 2e-6), 2.0 * (1 + 2e-6)],
        condition_number=[5e8, 1],
    )
    comparison = compare_table(run, ref, SLOPE)
    assert [d.cell for d in comparison.differences] == ["clf=svm C=1.0 seed=1"]
    assert comparison.max_rel["slope"] == pytest.approx(2e-6, rel=1e-3)


def test_cells_match_on_identity_not_on_task_key_or_row_order(tmp_path: Path) -> None:
    ref = slope_table(tmp_path / "ref" / "7-1_badnet3", [0.5, -1.25, 3.0])
    # A sub-grid run (another task key, one C value) still meets its reference cell.
    run = slope_table(
        tmp_path / "run" / "7-1_badnet3", [-1.25], C=[1.0], task_key=["clf=svm|C_values=(1.0,)"]
    )
    comparison = compare_table(run, ref, SLOPE)
    assert comparison.reproduces and comparison.n_compared == 1


def test_tables_of_other_data_or_without_reference_are_not_compared(tmp_path: Path) -> None:
    ref = slope_table(tmp_path / "ref" / "7-1_badnet3", [0.5])
    run = slope_table(tmp_path / "run" / "7-1_badnet3", [0.5], data_source=["mnist-idx (/d)"])
    other = compare_table(run, ref, SLOPE)
    assert other.n_compared == 0 and not other.reproduces
    assert "computed on 'mnist-idx (/d)'" in other.notes[0]
    missing = compare_table(run, tmp_path / "nowhere" / "results.csv", SLOPE)
    assert missing.n_compared == 0 and "no reference table" in missing.notes[0]
    assert missing.lines(tmp_path / "ref")[0].startswith("not compared with the reference")


def test_unknown_kind_lists_the_compared_ones() -> None:
    with pytest.raises(ValueError, match="unknown table kind 'heatmap'.*'slope', 'curves'"):
        table_spec("heatmap")


def test_a_curves_cell_whose_status_differs_with_equal_numbers_differs(tmp_path: Path) -> None:
    ref = curves_table(tmp_path / "ref" / "7-1_badnet6", ["ok", "ok"], [0.0, 0.5])
    run = curves_table(tmp_path / "run" / "7-1_badnet6", ["ok", "damped"], [0.0, 0.5])
    comparison = compare_table(run, ref, CURVES)
    assert [d.cell for d in comparison.differences] == [
        "clf=svm C=0.01 seed=1 poison_fraction=0.1 beta=0.5"
    ]
    assert "status 'damped' vs 'ok'" in comparison.differences[0].what
    assert comparison.lines(tmp_path / "ref")[0].startswith("DIFFERS from the reference")


@pytest.mark.parametrize(
    ("column", "label"),
    [("tangent_valid_until", "tangent range"), ("tangent_crossing", "tangent crossing")],
)
def test_the_tangent_columns_of_a_curve_are_compared(
    tmp_path: Path, column: str, label: str
) -> None:
    def with_column(path: Path, values: list[float]) -> Path:
        pd.read_csv(path).assign(**{column: values}).to_csv(path, index=False)
        return path

    ref = curves_table(tmp_path / "ref" / "7-1_badnet6", ["ok", "ok"], [0.0, 0.5])
    run = curves_table(tmp_path / "run" / "7-1_badnet6", ["ok", "ok"], [0.0, 0.5])
    with_column(ref, [0.0123, 0.0123])
    comparison = compare_table(with_column(run, [0.0123, 0.0123]), ref, CURVES)
    assert comparison.reproduces and f"{label} 0" in comparison.lines(tmp_path / "ref")[0]
    comparison = compare_table(with_column(run, [0.0124, 0.0124]), ref, CURVES)
    assert len(comparison.differences) == 2
    assert f"{label} 0.0124 vs 0.0123" in comparison.differences[0].what
    # A reference written before the column: the rest is compared, with a note.
    bare = curves_table(tmp_path / "old" / "7-1_badnet6", ["ok", "ok"], [0.0, 0.5])
    comparison = compare_table(run, bare, CURVES)
    assert comparison.reproduces and label not in comparison.max_rel_text()
    note = f"7-1_badnet6: {label} not compared, one table has no {column}"
    assert comparison.lines(tmp_path / "old")[1:] == [f"  note: {note}"]


@pytest.mark.parametrize("kind", ["slope", "curves"])
def test_cells_the_reference_lacks_are_counted_and_reported(tmp_path: Path, kind: str) -> None:
    if kind == "slope":
        ref = slope_table(tmp_path / "ref" / "7-1_badnet3", [0.5, -1.25])
        run = slope_table(tmp_path / "run" / "7-1_badnet3", [0.5, -1.25, 3.0])
    else:
        ref = curves_table(tmp_path / "ref" / "7-1_badnet6", ["ok"] * 2, [0.0, 0.5])
        run = curves_table(tmp_path / "run" / "7-1_badnet6", ["ok"] * 3, [0.0, 0.5, 1.0])
    comparison = compare_table(run, ref, table_spec(kind))
    assert (comparison.n_compared, comparison.n_unmatched) == (2, 1)
    (line,) = comparison.lines(tmp_path / "ref")
    assert line.startswith("reproduces the reference") and "1 cell(s) not in the reference" in line


def test_listed_shows_twenty_entries_and_counts_the_rest() -> None:
    assert listed(["a", "b"]) == ["  a", "  b"]
    lines = listed([f"cell {i}" for i in range(23)])
    assert lines[:2] == ["  cell 0", "  cell 1"] and len(lines) == 21
    assert lines[-1] == "  ... and 3 more"


def _curve(folder: Path, betas: list[float], points: list[str]) -> Path:
    """One curve whose backdoor loss is ``2 - beta`` (linear: exact between any two cells)."""
    return curves_table(folder, ["ok"] * len(betas), betas, points)


POINTS = ["grid", "breakpoint", "grid", "grid", "refined", "grid"]


def _betas(moved: float) -> list[float]:
    """The grid 0, 0.25, 0.5, 1, a breakpoint near 0.1 and a refined point near 0.7."""
    return [0.0, 0.1 * (1 + moved), 0.25, 0.5, 0.7 * (1 - moved), 1.0]


def test_computed_betas_that_moved_with_rounding_still_meet_their_cells(tmp_path: Path) -> None:
    ref = _curve(tmp_path / "ref" / "7-1_badnet6", _betas(0.0), POINTS)
    # Another machine's breakpoint and refined point, moved by a relative 5e-6: matched to
    # the reference's, and their losses compared with the reference curve at the run's beta
    # (the losses themselves differ by a relative 2.7e-6, beyond RTOL).
    run = _curve(tmp_path / "run" / "7-1_badnet6", _betas(5e-6), POINTS)
    comparison = compare_table(run, ref, CURVES)
    assert (comparison.n_compared, comparison.n_unmatched, comparison.n_nearby) == (6, 0, 2)
    assert comparison.reproduces
    assert comparison.max_rel["backdoor_loss"] < 1e-12
    (line,) = comparison.lines(tmp_path / "ref")
    assert "(6 cells, 2 at a nearby beta, max rel. diff" in line


def test_a_computed_point_off_the_reference_curve_differs(tmp_path: Path) -> None:
    ref = _curve(tmp_path / "ref" / "7-1_badnet6", _betas(0.0), POINTS)
    run_betas = _betas(1e-9)
    losses = [2.0 - beta for beta in run_betas]
    losses[4] *= 1 + 1e-4  # the refined point's loss is wrong by far more than rounding
    run = curves_table(tmp_path / "run" / "7-1_badnet6", ["ok"] * 6, run_betas, POINTS, losses)
    comparison = compare_table(run, ref, CURVES)
    assert [d.cell for d in comparison.differences] == [
        f"clf=svm C=0.01 seed=1 poison_fraction=0.1 beta={run_betas[4]!r}"
    ]


def test_computed_points_match_only_their_kind_and_only_nearby(tmp_path: Path) -> None:
    ref = _curve(tmp_path / "ref" / "7-1_badnet6", _betas(0.0), POINTS)
    # The breakpoint moved beyond COMPUTED_RTOL; the refined point became a breakpoint.
    kinds = ["grid", "breakpoint", "grid", "grid", "breakpoint", "grid"]
    run = _curve(tmp_path / "run" / "7-1_badnet6", _betas(1e-3), kinds)
    comparison = compare_table(run, ref, CURVES)
    assert (comparison.n_compared, comparison.n_unmatched) == (4, 2)
    assert "2 cell(s) not in the reference" in comparison.lines(tmp_path / "ref")[0]


def test_reference_cells_the_run_no_longer_has_are_reported(tmp_path: Path) -> None:
    """A run whose curve lost a breakpoint says so; a curve it did not run is not counted."""
    ref = _curve(tmp_path / "ref" / "7-1_badnet6", _betas(0.0), POINTS)
    table = pd.read_csv(ref)
    other = table.assign(seed=2)  # another curve of the reference, which the run did not run
    pd.concat([table, other]).to_csv(ref, index=False)
    keep = [i for i, point in enumerate(POINTS) if point != "breakpoint"]
    betas = [_betas(0.0)[i] for i in keep]
    run = _curve(tmp_path / "run" / "7-1_badnet6", betas, [POINTS[i] for i in keep])
    comparison = compare_table(run, ref, CURVES)
    assert (comparison.n_compared, comparison.n_unmatched, comparison.n_missing) == (5, 0, 1)
    assert comparison.reproduces
    (line,) = comparison.lines(tmp_path / "ref")
    assert line.endswith("; 1 reference cell(s) of these curves not in the run")
    # The whole curve: nothing missing.
    full = _curve(tmp_path / "full" / "7-1_badnet6", _betas(0.0), POINTS)
    assert compare_table(full, ref, CURVES).n_missing == 0
