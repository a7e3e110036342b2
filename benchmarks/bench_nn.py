"""Throughput of the beta-weighted trainer against a plain PyTorch loop, and the GPU path.

    python benchmarks/bench_nn.py [--images 2048] [--device auto] [--quick-profile]
        [--imagenette] [--alexnet] [--head-slope] [--head-n 9469]

The GPU check of the network experiment is one command (it names the GPU on its first line):

    python benchmarks/bench_nn.py --device cuda --imagenette --alexnet --head-slope

Prints the device used, then:

- ``trainer``: images/s of :func:`train_weighted` (uint8 storage, per-batch trigger and
  normalisation on the device, explicit poison mask, weighted loss) for one epoch of the
  quick profile's data and network;
- ``plain``: images/s of a plain loop over the same images, already triggered, normalised
  and held as float32 on the device, same network, batch size and optimiser (the target
  is the trainer within 10% of it);
- ``--quick-profile``: wall time of ``backdoor_slope.py --profile quick --n-jobs 2`` into a
  temporary folder (nothing under ``results/`` changes);
- ``--imagenette``: the Imagenette-format pipeline on generated JPEGs written in the
  ``imagenette2-320`` layout: decoding once to memory-mapped uint8
  (:func:`~backdoor_curves.experiments.nn.data.decode_once`, images/s), then invisible
  trigger, ImageNet normalisation, ResNet18 at batch 256, with AMP on and off, each against
  the plain loop (meaningful on a GPU; on a CPU it is slow);
- ``--alexnet``: AlexNet fc7 extraction images/s (torchvision's architecture with its random
  initialisation: the throughput does not depend on the weights);
- ``--head-slope``: one ResNet50 head slope, matrix-free (``K = 10`` classes, ``d = 2048``
  features, ``--head-n`` training points, generated features): seconds, conjugate-gradient
  iterations and peak GPU memory.

Numbers vary with the machine's load; compare the ratio measured in one run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812  # torch convention

from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.nn.features import FeatureExtractor, alexnet_fc7
from backdoor_curves.classifiers.nn.head_influence import HeadProblem, proximal_head_slope
from backdoor_curves.classifiers.nn.image_batches import TriggeredImages
from backdoor_curves.classifiers.nn.resnet import build_resnet
from backdoor_curves.classifiers.nn.weighted_trainer import TrainSettings, train_weighted
from backdoor_curves.experiments.nn.backdoor_slope import resolve_device
from backdoor_curves.experiments.nn.config import get_network_config
from backdoor_curves.experiments.nn.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    decode_once,
    load_multiclass,
    poisoned_run,
)
from backdoor_curves.utilities.data.imagenette import IMAGENETTE_CLASSES

ROOT = Path(__file__).resolve().parent.parent


def plain_loop(model, X, y, settings: TrainSettings, device: torch.device, amp: bool) -> float:
    """Seconds of one epoch of a textbook loop over float32 device tensors."""
    optimiser = torch.optim.SGD(
        model.parameters(), lr=settings.lr, momentum=settings.momentum,
        weight_decay=settings.weight_decay,
    )  # fmt: skip
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    model.to(device).train()
    order = torch.randperm(len(X))
    start = time.perf_counter()
    for first in range(0, len(X), settings.batch_size):
        index = order[first : first + settings.batch_size]
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            loss = F.cross_entropy(model(X[index]).float(), y[index])
        optimiser.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def compare(
    data: TriggeredImages, make_model, settings: TrainSettings, device: torch.device, label: str
) -> None:
    """Print images/s of the trainer and of the plain loop on ``data``."""
    start = time.perf_counter()
    train_weighted(make_model(), data, 0.5, settings, seed=0, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    trainer = len(data) / (time.perf_counter() - start)
    X, y, _ = data.batch(torch.arange(len(data)), device)
    cuda = device.type == "cuda"
    if cuda:
        X = X.contiguous(memory_format=torch.channels_last)
    model = make_model().to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    plain = len(data) / plain_loop(model, X, y, settings, device, settings.amp and cuda)
    print(
        f"{label}: trainer {trainer:.1f} images/s, plain loop {plain:.1f} images/s, "
        f"ratio {trainer / plain:.3f}"
    )


def quick_data(n_images: int) -> tuple[TriggeredImages, object]:
    config = get_network_config("quick")
    split = load_multiclass("mnist", None, config.n_train, config.n_test, config.data_seed)
    run = poisoned_run(split, config.trigger, 0.15, 100, (config.mean, config.std))
    data = run.train
    subset = TriggeredImages(
        data.images[:n_images], data.labels[:n_images], data.is_poison[:n_images],
        data.trigger_source[:n_images], data.trigger, data.mean, data.std,
    )  # fmt: skip
    return subset, config


def write_jpegs(root: Path, n_images: int) -> Path:
    """Write ``n_images`` noise JPEGs (320 px short side) as ``imagenette2-320/train`` (and a
    ten-image ``val``), spread over the ten class folders."""
    from PIL import Image  # noqa: PLC0415  # only this benchmark writes images

    rng = np.random.default_rng(0)
    for split, count in (("train", n_images), ("val", 10)):
        for index in range(count):
            wnid = IMAGENETTE_CLASSES[index % len(IMAGENETTE_CLASSES)].wnid
            folder = root / "imagenette2-320" / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, size=(320, 426, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{wnid}_{index}.JPEG", quality=90)
    return root


def imagenette_pipeline(root: Path, n_images: int) -> TriggeredImages:
    """Decode generated JPEGs once (printing images/s) and poison the memory-mapped split."""
    write_jpegs(root, n_images)
    start = time.perf_counter()
    decoded = decode_once("imagenette", str(root), 0, 0, 0, root / "decoded")
    seconds = time.perf_counter() - start
    print(f"imagenette decode once: {(n_images + 10) / seconds:.1f} images/s (one process)")
    run = poisoned_run(
        decoded.open(), TriggerSpec.invisible(10 / 255), 0.15, 100, (IMAGENET_MEAN, IMAGENET_STD)
    )
    return run.train


def alexnet_throughput(n_images: int, device: torch.device) -> None:
    """Print AlexNet fc7 extraction images/s on generated 3x224x224 images."""
    torch.manual_seed(0)
    extractor = FeatureExtractor(alexnet_fc7(None), device, batch_size=256, quiet=True)
    images = np.random.default_rng(0).random((n_images, 3, 224, 224), dtype=np.float32)
    extractor.transform(images[: min(n_images, 256)])  # warm-up (cuDNN autotuning)
    start = time.perf_counter()
    extractor.transform(images)
    if device.type == "cuda":
        torch.cuda.synchronize()
    print(f"alexnet fc7: {n_images / (time.perf_counter() - start):.1f} images/s")


def head_slope_timing(n_train: int, device: torch.device) -> None:
    """Print the time of one ResNet50-sized head slope (K = 10, d = 2048) without a dense
    Hessian, on generated features and a head near their optimum."""
    generator = torch.Generator().manual_seed(0)
    K, d = 10, 2048
    y = torch.randint(0, K, (n_train,), generator=generator)
    centres = torch.randn(K, d, generator=generator)
    Z = torch.relu(centres[y] + torch.randn(n_train, d, generator=generator))
    is_poison = torch.rand(n_train, generator=generator) < 0.15
    y_backdoor = torch.zeros(500, dtype=torch.int64)
    Z_backdoor = torch.relu(torch.randn(500, d, generator=generator) + centres[0])
    problem = HeadProblem.from_features(
        Z.to(device), y.to(device), is_poison.to(device), Z_backdoor.to(device),
        y_backdoor.to(device), weight_decay=1e-4,
    )  # fmt: skip
    theta0 = torch.cat([centres, torch.zeros(K, 1)], dim=1).to(device, torch.float64) * 0.01
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    slope = proximal_head_slope(problem, theta0, damping=0.05)
    seconds = time.perf_counter() - start
    memory = (
        f", peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
        if device.type == "cuda"
        else ""
    )
    print(
        f"resnet50 head slope (n {n_train}, K {K}, d {d}): {seconds:.2f} s, "
        f"{slope.cg_iterations} CG iterations, status {slope.status}{memory}"
    )


def main() -> int:
    """Run the benchmark and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2048, help="images per timed epoch")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--quick-profile", action="store_true")
    parser.add_argument("--imagenette", action="store_true")
    parser.add_argument("--alexnet", action="store_true")
    parser.add_argument("--head-slope", action="store_true")
    parser.add_argument("--head-n", type=int, default=9469, help="head slope training points")
    args = parser.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device: {device}, {name} (torch {torch.__version__}, {torch.get_num_threads()} threads)"
    )
    data, config = quick_data(args.images)
    settings = TrainSettings(
        epochs=1, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
        batch_size=config.batch_size,
    )  # fmt: skip
    compare(
        data,
        lambda: build_resnet(
            "resnet18", 10, seed=0, in_channels=1, stem=config.stem, width=config.width
        ),
        settings,
        device,
        f"quick profile network (width {config.width}, batch {config.batch_size})",
    )
    if args.imagenette:
        with tempfile.TemporaryDirectory() as tmp:
            big = imagenette_pipeline(Path(tmp), args.images)
            for amp in (True, False):
                compare(
                    big,
                    lambda: build_resnet("resnet18", 10, seed=0),
                    TrainSettings(epochs=1, batch_size=256, flip=True, amp=amp),
                    device,
                    f"imagenette JPEGs, resnet18, batch 256, amp {'on' if amp else 'off'}",
                )
    if args.alexnet:
        alexnet_throughput(args.images, device)
    if args.head_slope:
        head_slope_timing(args.head_n, device)
    if args.quick_profile:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "src/experiments/nn/backdoor_slope.py", "--profile", "quick",
                 "--n-jobs", "2", "--quiet", "--out-dir", tmp],
                cwd=ROOT, check=True,
            )  # fmt: skip
            print(f"quick profile wall time: {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
