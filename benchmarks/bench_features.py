"""Deep-feature extraction: CPU throughput, passes through the cache, per-cell extraction ratio.

    python benchmarks/bench_features.py [--sample 32] [--network {projection,alexnet}]
        [--grid-seeds 1,10,11,100,101] [--grid-jobs 2] [--skip-grid]

Everything runs on generated images and random weights (no dataset, no pretrained file), into a
temporary cache folder; nothing under ``results/`` changes. It prints:

1. AlexNet fc7 images/s on this machine's CPU (random weights), for 32x32 images (CIFAR-10,
   upsampled to 224) and 224x224 images (Imagenette), measured on ``--sample`` images each;
   and on CUDA when one is available (otherwise it says so).
2. Extractor passes against distinct (image, variant) over a cifar_60-sized problem: one pair,
   1,500 train / 500 test images, badnet 8x8, p = 0.1, the paper's 5 seeds, through the
   feature cache as a slope driver uses it (clean splits once, triggered copies per seed),
   then once more as a resumed run. The count does not depend on the network, so by default
   a cheap stand-in (a fixed random projection to 4096-d with a ReLU) replaces AlexNet;
   ``--network alexnet`` runs the real one (about 5,000 AlexNet passes: tens of minutes on CPU).
3. Per-cell extraction (the authors' design extracts train, test and backdoor test features
   again for every fitted model) against the cache, for the paper's CIFAR-10 slope grid of
   one pair: a few cells (fit at beta = 0, slope, predictions on 4096-d features) are timed,
   the extraction cost comes from the throughput of part 1, and both are extrapolated to the
   grid. The ratio is extrapolated, and printed as such.
4. The slope grid on cached features through the real worker path (the drivers'
   ``run_slope_task`` on ``CachedFeatures``, joblib with ``--grid-jobs`` workers): a CIFAR-10
   pair written as python batches (1,500 train / 500 test, two striped classes), features from
   the stand-in network in the cache, the paper's CIFAR-10 grid (four classifiers, 10 C values,
   5 RBF gammas) for the ``--grid-seeds`` seeds; the per-pair time for the paper's 5 seeds is
   extrapolated from the seeds measured when fewer are given (and printed as such).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from backdoor_curves.attacks.influence import learning_slope
from backdoor_curves.attacks.poisoning import backdoor_test_set, poison_training_set
from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.nn.features import (
    ALEXNET_FEATURE_DIM,
    FeatureExtractor,
    alexnet_fc7,
    state_dict_sha256,
)
from backdoor_curves.classifiers.registry import classifier_names, make_classifier
from backdoor_curves.experiments.binary.slope_cell import (
    SLOPE_COLUMNS,
    SlopeTask,
    run_slope_task,
    slope_group,
)
from backdoor_curves.experiments.config import cifar10_config
from backdoor_curves.experiments.feature_extraction import extract_pair
from backdoor_curves.experiments.feature_stage import (
    CachedFeatures,
    PoisonVariant,
    clean_features,
    poisoned_training_features,
    trigger_variant,
    triggered_features,
)
from backdoor_curves.experiments.problem import DataRequest, load_pair
from backdoor_curves.experiments.workspace import WorkspaceFactory, on_kernels
from backdoor_curves.utilities.backends import ExecutionConfig
from backdoor_curves.utilities.feature_cache import FeatureCache, FeatureSource
from backdoor_curves.utilities.grid import run_grid
from backdoor_curves.utilities.store import ResultStore

SEEDS = (1, 10, 11, 100, 101)
N_TRAIN, N_TEST, FRACTION = 1500, 500, 0.1
CIFAR_SHAPE = (3, 32, 32)


class Projection(torch.nn.Module):
    """Stand-in network: ``relu(W (vec(x) - 0.5))``, W fixed random 3072 x 4096 / sqrt(3072)."""

    feature_dim = ALEXNET_FEATURE_DIM

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        n_inputs = int(np.prod(CIFAR_SHAPE))
        weight = torch.randn(n_inputs, self.feature_dim, generator=generator) / n_inputs**0.5
        self.weight = torch.nn.Parameter(weight, requires_grad=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.relu((images.flatten(1) - 0.5) @ self.weight)


def generated_images(n: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Striped two-class images (n, 3, side, side) in [0, 1] and labels 0, 1, 0, ..."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.uniform(0.0, 0.4, size=(n, 3, side, side)).astype(np.float32)
    X[y == 1, :, ::4, :] += 0.5
    X[y == 0, :, :, ::4] += 0.5
    return np.clip(X, 0.0, 1.0), y


def throughput(module: torch.nn.Module, device: torch.device, side: int, n: int) -> float:
    """Images per second of the extractor on ``n`` generated images (after one warm-up batch)."""
    images, _ = generated_images(n, side, seed=side)
    extractor = FeatureExtractor(module, device, batch_size=min(n, 32), quiet=True)
    extractor.transform(images[: min(n, 4)])
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    extractor.transform(images)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def report_throughput(sample: int) -> float:
    """Print part 1; return the CPU images/s on 32x32 images."""
    torch.manual_seed(0)
    module = alexnet_fc7()
    cpu = torch.device("cpu")
    print(f"1. AlexNet fc7 throughput, random weights, {sample} images, {torch.get_num_threads()} "
          "CPU threads:")  # fmt: skip
    rates = {side: throughput(module, cpu, side, sample) for side in (32, 224)}
    for side, rate in rates.items():
        print(f"   cpu  {side}x{side} -> 224: {rate:7.1f} images/s")
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        for side in (32, 224):
            print(f"   cuda {side}x{side} -> 224: {throughput(module, gpu, side, 4 * sample):7.1f} "
                  "images/s")  # fmt: skip
    else:
        print("   cuda: no GPU on this machine (none was lent to this task): not measured")
    return rates[32]


class Problem:
    """The cifar_60-sized generated pair, its cache and the per-seed poisoned sets."""

    def __init__(self, cache: FeatureCache) -> None:
        self.cache = cache
        self.X_train, self.y_train = generated_images(N_TRAIN, 32, seed=1)
        self.X_test, self.y_test = generated_images(N_TEST, 32, seed=2)
        self.source = FeatureSource("generated", "6-0", 999)
        self.spec = TriggerSpec.badnet(8)

    def prepare(self) -> dict[int, tuple]:
        """What a driver does in its main process: clean once, triggered copies per seed."""
        positions = {"train_indices": np.arange(N_TRAIN), "test_indices": np.arange(N_TEST)}
        clean = clean_features(self.cache, self.source, self.X_train, self.X_test, **positions)
        prepared = {}
        for seed in SEEDS:
            rng = np.random.default_rng(seed)
            trigger = self.spec.build(CIFAR_SHAPE, 2, rng)
            poisoned = poison_training_set(
                self.X_train, self.y_train, trigger, FRACTION, rng, n_classes=2
            )
            X_bt, y_bt = backdoor_test_set(self.X_test, self.y_test, trigger, n_classes=2)
            variant = trigger_variant(self.spec, seed)
            triggered = triggered_features(
                self.cache,
                self.source,
                variant,
                poisoned,
                X_bt,
                train_indices=np.arange(N_TRAIN),
                backdoor_indices=np.arange(N_TEST),
            )
            prepared[seed] = (clean, triggered, np.asarray(poisoned.y), np.asarray(y_bt))
        return prepared


def report_passes(network: str, root: Path) -> dict[int, tuple]:
    """Print part 2; return the prepared features (for part 3)."""
    if network == "alexnet":
        torch.manual_seed(0)
        module: torch.nn.Module = alexnet_fc7()
    else:
        module = Projection()
    extractor = FeatureExtractor(module, torch.device("cpu"), batch_size=64, quiet=True)
    cache = FeatureCache(
        root,
        extractor.transform,
        extractor=network,
        weights_sha256=state_dict_sha256(module.state_dict()),
    )
    problem = Problem(cache)
    start = time.perf_counter()
    prepared = problem.prepare()
    first = time.perf_counter() - start
    passes_first = extractor.n_images_
    start = time.perf_counter()
    problem.prepare()
    second = time.perf_counter() - start
    n_poison = round(FRACTION * N_TRAIN)
    distinct = N_TRAIN + N_TEST + len(SEEDS) * (n_poison + N_TEST)
    print(f"2. Cache over a cifar_60-sized pair ({N_TRAIN} train / {N_TEST} test, badnet 8x8, "
          f"p={FRACTION}, seeds {SEEDS}), network: {network}")  # fmt: skip
    print(f"   distinct (image, variant): {distinct} = {N_TRAIN} + {N_TEST} clean + "
          f"{len(SEEDS)} x ({n_poison} poisons + {N_TEST} backdoor test)")  # fmt: skip
    print(f"   extractor passes, first run: {passes_first} ({first:.1f} s incl. writing)")
    print(f"   extractor passes, resumed run: {extractor.n_images_ - passes_first} "
          f"({second:.1f} s, reads and hash checks only)")  # fmt: skip
    return prepared


def cell_seconds(
    prepared: dict[int, tuple], clf: str, C: float, gamma: float | None
) -> tuple[float, float]:
    """Time one grid cell on cached features: fit at beta = 0, slope, predictions, beta = 1 fit.

    The models take precomputed kernel matrices, as in the drivers; the training kernel
    matrix is shared by the cells of a seed (and gamma), as the drivers' workspace shares it,
    and timed separately. Returns ``(cell seconds, kernel seconds)``.
    """
    clean, triggered, y_poisoned, y_backdoor = prepared[SEEDS[0]]
    X = poisoned_training_features(clean.train, triggered).astype(np.float64)
    X_test = np.asarray(clean.test.load(), dtype=np.float64)
    X_bt = np.asarray(triggered.backdoor.load(), dtype=np.float64)
    is_poison = np.zeros(len(X), dtype=bool)
    is_poison[triggered.poison_rows] = True
    base = on_kernels(make_classifier(clf, C, gamma))
    start = time.perf_counter()
    K = base.kernel(X, X)
    kernel_seconds = time.perf_counter() - start
    start = time.perf_counter()
    K_test, K_bt = base.kernel(X_test, X), base.kernel(X_bt, X)
    model = base.with_params().fit(K, y_poisoned, (~is_poison).astype(float))
    learning_slope(model, K, y_poisoned, is_poison, K_bt, y_backdoor)
    model.predict(K_test)
    base.with_params().fit(K, y_poisoned).predict(K_bt)  # beta = 1
    return time.perf_counter() - start, kernel_seconds


def report_ratio(prepared: dict[int, tuple], rate_32: float) -> None:
    """Print part 3 (extrapolated)."""
    grid = cifar10_config().slope_grid
    counts, seconds, n_kernels, kernel_total = {}, {}, 0, 0.0
    for clf in classifier_names():
        C_values, gammas = grid.C_values(clf), grid.gamma_values(clf)
        counts[clf] = len(C_values) * len(gammas) * len(SEEDS)
        middle = (C_values[len(C_values) // 2], gammas[len(gammas) // 2])
        seconds[clf], kernel = cell_seconds(prepared, clf, *middle)
        if clf in ("svm", "svm-rbf"):  # linear kernel shared by 3
            n_kernels_clf = len(SEEDS) * len(gammas)
            n_kernels += n_kernels_clf
            kernel_total += n_kernels_clf * kernel
    n_cells = sum(counts.values())
    fit_total = sum(counts[clf] * seconds[clf] for clf in counts) + kernel_total
    per_cell_images = N_TRAIN + N_TEST + N_TEST  # train, clean test, backdoor test
    n_poison = round(FRACTION * N_TRAIN)
    distinct = N_TRAIN + N_TEST + len(SEEDS) * (n_poison + N_TEST)
    per_cell = n_cells * (per_cell_images / rate_32) + fit_total
    cached = distinct / rate_32 + fit_total
    print(f"3. Per-cell extraction vs the cache, CIFAR-10 slope grid of one pair ({n_cells} cells "
          "= 4 classifiers x paper grids x 5 seeds); EXTRAPOLATED:")  # fmt: skip
    for clf in counts:
        print(f"   measured cell ({clf}, 1 cell, cold fits): {seconds[clf]:.2f} s on cached "
              f"4096-d features -> x {counts[clf]} cells")  # fmt: skip
    print(f"   kernel matrices: {n_kernels} (one linear per seed, one RBF per seed and gamma), "
          f"{kernel_total:.1f} s")  # fmt: skip
    passes = n_cells * per_cell_images
    print(f"   extraction, per cell: {n_cells} x {per_cell_images} images = {passes} passes "
          f"-> {passes / rate_32 / 3600:.1f} h at {rate_32:.1f} images/s")  # fmt: skip
    print(f"   extraction, cached:   {distinct} passes -> {distinct / rate_32 / 60:.1f} min")
    print(f"   grid fitting on cached features: {fit_total / 60:.1f} min (one core, cold fits; "
          "the drivers' warm C paths are faster)")  # fmt: skip
    print(f"   total per-cell / total cached = {per_cell / 3600:.2f} h / {cached / 3600:.2f} h "
          f"= {per_cell / cached:.0f}x (extrapolated from {len(counts)} measured cells and "
          "the throughput sample)")  # fmt: skip


def write_cifar_pair(root: Path) -> None:
    """CIFAR-10 python batches holding 750 train / 250 test images of classes 6 and 0 each.

    Class 6 has horizontal stripes, class 0 vertical ones, on uniform noise (uint8, the real
    format); the other classes have one image each so the files look like CIFAR-10.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    counts = {6: 150, 0: 150}  # per train batch (x 5 = 750 per class)
    for name, scale in [(f"data_batch_{i}", 1) for i in range(1, 6)] + [("test_batch", 5 / 3)]:
        labels = np.concatenate(
            [np.full(round(counts.get(c, 0) * scale) or 1, c) for c in range(10)]
        )
        images = rng.uniform(0, 100, size=(len(labels), 3, 32, 32))
        images[labels == 6, :, ::4, :] += 120
        images[labels == 0, :, :, ::4] += 120
        pixels = images.astype(np.uint8).reshape(len(labels), -1)
        with (folder / name).open("wb") as stream:
            pickle.dump({b"labels": labels.tolist(), b"data": pixels}, stream, protocol=2)


