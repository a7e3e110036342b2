"""End-to-end tests of the learning-curves driver (docs/drivers.md): tables, manifests, errors.

One small run of ``--profile smoke`` (pair 7-1 of the embedded MNIST digits, 120 train / 60
test points, the four smoke models, p = 0.1, two seeds, four betas) goes through ``main([...])``
in this process and is shared by the table tests; the digits are loaded once per process.
The curve rows are checked against independent cold fits of the same poisoned problem.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backdoor_curves.analyses.tangent import tangent_valid_until
from backdoor_curves.classifiers.losses import get_loss, to_signed
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.classifiers.svm_path import PATH_DEGENERATE_STATUS
from backdoor_curves.experiments.config import smoke_config
from backdoor_curves.experiments.curves import cell, run
from backdoor_curves.experiments.curves import cli as curves
from backdoor_curves.experiments.problem import DataRequest, load_pair, poisoned_problem
from backdoor_curves.naming import REFINED

REPO_ROOT = Path(__file__).resolve().parents[2]

BETAS = (0.0, 0.05, 0.5, 1.0)
SEEDS = (1, 2)
FRACTION = 0.1
RUN_NAME = "7-1_badnet6_smoke"
REQUIRED_CURVE_COLUMNS = (
    "dataset", "data_source", "pair", "trigger", "trigger_size", "trigger_eps", "clf", "C",
    "gamma", "poison_fraction", "seed", "beta", "clean_loss", "backdoor_loss", "clean_acc",
    "backdoor_acc", "slope_if", "slope_fd", "tangent_valid_until", "tangent_crossing",
)  # fmt: skip
REQUIRED_DEVIATION_COLUMNS = ("clf", "C", "gamma", "beta", "nu", "rho", "backdoor_acc")
CURVE_KEY = ["clf", "C", "gamma", "poison_fraction", "seed"]


def run_args(out_dir: Path, data_dir: Path, *extra: str) -> list[str]:
    """Arguments of the small smoke run (tables only)."""
    return [
        "--profile", "smoke",
        "--betas", ",".join(map(str, BETAS)),
        "--poison-fractions", str(FRACTION),
        "--seeds", ",".join(map(str, SEEDS)),
        "--data-dir", str(data_dir),
        "--out-dir", str(out_dir),
        "--quiet",
        "--n-jobs", "1",
        *extra,
    ]  # fmt: skip


def expected_models() -> set[tuple[str, float, float]]:
    """``(clf, C, gamma)`` of every smoke curve (gamma NaN for the linear models)."""
    return {
        (model.clf, 1.0 / lam, np.nan if model.gamma is None else model.gamma)
        for model in smoke_config().curves.models
        for lam in model.lambdas
    }


def curve_groups(table: pd.DataFrame):
    """The table's curves, one frame per (clf, C, gamma, p, seed), sorted by beta."""
    for key, rows in table.groupby(CURVE_KEY, dropna=False, sort=True):
        yield key, rows.sort_values("beta")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Results folder of one run of the small smoke grid (read only)."""
    out_dir = tmp_path_factory.mktemp("curves")
    assert curves.main(run_args(out_dir, data_dir, "--no-figures")) == 0
    return out_dir


@pytest.fixture(scope="module")
def curve_table(smoke_run: Path) -> pd.DataFrame:
    return pd.read_csv(smoke_run / "curves" / RUN_NAME / "results.csv")


@pytest.fixture(scope="module")
def deviation_table(smoke_run: Path) -> pd.DataFrame:
    return pd.read_csv(smoke_run / "deviation" / RUN_NAME / "results.csv")


# ------------------------------------------------------------------------------ tables


def test_curves_table_has_all_columns_and_one_row_per_cell(curve_table: pd.DataFrame) -> None:
    assert set(REQUIRED_CURVE_COLUMNS) <= set(cell.CURVE_COLUMNS)
    assert list(curve_table.columns) == ["task_key", *cell.CURVE_COLUMNS]
    grid = curve_table[curve_table["point"] == cell.GRID_POINT]
    cells = {
        (row.clf, row.C, row.gamma, row.poison_fraction, row.seed, row.beta)
        for row in grid.itertuples()
    }
    expected = {
        (clf, C, gamma, FRACTION, seed, beta)
        for clf, C, gamma in expected_models()
        for seed in SEEDS
        for beta in BETAS
    }
    assert len(grid) == len(expected) == 4 * len(SEEDS) * len(BETAS)
    # The SVM curves also have a row at every breakpoint of their exact path; the others none.
    breakpoints = curve_table[curve_table["point"] == cell.BREAKPOINT]
    assert set(breakpoints["clf"]) <= {"svm", "svm-rbf"} and len(breakpoints) > 0
    # Logistic and ridge curves get points where they leave the chord between grid betas.
    refined = curve_table[curve_table["point"] == REFINED]
    assert set(refined["clf"]) == {"logistic", "ridge"}
    for (clf, seed), rows in curve_table.groupby(["clf", "seed"]):
        if clf.startswith("svm"):
            assert (rows["n_breakpoints"] >= (rows["point"] == cell.BREAKPOINT).sum()).all()
            assert set(rows["path_status"]) <= {"ok", PATH_DEGENERATE_STATUS}, (clf, seed)
        else:
            assert rows["n_breakpoints"].isna().all() and rows["path_status"].isna().all()
    # NaN != NaN in a set: compare the linear models' cells with gamma replaced.
    assert {c[:2] + (str(c[2]),) + c[3:] for c in cells} == {
        c[:2] + (str(c[2]),) + c[3:] for c in expected
    }


def test_curves_table_identity_columns(curve_table: pd.DataFrame) -> None:
    config = smoke_config()
    assert (curve_table["dataset"] == "mnist").all()
    assert curve_table["data_source"].str.contains("mnist-embedded").all()
    assert (curve_table["pair"] == "7-1").all()
    assert (curve_table["n_train"] == config.n_train).all()
    assert (curve_table["n_test"] == config.n_test).all()
    assert (curve_table["trigger"] == "badnet").all()
    assert (curve_table["trigger_size"] == 6).all()
    assert curve_table["trigger_eps"].isna().all()
    np.testing.assert_allclose(curve_table["C"], 1.0 / curve_table["lambda"], rtol=1e-12)
    rbf = curve_table["clf"] == "svm-rbf"
    assert curve_table.loc[~rbf, "gamma"].isna().all()
    assert (curve_table.loc[rbf, "gamma"] > 0).all()


def test_curves_table_values_are_sane(curve_table: pd.DataFrame) -> None:
    for column in ("clean_acc", "backdoor_acc"):
        assert curve_table[column].between(0.0, 1.0).all(), column
    for column in ("clean_loss", "backdoor_loss", "rho"):
        assert (curve_table[column] >= 0).all(), column
    assert curve_table["nu"].between(0.0, 1.0).all()
    at_zero = curve_table["beta"] == 0
    np.testing.assert_allclose(curve_table.loc[at_zero, "nu"], 0.0, atol=1e-12)
    assert (curve_table.loc[~at_zero, "nu"] > 0).any()
    assert (curve_table["slope_status"] == "ok").any()


def first_missing_breakpoint(curve: pd.DataFrame, slope: float) -> float:
    """The first breakpoint row at which the tangent misses on its own; else the last beta."""
    start = curve["backdoor_loss"].iloc[0]
    breakpoints = curve[curve["point"] == cell.BREAKPOINT]
    for beta, loss in zip(breakpoints["beta"], breakpoints["backdoor_loss"], strict=True):
        if tangent_valid_until([0.0, beta], [start, loss], slope) == 0.0:
            return float(beta)
    return float(curve["beta"].iloc[-1])


def test_per_curve_columns_follow_from_the_curve(curve_table: pd.DataFrame) -> None:
    for key, every in curve_groups(curve_table):
        assert list(every["beta"]) == sorted(every["beta"]), key
        rows = every[every["point"] == cell.GRID_POINT]
        assert list(rows["beta"]) == list(BETAS), key
        for column in (
            "slope_if", "slope_fd", "slope_ratio", "tangent_valid_until", "tangent_crossing"
        ):  # fmt: skip
            assert every[column].nunique(dropna=False) == 1, (key, column)
        first = rows.iloc[0]
        losses = rows["backdoor_loss"].to_numpy()
        slope_fd = (losses[1] - losses[0]) / BETAS[1]
        assert first["slope_fd"] == pytest.approx(slope_fd, rel=1e-9), key
        if first["slope_status"] == "ok":
            assert np.isfinite(first["slope_if"]), key
            assert first["slope_ratio"] == pytest.approx(first["slope_if"] / slope_fd, rel=1e-9)
            # Checked at every row: the grid and the breakpoints or refined points.
            betas = list(every["beta"])
            at_rows = tangent_valid_until(
                betas, every["backdoor_loss"].to_numpy(), first["slope_if"]
            )
            assert at_rows in set(betas)
            # Exact on the path (the SVMs' closed form, the followed paths' root): from there
            # up to the next row, where the tangent misses.
            following = [beta for beta in betas if beta > at_rows] or [at_rows]
            crossing, valid = first["tangent_crossing"], first["tangent_valid_until"]
            assert at_rows <= crossing <= following[0], key
            # The SVMs' range is the first breakpoint where the tangent misses; the others'
            # is the crossing.
            if (every["point"] == cell.BREAKPOINT).any():
                assert valid == first_missing_breakpoint(every, first["slope_if"]), key
            else:
                assert valid == crossing, key
        else:
            assert np.isnan(first["slope_if"]) and np.isnan(first["tangent_valid_until"]), key


def test_deviation_table_is_the_curves_at_the_deviation_fraction(
    curve_table: pd.DataFrame, deviation_table: pd.DataFrame
) -> None:
    assert smoke_config().curves.deviation_fraction == FRACTION
    assert set(REQUIRED_DEVIATION_COLUMNS) <= set(deviation_table.columns)
    assert list(deviation_table.columns) == list(cell.DEVIATION_COLUMNS)
    # Every row of the curves at that fraction: grid, breakpoints and refined steps.
    rows = curve_table[curve_table["poison_fraction"] == FRACTION]
    assert len(deviation_table) == len(rows) > len(rows[rows["point"] == cell.GRID_POINT])
    columns = list(cell.DEVIATION_COLUMNS)
    key = [*CURVE_KEY, "beta"]
    pd.testing.assert_frame_equal(
        deviation_table.sort_values(key).reset_index(drop=True),
        rows[columns].sort_values(key).reset_index(drop=True),
    )
    assert deviation_table["nu"].between(0.0, 1.0).all()
    assert (deviation_table["rho"] > 0).all()


def test_manifests_sit_beside_both_tables(smoke_run: Path) -> None:
    n_curves = 4 * len(SEEDS)
    for kind in ("curves", "deviation"):
        manifest = json.loads(
            (smoke_run / kind / RUN_NAME / "manifest.json").read_text(encoding="utf-8")
        )
        assert "mnist-embedded" in manifest["data_source"]
        assert manifest["config"]["driver"] == "incremental_curves"
        assert manifest["config"]["profile"] == "smoke"
        assert len(manifest["config"]["tasks"]) == n_curves
        assert manifest["versions"]["numpy"] == np.__version__
        assert "git_commit" in manifest
    curves_manifest = json.loads(
        (smoke_run / "curves" / RUN_NAME / "manifest.json").read_text(encoding="utf-8")
    )
    assert curves_manifest["timings"]["n_computed"] == n_curves
    assert curves_manifest["columns"] == ["task_key", *cell.CURVE_COLUMNS]


def test_no_figures_flag_writes_tables_only(smoke_run: Path) -> None:
    assert sorted(p.name for p in smoke_run.iterdir()) == ["curves", "deviation", "report.html"]


# ------------------------------------------------------------------------------ vs cold fits


@pytest.mark.parametrize("clf", ["ridge", "svm-rbf", "logistic"])
def test_curve_rows_match_independent_cold_fits(
    clf: str, curve_table: pd.DataFrame, data_dir: Path
) -> None:
    (model,) = (m for m in smoke_config().curves.models if m.clf == clf)
    (lam,) = model.lambdas
    config = smoke_config()
    seed = SEEDS[-1]
    request = DataRequest("mnist", "7-1", config.n_train, config.n_test, config.data_seed)
    problem = poisoned_problem(
        load_pair(request, str(data_dir)),
        config.curves.trigger,
        FRACTION,
        seed,
        config.features,
    )
    rows = curve_table[(curve_table["clf"] == clf) & (curve_table["seed"] == seed)]
    loss = get_loss(make_classifier(clf, 1.0, model.gamma).loss_name)
    reference = None
    # Every row, grid and breakpoints (the exact SVM path), equals a cold fit at its beta.
    for row in rows.sort_values("beta").itertuples():
        beta = row.beta
        fitted = make_classifier(clf, 1.0 / lam, model.gamma).fit(
            problem.X_train, problem.y_train, np.where(problem.is_poison, beta, 1.0)
        )
        reference = reference or fitted
        f_test = fitted.decision_function(problem.X_test)
        f_backdoor = fitted.decision_function(problem.X_backdoor)
        expected_clean = loss.value(to_signed(problem.y_test), f_test).mean()
        expected_backdoor = loss.value(to_signed(problem.y_backdoor), f_backdoor).mean()
        assert row.clean_loss == pytest.approx(expected_clean, rel=1e-6, abs=1e-9)
        assert row.backdoor_loss == pytest.approx(expected_backdoor, rel=1e-6, abs=1e-9)
        assert row.clean_acc == np.mean((f_test > 0) == problem.y_test)
        assert row.backdoor_acc == np.mean((f_backdoor > 0) == problem.y_backdoor)
        rho = np.sqrt(fitted.weight_norm_sq())
        cosine = reference.weight_inner(fitted) / (np.sqrt(reference.weight_norm_sq()) * rho)
        assert row.rho == pytest.approx(rho, rel=1e-6)
        assert row.nu == pytest.approx(0.5 * (1.0 - cosine), rel=1e-5, abs=1e-9)


# ------------------------------------------------------------------------------ resume


def test_second_run_computes_nothing_and_keeps_the_bytes(
    smoke_run: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out_dir = tmp_path / "copy"
    shutil.copytree(smoke_run, out_dir)
    tables = [out_dir / kind / RUN_NAME / "results.csv" for kind in ("curves", "deviation")]
    before = [path.read_bytes() for path in tables]

    def must_not_run(*args: object, **kwargs: object) -> object:
        raise AssertionError("a finished curve was computed again")

    monkeypatch.setattr(run, "run_curve_task", must_not_run)
    assert curves.main(run_args(out_dir, data_dir, "--no-figures")) == 0
    assert [path.read_bytes() for path in tables] == before
    manifest = json.loads(
        (out_dir / "curves" / RUN_NAME / "manifest.json").read_text(encoding="utf-8")
    )
    assert manifest["timings"]["n_computed"] == 0
    assert manifest["timings"]["n_skipped"] == 4 * len(SEEDS)


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--betas", "0,1.5"], "1.5"),
        (["--betas=-0.1,0.5"], "-0.1"),
        # argparse reads "-0.1,0.5" after a space as an option: the message names the flag.
        (["--betas", "-0.1,0.5"], "--betas"),
        (["--betas", "0,nan"], "nan"),
        (["--betas", ""], "--betas"),
        (["--betas", ","], "--betas"),
        (["--betas", "0.5,0.1"], "increasing"),
        (["--betas", "0.1,0.5"], "start at 0"),
        (["--betas", "0,0.5,0.5"], "--betas"),
        (["--poison-fractions", "1.5"], "1.5"),
        (["--poison-fractions", "0"], "(0, 1)"),
        (["--models", "foo"], "foo"),
        (["--models", ","], "models"),
        (["--models", "svm,svm"], "svm"),
        (["--seeds", "1,1"], "--seeds"),
        (["--poison-fractions", "0.1,0.1"], "--poison-fractions"),
        (["--pairs", "7-7"], "7-7"),
        (["--pairs", "7-12"], "7-12"),
        (["--trigger-size", "40"], "40x40"),
    ],
    ids=lambda value: value if isinstance(value, str) else " ".join(value),
)
def test_bad_input_is_one_line_and_writes_nothing(
    flags: list[str],
    needle: str,
    tmp_path: Path,
    data_dir: Path,
    one_line_error,
) -> None:
    out_dir = tmp_path / "out"
    one_line_error(curves.main, [*run_args(out_dir, data_dir), *flags], needle, out_dir)


# ------------------------------------------------------------------------------ entry point


def test_incremental_curves_help_exits_zero() -> None:
    done = subprocess.run(
        [sys.executable, "incremental_curves.py", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python incremental_curves.py")
    for flag in ("--betas", "--poison-fractions", "--models", "--profile", "--no-figures"):
        assert flag in done.stdout


@pytest.mark.slow
def test_smoke_run_with_figures_writes_the_figures(tmp_path: Path, data_dir: Path) -> None:
    argv = [*run_args(tmp_path, data_dir), "--seeds", "1"]
    assert curves.main(argv) == 0
    figures = tmp_path / "figures_smoke"  # the smoke profile has its own figures folder
    models = [model.tag for model in smoke_config().curves.models]
    stems = [f"curves_mnist_7-1_{label}" for label in models] + ["deviation_mnist_7-1"]
    for stem in stems:
        for suffix in (".png", ".pdf"):
            path = figures / f"{stem}{suffix}"
            assert path.is_file() and path.stat().st_size > 0, path
