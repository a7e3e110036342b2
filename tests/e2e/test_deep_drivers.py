"""CIFAR-10 and Imagenette end to end on generated files and a random-weight AlexNet file.

The data are written in the real formats (CIFAR-10 python batches, an Imagenette JPEG folder
tree), the weights are a randomly initialised torchvision AlexNet saved with ``torch.save``
and passed with ``--weights``. Nothing here needs a dataset, pretrained weights or a network
connection.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision

from backdoor_curves.classifiers.nn.features import AlexNetFC7
from backdoor_curves.experiments import feature_extraction
from backdoor_curves.experiments.binary import slope
from backdoor_curves.experiments.binary.slope_cell import SLOPE_COLUMNS
from backdoor_curves.experiments.config import get_config
from backdoor_curves.experiments.curves import cli as curves
from backdoor_curves.experiments.curves.cell import CURVE_COLUMNS
from backdoor_curves.experiments.feature_stage import CachedFeatures, stage_at
from backdoor_curves.utilities.data import PairTask

REPO_ROOT = Path(__file__).resolve().parents[2]
SMOKE_PAIR = "6-0"


def shell_env(results_root: Path) -> dict[str, str]:
    """Environment of a shell driver: this interpreter's environment, results under a tmp dir."""
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = sys.prefix
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["BACKDOOR_CURVES_RESULTS"] = str(results_root)
    return env


def run_shell(
    script: str, *args: str, results_root: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO_ROOT / script), *args],
        capture_output=True,
        text=True,
        env={**shell_env(results_root), **(extra_env or {})},
        timeout=300,
        check=False,
    )


def common_flags(data_dir: Path, weights: Path) -> list[str]:
    return [
        "--profile", "smoke", "--data-dir", str(data_dir), "--weights", str(weights),
        "--device", "cpu", "--n-jobs", "1", "--quiet", "--reference", "none",
    ]  # fmt: skip


def check_slope_table(table_path: Path, dataset: str) -> pd.DataFrame:
    table = pd.read_csv(table_path)
    assert list(table.columns[1:]) == list(SLOPE_COLUMNS)
    config = get_config(f"{dataset}_smoke")
    n_cells = (
        3 * len(config.slope_grid.linear_C)
        + len(config.slope_grid.rbf_C) * len(config.slope_grid.rbf_gamma)
    ) * len(config.seeds)
    assert len(table) == n_cells
    assert set(table["dataset"]) == {dataset}
    assert (table["n_train"] == 20).all() and (table["n_test"] == 10).all()
    assert table["clean_acc"].between(0, 1).all() and table["backdoor_acc"].between(0, 1).all()
    return table


SHELL_SMOKE = {
    # dataset: (script, job, results folder, run folder prefix, trigger column, its value)
    "cifar10": ("run_cifar.sh", "cifar_60", "cifar", "6-0_badnet8", "trigger_size", 8),
    "imagenette": (
        "run_imagenette.sh", "imagenette_60", "imagenette", "6-0_invisible", "trigger_eps",
        75 / 255,
    ),
}  # fmt: skip


