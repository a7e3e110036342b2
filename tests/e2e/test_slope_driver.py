"""End-to-end tests of the slope driver (docs/drivers.md): table, manifest, flags, errors, resume.

Every run is tiny (pair 7-1 of the embedded MNIST digits, 60 train / 30 test points, two
seeds, two ``C`` values, one RBF ``gamma``) and goes through ``main([...])`` in this process,
so the digits are loaded once per process. The shell driver is only run for its cheap paths
(``--help`` and an unknown job), which exit before the environment bootstrap.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.svm import SVC

from backdoor_curves.attacks.status import slope_is_defined
from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.experiments.binary import slope, slope_cell, slope_run
from backdoor_curves.experiments.config import smoke_config
from backdoor_curves.experiments.problem import (
    DataRequest,
    clean_problem_features,
    load_pair,
    poisoned_problem,
)
from backdoor_curves.experiments.workspace import Workspace, WorkspaceFactory
from backdoor_curves.utilities.locks import LOCK_FILENAME

REPO_ROOT = Path(__file__).resolve().parents[2]

REQUIRED_COLUMNS = (
    "dataset", "data_source", "pair", "n_train", "n_test", "trigger", "trigger_size",
    "trigger_eps", "clf", "C", "gamma", "seed", "poison_fraction", "clean_acc_clean_model",
    "clean_acc", "backdoor_acc", "train_acc", "slope", "theta", "influence_mean",
    "influence_abs_mean", "backdoor_loss", "damping", "condition_number", "status", "seconds",
)  # fmt: skip
TIMING_COLUMNS = slope_cell.VARYING_COLUMNS
ACCURACY_COLUMNS = ("clean_acc_clean_model", "clean_acc", "backdoor_acc", "train_acc")

LINEAR = ("svm", "logistic", "ridge")
N_TRAIN, N_TEST = 60, 30
SEEDS = (1, 2)
C_VALUES = ("0.01", "1.0")
GAMMAS = ("0.005",)
# 3 linear classifiers x 2 seeds + svm-rbf x 1 gamma x 2 seeds; each task sweeps C.
N_TASKS = len(LINEAR) * len(SEEDS) + len(GAMMAS) * len(SEEDS)
# Runs on other subset sizes than the configuration's get their own folder.
RUN_NAME = f"7-1_badnet3_n{N_TRAIN}-{N_TEST}"


def grid_args(out_dir: Path, data_dir: Path, *extra: str) -> list[str]:
    """Driver arguments of the tiny reference grid (all four classifiers).

    ``--gamma`` is left out when ``extra`` narrows ``-clf`` to linear models (the driver
    rejects a gamma grid without svm-rbf).
    """
    clf_override = [extra[i + 1] for i, flag in enumerate(extra[:-1]) if flag == "-clf"]
    gamma = (
        [] if clf_override and "svm-rbf" not in clf_override[-1] else ["--gamma", ",".join(GAMMAS)]
    )
    return [
        "-pair", "7-1",
        "-clf", "svm,svm-rbf,logistic,ridge",
        "--n-train", str(N_TRAIN),
        "--n-test", str(N_TEST),
        "--seeds", ",".join(map(str, SEEDS)),
        "--C", ",".join(C_VALUES),
        *gamma,
        "--data-dir", str(data_dir),
        "--out-dir", str(out_dir),
        "--quiet",
        "--n-jobs", "1",
        "--no-figures",
        *extra,
    ]  # fmt: skip


def read_text_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file, every cell as written."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def without_timing(path: Path) -> list[list[str]]:
    """Rows of ``results.csv`` as text, header first, without the timing columns."""
    header, rows = read_text_rows(path)
    keep = [i for i, name in enumerate(header) if name not in TIMING_COLUMNS]
    return [[line[i] for i in keep] for line in [header, *rows]]


def frame_without_timing(path: Path) -> pd.DataFrame:
    """The table as pandas reads it, without the timing columns, sorted by task and C."""
    table = pd.read_csv(path).drop(columns=list(TIMING_COLUMNS))
    return table.sort_values(["task_key", "C"], kind="stable").reset_index(drop=True)


def assert_same_rows_across_processes(path: Path, reference: Path) -> None:
    """Same rows up to BLAS rounding (worker processes may use other thread counts)."""
    pd.testing.assert_frame_equal(
        frame_without_timing(path), frame_without_timing(reference), rtol=1e-9, atol=1e-12
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Results folder of one uninterrupted in-process run of the reference grid (read only)."""
    out_dir = tmp_path_factory.mktemp("reference")
    assert slope.main(grid_args(out_dir, data_dir)) == 0
    return out_dir / "slope" / RUN_NAME


