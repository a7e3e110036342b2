"""The CIFAR-10 and Imagenette explanation scripts on generated files and random AlexNet weights.

The data are written in the real formats (CIFAR-10 python batches, an Imagenette JPEG folder
tree); the weights are a randomly initialised torchvision AlexNet saved with ``torch.save`` and
passed with ``--weights``. The smoke profiles run the whole chain: features extracted once into
the cache, heads fitted on them, input gradients through the network, top-k influence, table,
examples and figures. Nothing here needs a dataset, pretrained weights or a network connection.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision

from backdoor_curves.classifiers.nn.input_gradients import TorchFeatures
from backdoor_curves.classifiers.nn.pretrained import file_sha256
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.config import get_config
from backdoor_curves.experiments.explain.cell import EXPLAIN_COLUMNS, explained_problem
from backdoor_curves.experiments.explain.gradients import GradientMaps
from backdoor_curves.experiments.feature_extraction import FeatureSettings
from backdoor_curves.experiments.feature_stage import CachedFeatures, stage_at
from backdoor_curves.experiments.problem import DataRequest, load_pair
from backdoor_curves.test import explain_cifar10, explain_imagenette

REPO_ROOT = Path(__file__).resolve().parents[2]


def smoke_args(data_dir: Path, weights: Path, tmp_path: Path, *extra: str) -> list[str]:
    """The smoke profile, cut to one seed and two images so that it runs in seconds on a CPU."""
    return [
        "--profile", "smoke", "--data-dir", str(data_dir), "--weights", str(weights),
        "--feature-cache", str(tmp_path / "features"), "--out-dir", str(tmp_path / "runs"),
        "--device", "cpu", "--n-jobs", "1", "--quiet", "--seeds", "1", "--n-images", "2",
        "--n-show", "1", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def cifar_run(cifar_dir, weights_file, tmp_path_factory):
    """One CIFAR-10 smoke run (svm and logistic); its folder, arguments and feature cache."""
    tmp_path = tmp_path_factory.mktemp("cifar-run")
    argv = smoke_args(cifar_dir, weights_file, tmp_path, "--clf", "svm,logistic")
    assert explain_cifar10.main(argv) == 0
    return tmp_path, argv


def check_run(
    run_dir: Path, dataset: str, weights: Path, classifiers: list[str], *, figures: bool = True
) -> pd.DataFrame:
    """Check the table, the examples and (if drawn) the figures of a smoke run; return the table."""
    config = get_config(f"{dataset}_smoke")
    table = pd.read_csv(run_dir / "results.csv", dtype={"pair": str})
    assert tuple(table.columns) == ("task_key", *EXPLAIN_COLUMNS)
    n_C = {clf: len(config.slope_grid.C_values(clf)) for clf in classifiers}
    assert len(table) == 2 * sum(n_C.values())  # beta x C, one seed
    assert (table["features"] == f"alexnet-fc7 sha256:{file_sha256(weights)[:12]}").all()
    assert table["trigger_share"].between(0, 1).all()
    ok = table["status"] == "ok"
    assert (table.loc[ok, "solves_per_image"] == 1.0).all()
    assert table.loc[ok & (table["n_images_ranked"] > 0), "poison_share"].between(0, 1).all()
    for clf in classifiers:
        with np.load(run_dir / f"examples_{clf}.npz") as examples:
            gradient = examples["gradient"]
            assert gradient.shape[:3] == (2, 2, 1)  # (C, beta, image)
            assert gradient.shape[3:] == examples["images"].shape[1:]
            assert np.isfinite(gradient).all() and np.abs(gradient).max() > 0
    drawn = [f"f7_{clf}.png" for clf in classifiers] + ["explanation_shares.png"]
    for name in drawn:
        assert (run_dir / "figures" / name).exists() is figures
    return table


def test_cifar10_smoke_explains_through_alexnet(cifar_run, weights_file, capsys):
    tmp_path, argv = cifar_run
    run_dir = tmp_path / "runs" / "explanations" / "6-0_badnet8_smoke"
    table = check_run(run_dir, "cifar10", weights_file, ["svm", "logistic"])
    assert np.allclose(table["area_share"], 64 / 1024)  # an 8 x 8 patch on 32 x 32 images
    # A rerun resumes: nothing computed, no image through the network again.
    capsys.readouterr()
    assert explain_cifar10.main([*argv, "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "0 task(s) computed" in out and "0 image(s) through alexnet-fc7" in out


@pytest.mark.slow  # the CIFAR-10 run covers the same path; this one adds the Imagenette reader
def test_imagenette_smoke_explains_through_alexnet(imagenette_dir, weights_file, tmp_path):
    # Figures are drawn (and looked at) in the CIFAR-10 run; here the tables and examples.
    argv = smoke_args(imagenette_dir, weights_file, tmp_path, "--clf", "svm-rbf", "--no-figures")
    assert explain_imagenette.main(argv) == 0
    run_dir = tmp_path / "runs" / "explanations" / "6-0_invisible75_smoke"
    table = check_run(run_dir, "imagenette", weights_file, ["svm-rbf"], figures=False)
    assert np.allclose(table["area_share"], 0.25)  # the invisible grid: every other pixel


def test_gradients_go_through_the_features_the_models_were_fitted_on(
    cifar_run, cifar_dir, weights_file
):
    """The cached features are the network's features of the same images, and the gradient
    of a linear head through it is the chain rule ``J(x)^T w`` (central differences)."""
    tmp_path, _ = cifar_run
    config = get_config("cifar10_smoke")
    pair_task = load_pair(
        DataRequest("cifar10", "6-0", config.n_train, config.n_test, config.data_seed),
        str(cifar_dir),
    )
    features = CachedFeatures("alexnet-fc7", file_sha256(weights_file), config.data_seed)
    stage = stage_at(features, tmp_path / "features", cifar_dir)
    problem = explained_problem(pair_task, config.main_trigger, 0.1, 1, 2, stage)
    maps = GradientMaps(FeatureSettings(weights=weights_file, device="cpu"))
    feature_map = maps.get(features)
    assert maps.get(features) is feature_map  # built once, kept by its owner
    assert isinstance(feature_map, TorchFeatures)
    network = feature_map.features(problem.images)
    assert np.allclose(network, problem.X_images, rtol=1e-4, atol=1e-5)
    model = make_classifier("logistic", 1.0).fit(problem.X_train, problem.y_train)
    # Images of 8-bit pixels (and the trigger's flat patch even more) make exact max-pool ties,
    # where the function has no derivative; a little continuous noise breaks them.
    rng = np.random.default_rng(0)
    image = problem.images[:1] + 1e-3 * rng.random(problem.images[:1].shape)
    gradient = feature_map.input_gradient(model, image)
    # Central differences need float64: the same network, in double precision.
    exact = TorchFeatures(
        copy.deepcopy(feature_map.extractor).double(), torch.device("cpu"), dtype=torch.float64
    )
    gradient64 = exact.input_gradient(model, image)
    # float32 through 4096-d fc layers loses a few digits; the float64 gradient is the exact one.
    assert np.linalg.norm(gradient64 - gradient) < 1e-2 * np.linalg.norm(gradient64)
    direction = rng.standard_normal(image.shape)
    step = 1e-6  # ReLU and max-pool kinks: larger steps cross some and miss by percents
    shifted = [
        model.decision_function(exact.features(image + sign * step * direction))
        for sign in (1.0, -1.0)
    ]
    central = (shifted[0] - shifted[1])[0] / (2 * step)
    assert np.isclose(np.sum(gradient64 * direction), central, rtol=1e-4)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (("--k", "21"), "--k 21 is larger than the training set (20 points)"),
        (("--clf", "forest"), "unknown classifier 'forest'"),
        (("--n-images", "17"), "--n-images 17 exceeds the backdoor test set"),
        (("--weights", "/nonexistent/alexnet.pth"), "/nonexistent/alexnet.pth"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    cifar_dir, weights_file, tmp_path, one_line_error, extra, needle
):
    argv = [*smoke_args(cifar_dir, weights_file, tmp_path), *extra]
    one_line_error(explain_cifar10.main, argv, needle, tmp_path / "runs")
    assert not (tmp_path / "features").exists()


def test_missing_dataset_is_one_line(tmp_path, weights_file, one_line_error):
    empty = tmp_path / "no-data"
    empty.mkdir()
    argv = smoke_args(empty, weights_file, tmp_path)
    one_line_error(explain_imagenette.main, argv, "imagenette", tmp_path / "runs")
    assert not (tmp_path / "features").exists()


def test_weights_of_another_network_are_refused(cifar_dir, tmp_path, one_line_error):
    path = tmp_path / "resnet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    argv = smoke_args(cifar_dir, path, tmp_path)
    one_line_error(explain_cifar10.main, argv, "does not hold alexnet weights", tmp_path / "runs")