# The two datasets run the same driver code; Imagenette's run is the slow tests' (its source
# is tested on its own in tests/utilities/data/).
@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.slow) if name == "imagenette" else name
        for name in SHELL_SMOKE
    ]
)
def smoke_dataset(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def after_first_run(smoke_dataset, weights_file, tmp_path, request) -> Path:
    """The data folder of ``smoke_dataset`` after a first smoke run of pair 6-0.

    The driver runs in this process with one cheap cell (ridge, one C): it loads the network
    and extracts every feature of the smoke grid into the cache under the data folder, since
    the clean splits and each seed's triggered copies depend on the pair, trigger and seeds,
    not on the models. (One forward pass per distinct image is checked below.)
    """
    data_dir = request.getfixturevalue(
        "cifar_dir" if smoke_dataset == "cifar10" else "imagenette_dir"
    )
    argv = ["--dataset", smoke_dataset, "-pair", SMOKE_PAIR, *common_flags(data_dir, weights_file)]
    argv += ["-clf", "ridge", "--C", "1", "--no-figures", "--out-dir", str(tmp_path / "first")]
    assert slope.main(argv) == 0
    return data_dir


def without_torch(tmp_path: Path) -> dict[str, str]:
    """Environment variables under which ``import torch`` fails."""
    fake = tmp_path / "no-torch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("this run must not import torch")\n')
    return {"PYTHONPATH": str(fake.parent)}


def test_shell_smoke_rerun_writes_tables_and_figures_without_torch(
    smoke_dataset, after_first_run, weights_file, tmp_path
):
    """``./run_cifar.sh cifar_60`` / ``./run_imagenette.sh imagenette_60``, ``--profile smoke``.

    A second run, as a real shell process: the whole smoke grid and its figures, written to a
    temporary folder. The driver finds every feature in the cache, so it never builds AlexNet:
    with torch made unimportable it still succeeds.
    """
    dataset, data_dir = smoke_dataset, after_first_run
    script, job, folder, prefix, column, value = SHELL_SMOKE[dataset]
    completed = run_shell(
        script, job, *common_flags(data_dir, weights_file),
        results_root=tmp_path / "results", extra_env=without_torch(tmp_path),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert f"{SMOKE_PAIR}: 0 image(s) through alexnet-fc7" in completed.stdout
    (run_dir,) = (tmp_path / "results" / folder / "slope").iterdir()
    assert run_dir.name.startswith(prefix) and run_dir.name.endswith("_smoke")
    table = check_slope_table(run_dir / "results.csv", dataset)
    assert np.allclose(table[column], value)
    manifest = (run_dir / "manifest.json").read_text()
    assert torch_file_sha256(weights_file) in manifest
    figures = {p.name for p in (tmp_path / "results" / folder / "figures_smoke").glob("*.png")}
    tag = run_dir.name.removeprefix(f"{SMOKE_PAIR}_").removesuffix("_smoke")
    assert {
        f"slope_{dataset}_{SMOKE_PAIR}_{tag}.png",
        f"rbf_heatmap_{dataset}_{SMOKE_PAIR}_{tag}.png",
    } <= figures


def torch_file_sha256(path: Path) -> str:
    from backdoor_curves.classifiers.nn.pretrained import file_sha256

    return file_sha256(path)


def test_incremental_curves_on_cifar10_smoke(cifar_dir, weights_file, tmp_path):
    flags = common_flags(cifar_dir, weights_file)
    assert curves.main(["--dataset", "cifar10", *flags, "--out-dir", str(tmp_path)]) == 0
    (curves_dir,) = (tmp_path / "curves").iterdir()
    table = pd.read_csv(curves_dir / "results.csv")
    assert list(table.columns[1:]) == list(CURVE_COLUMNS)
    config = get_config("cifar10_smoke")
    grid = table[table["point"] == "grid"]  # the SVM curves also have breakpoint rows
    assert len(grid) == len(config.curves.models) * len(config.curves.betas)
    assert set(table["trigger_size"]) == {16}  # the paper's curve trigger on CIFAR-10
    assert (tmp_path / "deviation" / curves_dir.name / "results.csv").exists()
    pngs = {p.name.split("_")[0] for p in (tmp_path / "figures_smoke").glob("*.png")}
    assert {"curves", "deviation"} <= pngs


class ForwardCounter:
    """Counts the images each AlexNetFC7 forward call receives, by content."""

    def __init__(self) -> None:
        self.images: list[bytes] = []

    def wrap(self, forward):
        def counted(module, images):
            self.images += [image.numpy().tobytes() for image in images.detach().cpu()]
            return forward(module, images)

        return counted


def refuse_to_load(*args, **kwargs):
    raise AssertionError("the network was built although every feature is cached")


def test_one_forward_pass_per_distinct_image_and_variant(
    cifar_dir, weights_file, tmp_path, monkeypatch
):
    """Over a grid of four classifiers, two C values and three seeds, through the driver."""
    counter = ForwardCounter()
    monkeypatch.setattr(AlexNetFC7, "forward", counter.wrap(AlexNetFC7.forward))
    cache = tmp_path / "features"
    argv = [
        "--dataset", "cifar10", "-pair", SMOKE_PAIR, "--n-train", "20", "--n-test", "6",
        "--C", "0.01,1", "--gamma", "0.001", "--seeds", "1,2,3",
        "--data-dir", str(cifar_dir), "--weights", str(weights_file), "--device", "cpu",
        "--feature-cache", str(cache), "--n-jobs", "1", "--quiet", "--reference", "none",
        "--no-figures",
    ]  # fmt: skip
    assert slope.main([*argv, "--out-dir", str(tmp_path / "out")]) == 0
    n_poison = 2  # 10% of 20
    distinct = 20 + 6 + 3 * (n_poison + 6)  # clean train + test, per seed poisons + backdoor
    assert len(counter.images) == distinct
    table = pd.read_csv(next((tmp_path / "out" / "slope").iterdir()) / "results.csv")
    assert len(table) == (3 * 2 + 2) * 3  # 3 linear x 2 C + RBF 2 C, 3 seeds
    # A second run over the same grid into another folder reads everything from the cache
    # and never builds the network.
    with monkeypatch.context() as patch:
        patch.setattr(feature_extraction, "load_alexnet", refuse_to_load)
        assert slope.main([*argv, "--out-dir", str(tmp_path / "again")]) == 0
    assert len(counter.images) == distinct
    # Another seed: only its triggered copies are new.
    argv[argv.index("1,2,3")] = "1,2,3,4"
    assert slope.main([*argv, "--out-dir", str(tmp_path / "more")]) == 0
    assert len(counter.images) == distinct + n_poison + 6


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    """No weights in the torch hub cache."""
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.mark.parametrize("main", [slope.main, curves.main], ids=["slope", "curves"])
def test_missing_weights_name_the_file_and_the_flag(
    main, cifar_dir, empty_torch_home, tmp_path, one_line_error
):
    data = tmp_path / "data"
    shutil.copytree(cifar_dir, data, ignore=shutil.ignore_patterns("features"))
    argv = ["--dataset", "cifar10", "--profile", "smoke", "--data-dir", str(data)]
    one_line_error(main, [*argv, "--out-dir", str(tmp_path / "out")], "--weights", tmp_path / "out")
    assert not (data / "features").exists()


def test_weights_of_another_network_name_the_file(cifar_dir, tmp_path, one_line_error):
    other = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), other)
    argv = ["--dataset", "cifar10", "--profile", "smoke", "--data-dir", str(cifar_dir)]
    argv += ["--weights", str(other), "--out-dir", str(tmp_path / "out")]
    one_line_error(slope.main, argv, str(other), tmp_path / "out")