# ------------------------------------------------------------------------------ output


def test_table_has_the_required_columns_and_one_row_per_cell(reference: Path) -> None:
    header, rows = read_text_rows(reference / "results.csv")
    assert set(REQUIRED_COLUMNS) <= set(header)
    assert header == ["task_key", *slope_cell.SLOPE_COLUMNS]
    cells = [
        tuple(row[header.index(name)] for name in ("clf", "C", "gamma", "seed")) for row in rows
    ]
    expected = {(clf, C, "", str(seed)) for clf in LINEAR for C in C_VALUES for seed in SEEDS}
    expected |= {("svm-rbf", C, g, str(seed)) for C in C_VALUES for g in GAMMAS for seed in SEEDS}
    assert len(cells) == len(expected)
    assert set(cells) == expected
    assert len({row[0] for row in rows}) == len(rows)  # every cell under a key of its own


def test_table_values_are_sane(reference: Path) -> None:
    table = pd.read_csv(reference / "results.csv")
    assert (table["dataset"] == "mnist").all()
    assert table["data_source"].str.contains("mnist-embedded").all()
    assert (table["pair"] == "7-1").all()
    assert (table["n_train"] == N_TRAIN).all() and (table["n_test"] == N_TEST).all()
    assert (table["trigger"] == "badnet").all() and (table["trigger_size"] == 3).all()
    assert table["trigger_eps"].isna().all()
    assert (table["poison_fraction"] == 0.1).all()
    assert (table["n_poison"] == round(0.1 * N_TRAIN)).all()
    for column in ACCURACY_COLUMNS:
        assert table[column].between(0.0, 1.0).all(), column
    ok = table["status"] == "ok"
    assert ok.any()
    assert np.isfinite(table.loc[ok, "slope"]).all()
    np.testing.assert_allclose(
        table.loc[ok, "theta"], -(2 / np.pi) * np.arctan(table.loc[ok, "slope"]), rtol=1e-12
    )
    assert not ok[table["slope"].isna()].any()
    assert (table.loc[ok, "influence_abs_mean"] >= table.loc[ok, "influence_mean"].abs()).all()
    assert (table["damping"] >= 0).all()
    assert (table[list(TIMING_COLUMNS)] >= 0).all().all()
    linear_gamma = table.loc[table["clf"] != "svm-rbf", "gamma"]
    assert linear_gamma.isna().all()


def test_safe_region_is_written_next_to_the_table(reference: Path) -> None:
    table = pd.read_csv(reference / "results.csv", dtype={"pair": str})
    region = pd.read_csv(reference / "safe_region.csv", dtype={"pair": str})
    # One row per (model, gamma, C) cell, the seeds averaged.
    assert len(region) == len(table) // len(SEEDS)
    assert set(region["n_seeds"]) == {len(SEEDS)}
    assert set(region["margin"]) == {0.02} and set(region["level"]) == {0.1}
    ridge = table[table["clf"] == "ridge"].groupby("C")[["clean_acc", "backdoor_acc"]].mean()
    for _, cell in region[region["clf"] == "ridge"].iterrows():
        means = ridge.loc[cell["C"]]
        assert cell["clean_acc_mean"] == pytest.approx(means["clean_acc"])
        safe = means["clean_acc"] >= ridge["clean_acc"].max() - 0.02 - 1e-9
        assert cell["safe"] == (safe and means["backdoor_acc"] <= 0.1 + 1e-9)


