"""Throughput of the beta-weighted trainer against a plain PyTorch loop, and the quick profile.

    python benchmarks/bench_nn.py [--images 2048] [--quick-profile] [--imagenette]

Prints the device used, then:

- ``trainer``: images/s of :func:`train_weighted` (uint8 storage, per-batch trigger and
  normalisation on the device, explicit poison mask, weighted loss) for one epoch of the
  quick profile's data and network;
- ``plain``: images/s of a plain loop over the same images, already triggered, normalised
  and held as float32 on the device, same network, batch size and optimiser (the target
  is the trainer within 10% of it);
- ``--quick-profile``: wall time of ``backdoor_slope.py --profile quick --n-jobs 2`` into a
  temporary folder (nothing under ``results/`` changes);
- ``--imagenette``: the Imagenette-format pipeline (3x224x224 uint8, invisible trigger,
  ImageNet normalisation, ResNet18, batch 256) on generated images, with AMP on and off
  (meaningful on a GPU; on a CPU it is slow).

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
from backdoor_curves.classifiers.nn.image_batches import TriggeredImages
from backdoor_curves.classifiers.nn.resnet import build_resnet
from backdoor_curves.classifiers.nn.weighted_trainer import TrainSettings, train_weighted
from backdoor_curves.experiments.nn.backdoor_slope import resolve_device
from backdoor_curves.experiments.nn.config import get_network_config
from backdoor_curves.experiments.nn.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MulticlassSplit,
    load_multiclass,
    poisoned_run,
)

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


def imagenette_like(n_images: int) -> TriggeredImages:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n_images, 3, 224, 224), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n_images)
    split = MulticlassSplit(images, labels, images[:10], labels[:10], "generated")
    run = poisoned_run(
        split, TriggerSpec.invisible(10 / 255), 0.15, 100, (IMAGENET_MEAN, IMAGENET_STD)
    )
    return run.train


def main() -> int:
    """Run the benchmark and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2048, help="images per timed epoch")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--quick-profile", action="store_true")
    parser.add_argument("--imagenette", action="store_true")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"device: {device} (torch {torch.__version__}, {torch.get_num_threads()} threads)")
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
        big = imagenette_like(args.images)
        for amp in (True, False):
            compare(
                big,
                lambda: build_resnet("resnet18", 10, seed=0),
                TrainSettings(epochs=1, batch_size=256, flip=True, amp=amp),
                device,
                f"imagenette format, resnet18, batch 256, amp {'on' if amp else 'off'}",
            )
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
