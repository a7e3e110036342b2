"""Faults a user meets during a run: each is one line, nothing half-written, nothing lost.

The grid is the slope driver's smallest: one pair, one linear model, two seeds, two C values.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pandas as pd
import pytest

from backdoor_curves.experiments.binary import slope
from backdoor_curves.experiments.curves import cli as curves
from backdoor_curves.utilities import atomic
from backdoor_curves.utilities.store import ResultStore

FOLDER = "7-1_badnet3_n40-20"


def argv(out_dir: Path, data_dir: Path, *extra: str) -> list[str]:
    return [
        "-pair", "7-1", "-clf", "ridge", "--n-train", "40", "--n-test", "20",
        "--seeds", "1,2", "--C", "0.1,1", "--data-dir", str(data_dir),
        "--out-dir", str(out_dir), "--quiet", "--n-jobs", "1", "--reference", "none", *extra,
    ]  # fmt: skip


def hidden_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*") if p.name != ".lock")


def test_a_full_disk_during_the_grid_is_one_line_and_keeps_the_finished_cells(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    real = ResultStore.record_cells
    calls = []

    def full_on_second(self, entries):
        calls.append(entries)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.journal_path))
        return real(self, entries)

    monkeypatch.setattr(ResultStore, "record_cells", full_on_second)
    assert slope.main(argv(tmp_path, data_dir, "--no-figures")) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1
    assert "No space left on device: " in err[0] and "journal.jsonl" in err[0]
    assert "rerun the same command" in err[0]
    run_dir = tmp_path / "slope" / FOLDER
    assert len(pd.read_csv(run_dir / "results.csv")) == 2  # the first task's two C values
    assert hidden_files(tmp_path) == []
    monkeypatch.setattr(ResultStore, "record_cells", real)
    assert slope.main(argv(tmp_path, data_dir, "--no-figures")) == 0
    assert "1 task(s) computed, 1 skipped" in capsys.readouterr().out
    assert len(pd.read_csv(run_dir / "results.csv")) == 4


def test_a_full_disk_while_drawing_figures_is_one_line_and_leaves_no_partial_figure(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    real = atomic.atomic_write

    def full_for_figures(path, write):
        if Path(path).suffix in (".pdf", ".png"):

            def fill_then_fail(handle):
                handle.write(b"%PDF-partial")
                raise OSError(errno.ENOSPC, "No space left on device")

            return real(path, fill_then_fail)
        return real(path, write)

    # Figures are written through atomic.atomic_write (looked up at call time).
    monkeypatch.setattr(atomic, "atomic_write", full_for_figures)
    assert slope.main(argv(tmp_path, data_dir)) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "No space left on device: " in err[0], err
    assert str(tmp_path / "figures") in err[0]
    figures = tmp_path / "figures"
    assert not figures.exists() or [p for p in figures.iterdir() if p.name.startswith(".")] == []
    assert len(pd.read_csv(tmp_path / "slope" / FOLDER / "results.csv")) == 4  # tables kept


def test_a_read_only_out_dir_is_one_line_and_computes_nothing(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.TemporaryFile", read_only)
    assert slope.main(argv(tmp_path / "out", data_dir, "--no-figures")) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "is not writable: Read-only file system" in err[0]
    assert not list((tmp_path / "out").rglob("results.csv"))


@pytest.mark.parametrize("seeds", ["--seeds=-1", "--seeds=1,-1"])
def test_a_negative_seed_is_one_line_and_writes_nothing(
    tmp_path: Path, data_dir: Path, one_line_error, seeds: str
) -> None:
    args = [a for a in argv(tmp_path / "out", data_dir) if a not in ("--seeds", "1,2")]
    one_line_error(
        slope.main, [*args, seeds], "seeds must be non-negative integers", tmp_path / "out"
    )


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--C", "1e300", "C values must lie in (0, 1e+08], got 1e+300"),
        ("--C", "0.1,inf", "C values must lie in (0, 1e+08], got inf"),
        ("--gamma", "1e9", "gamma values must lie in (0, 10000], got 1e+09"),
    ],
)
def test_an_out_of_range_hyperparameter_is_one_line_and_writes_nothing(
    tmp_path: Path, data_dir: Path, one_line_error, flag: str, value: str, needle: str
) -> None:
    args = argv(tmp_path / "out", data_dir)
    if flag == "--C":
        args[args.index("--C") + 1] = value
    else:
        args[args.index("-clf") + 1] = "svm-rbf"
        args += [flag, value]
    one_line_error(slope.main, args, needle, tmp_path / "out")


def test_a_missing_reference_folder_is_one_line_and_writes_nothing(
    tmp_path: Path, data_dir: Path, one_line_error
) -> None:
    missing = tmp_path / "no-such-reference"
    args = [*argv(tmp_path / "out", data_dir), "--reference", str(missing), "--fail-on-difference"]
    one_line_error(slope.main, args, f"--reference {missing}: no such folder", tmp_path / "out")
    curves_args = [
        "--pairs", "7-1", "--betas", "0,0.5", "--seeds", "1", "--n-train", "40",
        "--n-test", "20", "--data-dir", str(data_dir), "--out-dir", str(tmp_path / "out"),
        "--reference", str(missing), "--quiet",
    ]  # fmt: skip
    one_line_error(curves.main, curves_args, "no such folder", tmp_path / "out")