def test_manifest_records_config_versions_source_and_commit(reference: Path) -> None:
    manifest = json.loads((reference / "manifest.json").read_text(encoding="utf-8"))
    assert "mnist-embedded" in manifest["data_source"]
    assert manifest["config"]["driver"] == "slope"
    assert len(manifest["config"]["tasks"]) == N_TASKS
    assert manifest["config"]["tasks"][0]["data"]["n_train"] == N_TRAIN
    assert manifest["versions"]["numpy"] == np.__version__
    assert manifest["versions"]["pandas"] == pd.__version__
    assert manifest["timings"]["n_computed"] == N_TASKS
    assert manifest["columns"] == ["task_key", *slope_cell.SLOPE_COLUMNS]
    assert "git_commit" in manifest
    if (REPO_ROOT / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{40}", manifest["git_commit"])


def test_undefined_slope_is_written_as_nan_with_its_status(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = slope_cell.learning_slope
    reason = "no margin support vectors"

    def undefined_slope(*args: object, **kwargs: object) -> object:
        result = real(*args, **kwargs)
        return dataclasses.replace(result, slope=math.nan, theta=math.nan, status=reason)

    monkeypatch.setattr(slope_cell, "learning_slope", undefined_slope)
    argv = grid_args(tmp_path, data_dir, "-clf", "svm", "--seeds", "1")
    assert slope.main(argv) == 0
    table = pd.read_csv(tmp_path / "slope" / RUN_NAME / "results.csv")
    assert len(table) == len(C_VALUES)
    assert (table["status"] == reason).all()
    assert table["slope"].isna().all() and table["theta"].isna().all()
    assert table["clean_acc"].between(0.0, 1.0).all()


def test_smoke_profile_runs_its_grid(tmp_path: Path, data_dir: Path) -> None:
    config = smoke_config()
    argv = ["--profile", "smoke", "--data-dir", str(data_dir), "--out-dir", str(tmp_path)]
    assert slope.main([*argv, "--quiet", "--n-jobs", "1"]) == 0
    (pair,) = config.pairs
    table = pd.read_csv(tmp_path / "slope" / f"{pair}_badnet3_smoke" / "results.csv")
    grid = config.slope_grid
    n_linear = len(LINEAR) * len(grid.linear_C)
    assert len(table) == len(config.seeds) * (n_linear + len(grid.rbf_C) * len(grid.rbf_gamma))
    assert set(table["seed"]) == set(config.seeds)
    assert (table["n_train"] == config.n_train).all() and (table["n_test"] == config.n_test).all()


# ------------------------------------------------------------------------------ flags


def small_run_args(out_dir: Path, data_dir: Path) -> list[str]:
    return [
        "--n-train", str(N_TRAIN), "--n-test", str(N_TEST), "--seeds", "1", "--C", "1",
        "--data-dir", str(data_dir), "--out-dir", str(out_dir), "--quiet", "--n-jobs", "1",
        "--no-figures",
    ]  # fmt: skip


def test_original_single_dash_command_works(tmp_path: Path, data_dir: Path) -> None:
    original = ["-pair", "7-1", "-clf", "svm", "-trigger_size", "3", "-ppoison", "0.1"]
    argv = [*original, "--save_results", *small_run_args(tmp_path, data_dir)]
    assert slope.main(argv) == 0
    table = pd.read_csv(tmp_path / "slope" / RUN_NAME / "results.csv")
    assert len(table) == 1
    assert table.loc[0, "clf"] == "svm" and table.loc[0, "pair"] == "7-1"
    assert table.loc[0, "trigger_size"] == 3 and table.loc[0, "poison_fraction"] == 0.1


@pytest.mark.parametrize(
    "spelling",
    [
        ["-pair", "3-0", "-clf", "ridge", "-trigger_size", "4", "-ppoison", "0.2"],
        ["-pair=3-0", "-clf=ridge", "-trigger_size=4", "-ppoison=0.2"],
        ["--pair", "3-0", "--clf", "ridge", "--trigger-size", "4", "--poison-fraction", "0.2"],
    ],
    ids=["single-dash", "single-dash-equals", "double-dash"],
)
def test_flag_spellings_take_effect(spelling: list[str], tmp_path: Path, data_dir: Path) -> None:
    assert slope.main([*spelling, *small_run_args(tmp_path, data_dir)]) == 0
    table = pd.read_csv(tmp_path / "slope" / f"3-0_badnet4_n{N_TRAIN}-{N_TEST}" / "results.csv")
    assert len(table) == 1
    assert table.loc[0, "pair"] == "3-0" and table.loc[0, "clf"] == "ridge"
    assert table.loc[0, "trigger_size"] == 4 and table.loc[0, "poison_fraction"] == 0.2
    assert table.loc[0, "n_poison"] == round(0.2 * N_TRAIN)


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["-pair", "7-7"], "7-7"),
        (["-pair", "7-12"], "7-12"),
        (["-pair", "7-1,x"], "'x'"),
        (["-clf", "foo"], "foo"),
        (["-ppoison", "1.5"], "1.5"),
        (["-ppoison", "0"], "got 0.0"),
        (["-trigger_size", "40"], "40"),
        (["--C", "abc"], "abc"),
        (["--C", "0"], "C values must lie in (0, 1e+08], got 0"),
        (["--gamma", "-1"], "gamma values must lie in (0, 10000], got -1"),
        (["--seeds", "x"], "'x'"),
        (["--n-test", "100000"], "100000"),
        (["--n-jobs", "0"], "got 0"),
        (["--scheduler", "tcp://127.0.0.1:1"], "tcp://127.0.0.1:1"),
        # Repeated grid values are refused before anything is written.
        (["--seeds", "1,1"], "repeated seeds: 1"),
        (["--seeds", "5-3"], "seed range '5-3' is empty"),
        (["-clf", "svm,svm"], "repeated classifiers: svm"),
        (["--C", "1,1"], "repeated C values: 1.0"),
        # The safe-region criteria are checked before anything is computed.
        (["--safe-margin", "1.5"], "margin must be a number in [0, 1]"),
        (["--safe-margin", "-0.01"], "margin must be a number in [0, 1]"),
        (["--safe-level", "nan"], "level must be a number in [0, 1]"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    flags: list[str],
    needle: str,
    tmp_path: Path,
    data_dir: Path,
    one_line_error,
) -> None:
    out_dir = tmp_path / "out"
    argv = [*grid_args(out_dir, data_dir), *flags]
    one_line_error(slope.main, argv, needle, out_dir)


def test_unwritable_out_dir_is_one_line_and_writes_nothing(
    tmp_path: Path, data_dir: Path, one_line_error
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file\n", encoding="utf-8")
    out_dir = blocker / "out"
    one_line_error(slope.main, grid_args(out_dir, data_dir), str(out_dir), out_dir)
    assert blocker.read_text(encoding="utf-8") == "a file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


@pytest.mark.parametrize("flag", ["--n-train", "--n-test"])
def test_zero_subset_size_is_an_error(
    flag: str, tmp_path: Path, data_dir: Path, one_line_error
) -> None:
    out_dir = tmp_path / "out"
    # One ridge fit, so that the buggy fallback to the full subset stays cheap.
    cheap = ("-clf", "ridge", "--seeds", "1", "--C", "1")
    argv = grid_args(out_dir, data_dir, *cheap, flag, "0")
    one_line_error(slope.main, argv, flag.strip("-").replace("-", "_"), out_dir)


def test_empty_classifier_list_is_an_error(tmp_path: Path, data_dir: Path, one_line_error) -> None:
    out_dir = tmp_path / "out"
    one_line_error(
        slope.main, [*grid_args(out_dir, data_dir), "-clf="], "empty list of classifiers", out_dir
    )


def test_also_double_trigger_runs_both_triggers_then_draws_their_figures(
    tmp_path: Path, data_dir: Path
) -> None:
    out_dir = tmp_path / "out"
    argv = [
        "-pair", "7-1", "-clf", "ridge", "--seeds", "1", "--C", "1", "--n-train", "60",
        "--n-test", "30", "--data-dir", str(data_dir), "--out-dir", str(out_dir), "--quiet",
        "--n-jobs", "1", "--reference", "none", "--also-double-trigger", "7-1",
    ]  # fmt: skip
    assert slope.main(argv) == 0
    for trigger, size in (("badnet3", 3), ("badnet6", 6)):
        table = pd.read_csv(out_dir / "slope" / f"7-1_{trigger}_n60-30" / "results.csv")
        assert list(table["trigger_size"]) == [size]
        # No --no-figures: the run ends by drawing the figures of its data variant.
        assert (out_dir / "figures_n60-30" / f"slope_mnist_7-1_{trigger}.png").is_file()


@pytest.mark.parametrize(
    "flag", [["--double-trigger"], ["-trigger_size", "4"], ["--run-name", "x"]]
)
def test_also_double_trigger_rejects_other_trigger_flags(
    flag: list[str], tmp_path: Path, data_dir: Path, one_line_error
) -> None:
    out_dir = tmp_path / "out"
    argv = [*grid_args(out_dir, data_dir), "--also-double-trigger", "7-1", *flag]
    one_line_error(slope.main, argv, "--also-double-trigger", out_dir)


def test_also_double_trigger_names_itself_on_a_bad_pair(
    tmp_path: Path, data_dir: Path, one_line_error
) -> None:
    out_dir = tmp_path / "out"
    argv = [*grid_args(out_dir, data_dir), "--also-double-trigger", "9-9"]
    one_line_error(
        slope.main,
        argv,
        "9-9 has equal classes; they must differ (flag --also-double-trigger)",
        out_dir,
    )


def run_shell_driver(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO_ROOT / "run_mnist.sh"), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_shell_driver_help_prints_usage() -> None:
    completed = run_shell_driver("--help")
    assert completed.returncode == 0
    assert completed.stdout.startswith("usage: ./run_mnist.sh")
    for job in ("all", "mnist_71", "mnist_30", "mnist_52", "double_trigger"):
        assert job in completed.stdout


def test_shell_driver_unknown_job_is_one_line_error() -> None:
    completed = run_shell_driver("mnist_99")
    assert completed.returncode == 2
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "mnist_99" in lines[0]
    assert completed.stdout == ""


# ------------------------------------------------------------------------------ resume


def copy_of(reference: Path, tmp_path: Path) -> Path:
    """A writable copy of the reference results; returns its ``--out-dir``."""
    out_dir = tmp_path / "copy"
    shutil.copytree(reference, out_dir / "slope" / RUN_NAME)
    return out_dir


def summary_line(stdout: str) -> str:
    (line,) = [line for line in stdout.splitlines() if "task(s) computed" in line]
    return line


def test_rerun_computes_nothing_and_keeps_the_table(
    reference: Path, tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = copy_of(reference, tmp_path)
    before = (out_dir / "slope" / RUN_NAME / "results.csv").read_bytes()
    capsys.readouterr()
    assert slope.main(grid_args(out_dir, data_dir)) == 0
    assert f"0 task(s) computed, {N_TASKS} skipped" in summary_line(capsys.readouterr().out)
    assert (out_dir / "slope" / RUN_NAME / "results.csv").read_bytes() == before
    manifest = json.loads(
        (out_dir / "slope" / RUN_NAME / "manifest.json").read_text(encoding="utf-8")
    )
    assert manifest["timings"]["n_skipped"] == N_TASKS


def test_force_recomputes_everything_with_the_same_results(
    reference: Path, tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = copy_of(reference, tmp_path)
    capsys.readouterr()
    assert slope.main(grid_args(out_dir, data_dir, "--force")) == 0
    assert f"{N_TASKS} task(s) computed, 0 skipped" in summary_line(capsys.readouterr().out)
    results = out_dir / "slope" / RUN_NAME / "results.csv"
    assert without_timing(results) == without_timing(reference / "results.csv")


def test_interrupted_run_keeps_finished_tasks_and_resumes(
    reference: Path,
    tmp_path: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real = slope_cell.run_slope_task
    calls: list[slope_cell.SlopeTask] = []

    def interrupted_on_third(task: slope_cell.SlopeTask, workspace: Workspace) -> list[dict]:
        calls.append(task)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(task, workspace)

    monkeypatch.setattr(slope_run, "run_slope_task", interrupted_on_third)
    assert slope.main(grid_args(tmp_path, data_dir)) == 130
    assert "interrupted" in capsys.readouterr().err
    run_dir = tmp_path / "slope" / RUN_NAME
    assert sorted(p.name for p in run_dir.iterdir()) == [LOCK_FILENAME, "results.csv"]
    header, rows = read_text_rows(run_dir / "results.csv")
    assert all(len(row) == len(header) for row in rows)
    # Two tasks finished, each one cell per C, each under its own key.
    assert len({row[0] for row in rows}) == len(rows) == 2 * len(C_VALUES)
    expected = without_timing(reference / "results.csv")
    partial = without_timing(run_dir / "results.csv")
    assert partial[0] == expected[0]
    assert all(row in expected[1:] for row in partial[1:])

    calls.clear()

    def counted(task: slope_cell.SlopeTask, workspace: Workspace) -> list[dict]:
        calls.append(task)
        return real(task, workspace)

    monkeypatch.setattr(slope_run, "run_slope_task", counted)
    assert slope.main(grid_args(tmp_path, data_dir)) == 0
    assert len(calls) == N_TASKS - 2
    assert f"{N_TASKS - 2} task(s) computed, 2 skipped" in summary_line(capsys.readouterr().out)
    assert without_timing(run_dir / "results.csv") == expected


def test_two_runs_give_the_same_table(reference: Path, tmp_path: Path, data_dir: Path) -> None:
    assert slope.main(grid_args(tmp_path, data_dir)) == 0
    results = tmp_path / "slope" / RUN_NAME / "results.csv"
    assert without_timing(results) == without_timing(reference / "results.csv")
    pd.testing.assert_frame_equal(
        frame_without_timing(results), frame_without_timing(reference / "results.csv")
    )


# ------------------------------------------------------------------------------ backends


@pytest.mark.slow
def test_joblib_two_workers_match_in_process(
    reference: Path, tmp_path: Path, data_dir: Path
) -> None:
    assert slope.main(grid_args(tmp_path, data_dir, "--n-jobs", "2")) == 0
    assert_same_rows_across_processes(
        tmp_path / "slope" / RUN_NAME / "results.csv", reference / "results.csv"
    )


def test_dask_scheduler_matches_in_process(reference: Path, tmp_path: Path, data_dir: Path) -> None:
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        flags = ("--backend", "dask", "--scheduler", cluster.scheduler_address)
        assert slope.main(grid_args(tmp_path, data_dir, *flags)) == 0
    assert_same_rows_across_processes(
        tmp_path / "slope" / RUN_NAME / "results.csv", reference / "results.csv"
    )


@pytest.mark.slow
def test_dask_local_cluster_matches_in_process(
    reference: Path, tmp_path: Path, data_dir: Path
) -> None:
    assert slope.main(grid_args(tmp_path, data_dir, "--backend", "dask", "--n-jobs", "2")) == 0
    assert_same_rows_across_processes(
        tmp_path / "slope" / RUN_NAME / "results.csv", reference / "results.csv"
    )


def test_runs_on_other_data_get_their_own_folder(tmp_path: Path, data_dir: Path) -> None:
    argv = grid_args(tmp_path, data_dir, "-clf", "ridge", "--seeds", "1", "--data-seed", "5")
    assert slope.main(argv) == 0
    assert (tmp_path / "slope" / f"{RUN_NAME}_ds5" / "results.csv").exists()
    assert not (tmp_path / "slope" / RUN_NAME).exists()


def test_a_table_of_other_data_is_not_extended(
    tmp_path: Path, data_dir: Path, one_line_error
) -> None:
    argv = grid_args(tmp_path, data_dir, "-clf", "ridge", "--seeds", "1")
    assert slope.main(argv) == 0
    results = tmp_path / "slope" / RUN_NAME / "results.csv"
    table = pd.read_csv(results, dtype=str, keep_default_na=False)
    table["data_source"] = "mnist-idx (/somewhere/MNIST/raw)"
    table.to_csv(results, index=False)
    before = results.read_bytes()
    one_line_error(slope.main, argv, "mnist-idx (/somewhere/MNIST/raw)", tmp_path / "absent")
    assert results.read_bytes() == before


# ------------------------------------------------------------------------------ values


def test_slopes_are_defined_and_optima_exact(reference: Path) -> None:
    table = pd.read_csv(reference / "results.csv")
    assert table["exact_optimum"].all()
    assert table["slope"].notna().all()
    assert all(slope_is_defined(status) for status in table["status"])
    assert (table["status"] == "ok").mean() >= 0.5


@pytest.mark.parametrize("clf", ["svm", "ridge"])
def test_accuracies_match_an_independent_fit(clf: str, reference: Path, data_dir: Path) -> None:
    # scikit-learn's own estimators on the poisoned set (beta = 1), scored on the clean and
    # the backdoor test sets: the same objective, none of our solver code.
    seed, C = SEEDS[-1], float(C_VALUES[-1])
    config = smoke_config()
    request = DataRequest("mnist", "7-1", N_TRAIN, N_TEST, config.data_seed)
    problem = poisoned_problem(
        load_pair(request, str(data_dir)), TriggerSpec.badnet(3), 0.1, seed, "pixels"
    )
    if clf == "svm":
        estimator = SVC(kernel="linear", C=C, tol=1e-10)
    else:
        estimator = Ridge(alpha=1.0 / (2.0 * C))
    estimator.fit(problem.X_train, np.where(problem.y_train == 1, 1.0, -1.0))

    def accuracy_of(X: np.ndarray, y: np.ndarray) -> float:
        scores = estimator.decision_function(X) if clf == "svm" else estimator.predict(X)
        return float(np.mean((scores > 0) == (y == 1)))

    table = pd.read_csv(reference / "results.csv")
    (row,) = table[(table["clf"] == clf) & (table["seed"] == seed) & (table["C"] == C)].itertuples()
    assert row.clean_acc == accuracy_of(problem.X_test, problem.y_test)
    assert row.backdoor_acc == accuracy_of(problem.X_backdoor, problem.y_backdoor)


def test_clean_model_sweep_is_shared_by_seeds_and_triggers(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The model of the unpoisoned training set depends on neither the seed nor the trigger:
    # the tasks of one group fit its C sweep once in their workspace, and its accuracy is
    # ridge's on the clean set.
    request = DataRequest("mnist", "7-1", N_TRAIN, N_TEST, smoke_config().data_seed)
    C_grid = tuple(float(C) for C in C_VALUES)
    tasks = [
        slope_cell.SlopeTask(request, "pixels", trigger, 0.1, "ridge", None, C_grid, seed)
        for trigger in (TriggerSpec.badnet(3), TriggerSpec.badnet(6))
        for seed in SEEDS
    ]
    assert len({slope_cell.slope_group(task) for task in tasks}) == 1
    sweeps: list[object] = []
    real_kernels = Workspace.clean_kernels

    def counted(self: Workspace, *args: object) -> object:
        sweeps.append(args)
        return real_kernels(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Workspace, "clean_kernels", counted)
    workspace = WorkspaceFactory(data_dir=str(data_dir))(tasks)
    rows = [row for task in tasks for row in slope_cell.run_slope_task(task, workspace)]
    assert len(sweeps) == 1
    pair = load_pair(request, str(data_dir))
    X, X_test = clean_problem_features(pair, "pixels")
    for C in C_grid:
        estimator = Ridge(alpha=1.0 / (2.0 * C)).fit(X, np.where(pair.y_train == 1, 1.0, -1.0))
        expected = float(np.mean((estimator.predict(X_test) > 0) == (pair.y_test == 1)))
        assert {row["clean_acc_clean_model"] for row in rows if row["C"] == C} == {expected}


def test_a_pending_task_whose_key_prefixes_a_finished_key_is_computed(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The paper's seeds include 1 and 10: the key of seed 1 is a prefix of seed 10's.
    argv = grid_args(tmp_path, data_dir, "-clf", "svm", "--C", "1.0")
    assert slope.main([*argv, "--seeds", "10"]) == 0
    capsys.readouterr()
    assert slope.main([*argv, "--seeds", "1,10"]) == 0
    assert "1 task(s) computed, 1 skipped" in summary_line(capsys.readouterr().out)
    table = pd.read_csv(tmp_path / "slope" / RUN_NAME / "results.csv")
    assert sorted(table["seed"]) == [1, 10]


def test_a_grown_and_reordered_c_grid_reuses_the_finished_cells(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --C 0.01,1 then --C 1,0.01,100 into one folder: 3 cells per seed, never 5 rows.
    def run(C: str) -> list[tuple[float, ...]]:
        swept: list[tuple[float, ...]] = []

        def counted(task: slope_cell.SlopeTask, workspace: Workspace) -> list[dict]:
            swept.append(task.C_values)
            return real(task, workspace)

        monkeypatch.setattr(slope_run, "run_slope_task", counted)
        argv = grid_args(tmp_path, data_dir, "-clf", "ridge")
        argv[argv.index("--C") + 1] = C
        argv[argv.index("-clf") + 1] = "ridge"
        assert slope.main(argv) == 0
        return swept

    real = slope_cell.run_slope_task
    results = tmp_path / "slope" / RUN_NAME / "results.csv"
    assert run("0.01,1") == [(0.01, 1.0)] * len(SEEDS)
    first = without_timing(results)
    assert run("1,0.01,100") == [(100.0,)] * len(SEEDS)  # only the new cell of each seed
    table = pd.read_csv(results)
    assert len(table) == 3 * len(SEEDS)
    assert not table.duplicated(["seed", "C"]).any()
    grown = without_timing(results)
    assert all(row in grown for row in first[1:])  # the finished cells are kept as they were
    assert run("100") == []  # a smaller grid: every cell is finished, nothing is removed
    assert len(pd.read_csv(results)) == 3 * len(SEEDS)


@pytest.mark.slow
def test_full_size_runs_are_byte_identical_except_the_declared_columns(
    tmp_path: Path, data_dir: Path
) -> None:
    # The 750-point embedded pair, where LAPACK's condition estimate of the logistic and ridge
    # Hessians varied in its last digits between identical runs (memory alignment); in-process
    # and in a pool of two workers.
    def run(name: str, n_jobs: str) -> Path:
        argv = [
            "-pair", "7-1", "-clf", "logistic,ridge,svm", "--seeds", "1,2", "--C", "0.01,1,100",
            "--data-dir", str(data_dir), "--out-dir", str(tmp_path / name), "--quiet",
            "--n-jobs", n_jobs, "--no-figures", "--reference", "none",
        ]  # fmt: skip
        assert slope.main(argv) == 0
        (table,) = (tmp_path / name).glob("slope/*/results.csv")
        return table

    first, second = run("first", "1"), run("second", "2")
    header, _ = read_text_rows(first)
    assert set(slope_cell.VARYING_COLUMNS) <= set(header)
    assert without_timing(first) == without_timing(second)
    assert len(without_timing(first)) == 1 + 3 * 2 * 3


# ------------------------------------------------------------------------------ report


def test_run_ends_with_the_report_path_and_no_report_skips_it(
    tmp_path: Path, data_dir: Path, capsys
) -> None:
    with_report, without = tmp_path / "with", tmp_path / "without"
    assert slope.main(["-pair", "7-1", "-clf", "svm", *small_run_args(with_report, data_dir)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"[report] {with_report / 'report.html'}"
    page = (with_report / "report.html").read_text(encoding="utf-8")
    assert "slope/7-1_badnet3_n" in page  # the run folder, with its data-variant suffix
    argv = ["-pair", "7-1", "-clf", "svm", *small_run_args(without, data_dir), "--no-report"]
    assert slope.main(argv) == 0
    assert "[report]" not in capsys.readouterr().out
    assert not (without / "report.html").exists()
