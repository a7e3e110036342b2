"""The reference tables: a run's check fails only with the flag; update copies finished runs."""

from __future__ import annotations

from pathlib import Path

from generated_data import finished_run, slope_table

from backdoor_curves.experiments.reference_tables import (
    ReferenceCheck,
    compare_tree,
    update_reference,
)


def test_a_difference_fails_only_with_the_flag(tmp_path: Path) -> None:
    slope_table(tmp_path / "ref" / "slope" / "7-1_badnet3", [0.5])
    run_dir = slope_table(tmp_path / "run" / "slope" / "7-1_badnet3", [0.6]).parent
    for flag, status in ((False, 0), (True, 1)):
        check = ReferenceCheck("slope", tmp_path / "ref", fail_on_difference=flag)
        check.add(run_dir)
        lines: list[str] = []
        assert check.report(lines.append) == status
        assert lines[0].startswith("[slope] DIFFERS")


def test_update_copies_finished_tables_of_the_paper_data(tmp_path: Path) -> None:
    run_root, ref_root = tmp_path / "runs", tmp_path / "results"
    finished_run(run_root, "slope", "7-1_badnet3")
    finished_run(run_root, "slope", "7-1_badnet3_smoke")
    written = update_reference(run_root, ref_root, ("slope",))
    assert written == [ref_root / "slope" / "7-1_badnet3"]
    assert (ref_root / "slope" / "7-1_badnet3" / "results.csv").read_bytes() == (
        run_root / "slope" / "7-1_badnet3" / "results.csv"
    ).read_bytes()
    assert not (ref_root / "slope" / "7-1_badnet3_smoke").exists()


def test_the_report_reuses_the_folders_the_run_compared(tmp_path: Path) -> None:
    # Two run folders differ from the reference; the driver's check compared the first only.
    for name, value in (("7-1_badnet3", 0.6), ("3-0_badnet3", 0.7)):
        slope_table(tmp_path / "ref" / "slope" / name, [0.5])
        slope_table(tmp_path / "run" / "slope" / name, [value])
    check = ReferenceCheck("slope", tmp_path / "ref")
    check.add(tmp_path / "run" / "slope" / "7-1_badnet3")
    assert list(check.by_folder) == [tmp_path / "run" / "slope" / "7-1_badnet3"]
    fresh = compare_tree(tmp_path / "run", tmp_path / "ref", "slope")
    # A table the check read is not read again: its comparison is taken as it is.
    slope_table(tmp_path / "run" / "slope" / "7-1_badnet3", [0.5])
    reused = compare_tree(tmp_path / "run", tmp_path / "ref", "slope", known=check.by_folder)
    assert reused.differences == fresh.differences and len(reused.differences) == 2
    assert reused.n_compared == fresh.n_compared == 2
    # Merging into the tree's comparison leaves the check's own comparisons as they were.
    assert len(check.by_folder[tmp_path / "run" / "slope" / "7-1_badnet3"].differences) == 1
