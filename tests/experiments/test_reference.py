"""The run folder is not the reference: a fresh run computes every cell, then compares.

The ``reference`` command on hand-written tables, and the slope driver end to end on a tiny grid
of the embedded digits (the reference is made from one run with the maintainer's ``update``
command, then a fresh run folder is compared with it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from generated_data import finished_run, slope_table

from backdoor_curves.experiments import reference
from backdoor_curves.experiments.binary import slope

# ------------------------------------------------------------------------------ update


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
    assert ": 2 task(s) computed, 0 skipped" in out[-3]
    assert out[-2].startswith(f"[slope] reproduces the reference {ref / 'slope'} (4 cells, ")
    assert out[-1] == f"[report] {fresh / 'report.html'}"
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
    assert "0 task(s) computed, 2 skipped" in out[-4]  # resumed: nothing recomputed
    assert out[-3].startswith("[slope] DIFFERS from the reference") and "1 of 4 cells" in out[-3]
    assert "backdoor_acc" not in out[-2] and "BA " in out[-2]
    assert out[-1] == f"[report] {fresh / 'report.html'}"
    assert "DIFFERS from the reference" in (fresh / "report.html").read_text(encoding="utf-8")
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