def test_corrupt_weights_name_the_file(cifar_dir, tmp_path, one_line_error):
    corrupt = tmp_path / "alexnet.pth"
    corrupt.write_bytes(b"not a torch file")
    argv = ["--dataset", "cifar10", "--profile", "smoke", "--data-dir", str(cifar_dir)]
    argv += ["--weights", str(corrupt), "--out-dir", str(tmp_path / "out")]
    one_line_error(slope.main, argv, str(corrupt), tmp_path / "out")


def test_missing_weights_file_is_named(cifar_dir, tmp_path, one_line_error):
    missing = tmp_path / "nowhere.pth"
    argv = ["--dataset", "cifar10", "--profile", "smoke", "--data-dir", str(cifar_dir)]
    argv += ["--weights", str(missing), "--out-dir", str(tmp_path / "out")]
    one_line_error(slope.main, argv, str(missing), tmp_path / "out")


@pytest.mark.parametrize("dataset", ["cifar10", "imagenette"])
def test_missing_dataset_names_the_folder_and_the_flags(
    dataset, weights_file, tmp_path, one_line_error
):
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["--dataset", dataset, "--profile", "smoke", "--data-dir", str(empty)]
    argv += ["--weights", str(weights_file), "--out-dir", str(tmp_path / "out")]
    one_line_error(slope.main, argv, str(empty), tmp_path / "out")
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize("pair", ["6-10", "6-6", "a-b"])
def test_pair_outside_the_classes_is_refused(
    pair, cifar_dir, weights_file, tmp_path, one_line_error
):
    argv = ["--dataset", "cifar10", "--profile", "smoke", "-pair", pair]
    argv += ["--data-dir", str(cifar_dir), "--weights", str(weights_file)]
    one_line_error(slope.main, [*argv, "--out-dir", str(tmp_path / "out")], pair, tmp_path / "out")


def test_imagenette_with_a_missing_class_names_the_folder(
    imagenette_dir, weights_file, tmp_path, one_line_error
):
    data = tmp_path / "data"
    shutil.copytree(imagenette_dir, data, ignore=shutil.ignore_patterns("features"))
    train = data / "imagenette2-320" / "train"
    shutil.rmtree(sorted(train.iterdir())[3])
    argv = ["--dataset", "imagenette", "--profile", "smoke", "--data-dir", str(data)]
    argv += ["--weights", str(weights_file), "--out-dir", str(tmp_path / "out")]
    one_line_error(slope.main, argv, str(train), tmp_path / "out")
    assert not (data / "features").exists()


def test_a_worker_reads_the_cache_and_never_extracts(tmp_path):
    """``stage_at`` gives workers a reader without a network: a missing entry raises."""
    rng = np.random.default_rng(0)
    task = PairTask(
        dataset="cifar10",
        classes=(6, 0),
        X_train=rng.uniform(size=(8, 3, 32, 32)).astype(np.float32),
        y_train=np.arange(8) % 2,
        X_test=rng.uniform(size=(4, 3, 32, 32)).astype(np.float32),
        y_test=np.arange(4) % 2,
        source="generated",
        train_indices=np.arange(8),
        test_indices=np.arange(4),
    )
    features = CachedFeatures("alexnet-fc7", "0" * 64, 999)
    reader = stage_at(features, tmp_path / "features", None)
    with pytest.raises(RuntimeError, match="missing from the feature cache"):
        reader.clean(task)
    assert stage_at("pixels", tmp_path, None) == "pixels"


def test_a_corrupt_cache_entry_is_recomputed_and_reported(
    cifar_dir, weights_file, tmp_path, capsys
):
    cache = tmp_path / "features"
    argv = [
        "--dataset", "cifar10", "-pair", SMOKE_PAIR, "--n-train", "20", "--n-test", "6",
        "-clf", "svm", "--C", "1", "--seeds", "1", "--data-dir", str(cifar_dir),
        "--weights", str(weights_file), "--device", "cpu", "--feature-cache", str(cache),
        "--n-jobs", "1", "--quiet", "--reference", "none", "--no-figures",
    ]  # fmt: skip
    assert slope.main([*argv, "--out-dir", str(tmp_path / "first")]) == 0
    assert "recomputed" not in capsys.readouterr().out
    entry = sorted(cache.rglob("train-*.npy"))[0]
    data = bytearray(entry.read_bytes())
    data[-5] ^= 0xFF
    entry.write_bytes(bytes(data))
    assert slope.main([*argv, "--out-dir", str(tmp_path / "second")]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "[features]" in line)
    assert "1 corrupt cache entry recomputed (1 contents differ from the recorded SHA-256)" in line