def slope_tasks(features: CachedFeatures, seeds: tuple[int, ...]) -> list[SlopeTask]:
    """The paper's CIFAR-10 slope grid of pair 6-0 (badnet 8x8, p = 0.1), as the driver plans it."""
    config = cifar10_config()
    request = DataRequest("cifar10", "6-0", N_TRAIN, N_TEST, config.data_seed)
    grid = config.slope_grid
    return [
        SlopeTask(
            request, features, config.main_trigger, FRACTION, clf, gamma, grid.C_values(clf), s
        )
        for clf in classifier_names()
        for gamma in grid.gamma_values(clf)
        for s in seeds
    ]


def report_grid(root: Path, seeds: tuple[int, ...], n_jobs: int) -> None:
    """Print part 4: the slope grid of one pair on cached features, real worker path."""
    data_dir, feature_dir = root / "data", root / "features"
    write_cifar_pair(data_dir)
    config = cifar10_config()
    request = DataRequest("cifar10", "6-0", N_TRAIN, N_TEST, config.data_seed)
    pair = load_pair(request, data_dir)
    module = Projection()
    extractor = FeatureExtractor(module, torch.device("cpu"), batch_size=64, quiet=True)
    features = CachedFeatures("projection", state_dict_sha256(module.state_dict()), 999)
    cache = FeatureCache(
        feature_dir, extractor.transform, extractor="projection",
        weights_sha256=features.weights_sha256,
    )  # fmt: skip
    variants = [PoisonVariant(config.main_trigger, FRACTION, seed) for seed in seeds]
    extract_pair(cache, features, pair, variants)
    tasks = slope_tasks(features, seeds)
    workspaces = WorkspaceFactory(
        {request: pair}, data_dir=str(data_dir), feature_dir=str(feature_dir)
    )
    store = ResultStore(root / "out", SLOPE_COLUMNS)
    start = time.perf_counter()
    # As the slope driver: the seeds of one (classifier, gamma) go to one worker together,
    # with one workspace holding the pair.
    config_ = ExecutionConfig(n_jobs=n_jobs, quiet=True)
    report = run_grid(
        tasks, run_slope_task, store, config_, group_by=slope_group, context=workspaces
    )
    seconds = time.perf_counter() - start
    table = report.table
    per_clf = table.groupby("clf")["seconds"].sum()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"4. Slope grid on cached 4096-d features, CIFAR-10 pair 6-0 ({N_TRAIN} / {N_TEST}), "
          f"paper grid, seeds {seeds}, {n_jobs} worker(s), load average {load:.1f} on "
          f"{os.cpu_count()} cores:")  # fmt: skip
    print(f"   {len(tasks)} tasks, {len(table)} rows (cells), wall {seconds:.1f} s")
    for clf, total in per_clf.items():
        print(f"   {clf:9s} cell time {total:7.1f} s (summed over workers)")
    if len(seeds) < len(SEEDS):
        print(f"   per pair, paper's {len(SEEDS)} seeds: {seconds * len(SEEDS) / len(seeds):.0f} s "
              f"EXTRAPOLATED from {len(seeds)} seed(s) (target <= 60 s)")  # fmt: skip
    else:
        print(f"   per pair, paper's {len(SEEDS)} seeds: {seconds:.0f} s measured (target <= 60 s)")


def main() -> int:
    """Run the four parts and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=32, help="images per throughput sample")
    parser.add_argument("--network", choices=("projection", "alexnet"), default="projection")
    parser.add_argument(
        "--grid-seeds", default=",".join(map(str, SEEDS)), help="seeds of part 4 (a subset "
        "of the paper's is extrapolated to 5)",
    )  # fmt: skip
    parser.add_argument("--grid-jobs", type=int, default=2, help="workers of part 4")
    parser.add_argument("--skip-grid", action="store_true", help="skip part 4")
    parser.add_argument("--only-grid", action="store_true", help="run part 4 only")
    args = parser.parse_args()
    seeds = tuple(int(seed) for seed in args.grid_seeds.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        if not args.only_grid:
            rate_32 = report_throughput(args.sample)
            prepared = report_passes(args.network, Path(tmp) / "passes")
            report_ratio(prepared, rate_32)
        if not args.skip_grid:
            report_grid(Path(tmp) / "grid", seeds, args.grid_jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
