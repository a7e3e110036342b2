"""A new model, data source and configuration plug in the way a user adds them.

Everything here is defined in this file and registered by name (``register_classifier``,
``register_data_source``, ``register_config``); no module of the package is edited. One slope
cell then runs through the driver's ``main`` on the new data with the new model, and the
figure step draws its slope figure, where the unseen model name gets a readable label.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers import RidgeClassifier, registry
from backdoor_curves.classifiers.registry import register_classifier
from backdoor_curves.experiments import config as config_module
from backdoor_curves.experiments.binary import slope
from backdoor_curves.experiments.config import (
    CurveModel,
    CurvesGrid,
    DatasetConfig,
    SlopeGrid,
    register_config,
)
from backdoor_curves.naming import model_label
from backdoor_curves.utilities.data import (
    DatasetInfo,
    PairRequest,
    PairTask,
    register_data_source,
    sources,
    task_from_splits,
)
from backdoor_curves.utilities.data.files import unit_float32
from backdoor_curves.utilities.data.sources import Notify

TOY_DATASET = "toy-stripes"
TOY_MODEL = "toy-ridge"
SIDE = 8


class StripesSource:
    """Two classes of noisy 8x8 images: a bright left half (class 0) or right half (class 1)."""

    info = DatasetInfo(
        name=TOY_DATASET,
        display_name="Toy stripes",
        n_classes=2,
        image_shape=(1, SIDE, SIDE),
        class_names=("left", "right"),
        has_embedded_default=False,
        default_n_train=40,
        default_n_test=20,
    )

    def is_present(self, root: Path) -> bool:
        return all((root / "stripes" / f"{split}.npz").is_file() for split in ("train", "test"))

    def download(self, root: Path) -> None:
        """Generate the files (a real source would fetch them)."""
        rng = np.random.default_rng(0)
        (root / "stripes").mkdir(parents=True, exist_ok=True)
        for split, n_images in (("train", 60), ("test", 40)):
            labels = np.arange(n_images) % 2
            images = rng.integers(0, 80, size=(n_images, 1, SIDE, SIDE), dtype=np.uint8)
            for index, label in enumerate(labels):
                columns = slice(SIDE // 2, SIDE) if label else slice(0, SIDE // 2)
                images[index, 0, :, columns] += 150
            np.savez(root / "stripes" / f"{split}.npz", images=images, labels=labels)

    def load_pair(self, request: PairRequest, notify: Notify | None) -> PairTask:
        def split(name: str) -> tuple[np.ndarray, np.ndarray]:
            with np.load(request.root / "stripes" / f"{name}.npz") as files:
                return files["images"], files["labels"].astype(np.int64)

        if not self.is_present(request.root):
            raise FileNotFoundError(f"toy stripes not found under {request.root}")
        source = f"toy-stripes ({request.root / 'stripes'})"
        return task_from_splits(request, source, split("train"), split("test"), unit_float32)


class DenseRidge(RidgeClassifier):
    """Ridge classification that always solves the dense ``(d+1)^2`` system.

    A model name the package never saw; its optimum is ridge's, which the test uses.
    """

    def __init__(self, C: float = 1.0) -> None:
        super().__init__(C, hessian="dense")


def stripes_config() -> DatasetConfig:
    """Configuration of the toy dataset: one pair, pixels, a 3x3 badnet patch."""
    trigger = TriggerSpec.badnet(3)
    return DatasetConfig(
        dataset=TOY_DATASET,
        pairs=("0-1",),
        features="pixels",
        main_trigger=trigger,
        double_trigger=TriggerSpec.badnet(6),
        slope_grid=SlopeGrid(linear_C=(0.1, 1.0), rbf_C=(1.0,), rbf_gamma=(0.05,)),
        curves=CurvesGrid(models=(CurveModel(TOY_MODEL, (1.0,)),), trigger=trigger),
        seeds=(1,),
        poison_fraction=0.1,
    )


@pytest.fixture
def plugged_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Register the toy model, source and configuration; unregister them afterwards."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(config_module, "_FACTORIES", dict(config_module._FACTORIES))
    register_classifier(TOY_MODEL)(DenseRidge)
    register_config(TOY_DATASET, stripes_config)
    register_data_source(StripesSource())
    try:
        yield
    finally:
        del sources._SOURCES[TOY_DATASET], sources._INFOS[TOY_DATASET]


@pytest.mark.e2e  # the driver run end to end
def test_a_new_model_and_data_source_run_a_slope_cell_and_draw_its_figure(
    plugged_in: None, tmp_path: Path
) -> None:
    data_dir, out_dir = tmp_path / "data", tmp_path / "results"
    StripesSource().download(data_dir)
    flags = [
        "--dataset", TOY_DATASET, "-clf", f"ridge,{TOY_MODEL}",
        "--data-dir", str(data_dir), "--out-dir", str(out_dir), "--n-jobs", "1", "--quiet",
    ]  # fmt: skip
    assert slope.main(flags) == 0
    (table_path,) = out_dir.glob("slope/*/results.csv")
    table = pd.read_csv(table_path)
    assert set(table["dataset"]) == {TOY_DATASET}
    toy, ridge = (
        table[table["clf"] == name].sort_values("C").reset_index(drop=True)
        for name in (TOY_MODEL, "ridge")
    )
    assert list(toy["C"]) == [0.1, 1.0]
    assert (toy["status"] == "ok").all() and np.isfinite(toy["slope"]).all()
    # Same optimum as ridge, through the same pipeline: the same numbers.
    for column in ("slope", "theta", "backdoor_loss", "clean_acc", "backdoor_acc"):
        np.testing.assert_allclose(toy[column], ridge[column], rtol=1e-8, err_msg=column)
    assert toy["exact_optimum"].all()
    assert (toy["clean_acc"] > 0.9).all()  # the stripes are easy to tell apart

    assert slope.main([*flags, "--figures-only"]) == 0
    figure = out_dir / "figures" / f"slope_{TOY_DATASET}_0-1_badnet3.png"
    assert figure.is_file() and figure.stat().st_size > 10_000, sorted(out_dir.rglob("*.png"))
    assert model_label(TOY_MODEL) == "Toy ridge"
