"""End-to-end tests of the explanation script on the embedded MNIST digits (docs/drivers.md).

Tiny runs (pair 7-1, 80 train / 40 test points, one or two seeds, two ``C`` values) through
``main([...])`` in this process; one check runs the script by path for its ``--help``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backdoor_curves import plots
from backdoor_curves.analyses.explanation import explain
from backdoor_curves.attacks.explanations import (
    PixelFeatures,
    poison_share,
    training_influence,
    trigger_share,
)
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.config import mnist_config
from backdoor_curves.experiments.explain.cell import EXPLAIN_COLUMNS, explained_problem
from backdoor_curves.experiments.problem import DataRequest, load_pair
from backdoor_curves.test import explain_mnist

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_NAME = "7-1_badnet3_n80-40"


def tiny_args(out_dir: Path, data_dir: Path, *extra: str) -> list[str]:
    return [
        "--pair", "7-1", "--n-train", "80", "--n-test", "40", "--seeds", "1",
        "--C", "0.001,1", "--n-images", "6", "--n-show", "2", "--k", "5",
        "--out-dir", str(out_dir), "--data-dir", str(data_dir), "--n-jobs", "1", "--quiet",
        *extra,
    ]  # fmt: skip


def test_smoke_run_writes_table_and_examples_and_resumes(tmp_path, data_dir, capsys):
    out_dir = tmp_path / "runs"
    argv = tiny_args(out_dir, data_dir, "--clf", "svm,logistic", "--no-figures")
    assert explain_mnist.main(argv) == 0
    run_dir = out_dir / "explanations" / RUN_NAME
    table = pd.read_csv(run_dir / "results.csv")
    assert tuple(table.columns) == ("task_key", *EXPLAIN_COLUMNS)
    assert len(table) == 2 * 2 * 2  # clf x C x beta
    assert (table["solves_per_image"] == 1.0).all()
    ok = table["status"] == "ok"
    assert ok.any()
    # The separable tiny problem leaves a weak SVM without error vectors: no top-k ranking.
    assert set(table.loc[~ok, "status"]) <= {"fewer than k training points with non-zero influence"}
    assert table.loc[~ok, "poison_share"].isna().all()
    assert table["trigger_share"].between(0, 1).all()
    assert table.loc[ok, "poison_share"].between(0, 1).all()
    assert (table.loc[ok, "n_images_ranked"] >= 1).all()
    assert np.allclose(table["area_share"], 9 / 784)
    assert (table["data_source"].str.contains("embedded")).all()
    assert (table["features"] == "pixels").all()
    assert not (run_dir / "figures").exists()
    with np.load(run_dir / "examples_svm.npz") as examples:
        assert examples["gradient"].shape == (2, 2, 2, 1, 28, 28)
        assert examples["top_images"].shape == (2, 2, 2, 5, 1, 28, 28)
    before = (run_dir / "results.csv").read_bytes()
    capsys.readouterr()
    assert explain_mnist.main(argv) == 0
    assert "0 task(s) computed, 2 skipped" in capsys.readouterr().out
    assert (run_dir / "results.csv").read_bytes() == before


@pytest.mark.slow
def test_smoke_run_draws_every_figure(tmp_path, data_dir):
    out_dir = tmp_path / "runs"
    assert explain_mnist.main(tiny_args(out_dir, data_dir, "--clf", "svm-rbf")) == 0
    for name in ("f7_svm-rbf", "explanation_shares"):
        for suffix in ("png", "pdf"):
            path = out_dir / "explanations" / RUN_NAME / "figures" / f"{name}.{suffix}"
            assert path.stat().st_size > 0


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (("--k", "81"), "--k 81 is larger than the training set (80 points)"),
        (("--clf", "forest"), "unknown classifier 'forest'"),
        (("--n-images", "41"), "--n-images 41 exceeds the backdoor test set"),
        (("--C", "0,1"), "--C values must be positive"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    tmp_path, data_dir, one_line_error, extra, needle
):
    out_dir = tmp_path / "out"
    args = tiny_args(out_dir, data_dir)
    # Later flags win in argparse: the bad value overrides the tiny default.
    one_line_error(explain_mnist.main, [*args, *extra], needle, out_dir)


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        (["src/test/explain_mnist.py", "--help"], ("--n-images", "--k")),
        (["src/test/explain_cifar10.py", "--help"], ("--weights", "--example-C")),
        pytest.param(
            ["-m", "backdoor_curves.test.explain_mnist", "--help"],
            ("--n-images", "--k"),
            marks=pytest.mark.slow,
        ),
        pytest.param(
            ["-m", "backdoor_curves.test.explain_imagenette", "--help"],
            ("--weights", "--example-C"),
            marks=pytest.mark.slow,
        ),
    ],
)
def test_scripts_run_by_path_and_as_module(command, flags):
    done = subprocess.run(
        [sys.executable, *command], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert all(flag in done.stdout for flag in flags)


def test_pixel_explanations_run_without_torch(tmp_path, data_dir):
    """MNIST's models see pixels: the script runs, by path, with torch made unimportable."""
    fake = tmp_path / "no-torch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("this run must not import torch")\n')
    argv = tiny_args(tmp_path / "runs", data_dir, "--clf", "logistic", "--no-figures")
    done = subprocess.run(
        [sys.executable, "src/test/explain_mnist.py", *argv],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(fake.parent)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runs" / "explanations" / RUN_NAME / "examples_logistic.npz").is_file()


def test_poisoned_weak_model_looks_at_the_trigger_and_its_poisons(data_dir):
    """Embedded MNIST 7-1: the paper's qualitative claims, measured on 20 images."""
    config = mnist_config()
    pair_task = load_pair(DataRequest("mnist", "7-1", 300, 100, 999), str(data_dir))
    problem = explained_problem(pair_task, config.main_trigger, 0.1, 1, 20, "pixels")
    clean_weight = (~problem.is_poison).astype(np.float64)
    shares, poison_shares = {}, {}
    for beta, weight in ((0.0, clean_weight), (1.0, np.ones(len(clean_weight)))):
        model = make_classifier("logistic", 10.0).fit(problem.X_train, problem.y_train, weight)
        measures = explain(model, problem, weight, 7, PixelFeatures())
        shares[beta] = trigger_share(measures.gradient, problem.mask).mean()
        poison_shares[beta] = poison_share(measures.top, problem.is_poison).mean()
    assert shares[1.0] > shares[0.0] + 0.05
    assert poison_shares[1.0] > 0.5
    svm = make_classifier("svm", 10.0).fit(problem.X_train, problem.y_train)
    svm_clean = make_classifier("svm", 10.0).fit(problem.X_train, problem.y_train, clean_weight)
    grad = {m: PixelFeatures().input_gradient(m, problem.images) for m in (svm, svm_clean)}
    assert trigger_share(grad[svm], problem.mask).mean() > (
        trigger_share(grad[svm_clean], problem.mask).mean() + 0.05
    )
    influence = training_influence(
        svm, problem.X_train, problem.y_train, None, problem.X_images, problem.y_images
    )
    assert influence.n_solves == len(problem.images)


def test_example_C_flag_sets_the_F7_regularisation(tmp_path, data_dir):
    out_dir = tmp_path / "runs"
    argv = tiny_args(out_dir, data_dir, "--clf", "logistic", "--no-figures")
    assert explain_mnist.main([*argv, "--example-C", "5,0.02"]) == 0
    with np.load(out_dir / "explanations" / RUN_NAME / "examples_logistic.npz") as examples:
        assert examples["C"].tolist() == [0.02, 5.0]
        assert str(examples["features"]) == "pixels"


def test_example_C_needs_two_values(tmp_path, data_dir, one_line_error):
    out_dir = tmp_path / "out"
    argv = [*tiny_args(out_dir, data_dir), "--example-C", "1,2,3"]
    one_line_error(explain_mnist.main, argv, "--example-C takes two C values", out_dir)


def test_plotting_step_draws_the_summary_of_every_explanation_run(tmp_path, capsys):
    """``python -m backdoor_curves.plots RESULTS_DIR`` draws the registered summary per run."""
    results = REPO_ROOT / "results" / "mnist"
    argv = [str(results), "--only", "explanations", "--out", str(tmp_path), "--format", "png"]
    assert plots.main(argv) == 0
    drawn = sorted(path.name for path in tmp_path.glob("*.png"))
    pairs = ("3-0", "5-2", "7-1")
    assert drawn == [f"explanation_shares_mnist_{pair}_badnet3.png" for pair in pairs]


def test_figures_only_without_a_run_is_one_line(tmp_path, data_dir, one_line_error):
    out_dir = tmp_path / "out"
    argv = [*tiny_args(out_dir, data_dir), "--figures-only"]
    one_line_error(explain_mnist.main, argv, "holds no results.csv", out_dir)
