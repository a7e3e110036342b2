"""One grid task of the network experiment: train one network, evaluate it per epoch count.

A task is one (architecture, beta, p, seed). The worker memory-maps the images the driver
decoded (:class:`~backdoor_curves.experiments.nn.data.DecodedSplit`), poisons them for the
seed, loads the architecture's verified ImageNet weights when the profile is pretrained (per
task: a fraction of a second next to the training), claims a device
(:func:`~backdoor_curves.experiments.nn.devices.claim_device`), and trains once for the
largest requested epoch count on the beta-weighted loss, evaluating after each requested
epoch count (with a constant learning rate the 10-epoch network is the 50-epoch run after 10
epochs). It returns one row per epoch count: CA, BA, clean and backdoor cross-entropy, the
epoch's training loss and the training time so far; at ``beta = 0`` also the head slope and
its check (:mod:`backdoor_curves.experiments.nn.head`). Nothing is kept between tasks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from backdoor_curves.classifiers.nn.head_influence import early_stopping_damping
from backdoor_curves.classifiers.nn.pretrained import resolve_weights
from backdoor_curves.classifiers.nn.resnet import Architecture, build_resnet
from backdoor_curves.classifiers.nn.weighted_trainer import (
    EpochLog,
    PoisonWeighting,
    TrainSettings,
    evaluate,
    train_weighted,
)
from backdoor_curves.experiments.nn.config import NetworkConfig
from backdoor_curves.experiments.nn.data import N_CLASSES, DecodedSplit, PoisonedRun, poisoned_run
from backdoor_curves.experiments.nn.devices import claim_device
from backdoor_curves.experiments.nn.head import NO_HEAD, head_columns

__all__ = ["NetworkRun", "NetworkTask", "run_network_task"]


@dataclass(frozen=True)
class NetworkRun:
    """What every task of one driver call shares (picklable, sent to the workers).

    Attributes
    ----------
    config : NetworkConfig
    decoded : DecodedSplit
        The images, decoded once by the driver.
    device : str
        ``"cpu"`` or ``"cuda"`` (a task claims one GPU of the machine).
    amp : bool
        Mixed precision on CUDA, in training and evaluation.
    weights_paths : tuple of (str, str)
        Architecture name -> verified weights file (empty when training from scratch).
    """

    config: NetworkConfig
    decoded: DecodedSplit
    device: str
    amp: bool
    weights_paths: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class NetworkTask:
    """One training run: architecture, poison weight, poison fraction, seed."""

    arch: Architecture
    beta: float
    poison_fraction: float
    seed: int


def _settings(config: NetworkConfig, amp: bool) -> TrainSettings:
    return TrainSettings(
        epochs=max(config.epochs),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        batch_size=config.batch_size,
        flip=config.flip,
        amp=amp,
        weighting=config.poison_weighting,
    )


def _base_row(
    config: NetworkConfig, task: NetworkTask, data: PoisonedRun, source: str, sha256: str | None
) -> dict[str, Any]:
    """Return the columns every row of a task shares."""
    return {
        "dataset": config.dataset,
        "data_source": source,
        "arch": task.arch.value,
        "width": config.width,
        "pretrained": sha256 is not None,
        "weights_sha256": sha256,
        "trigger": config.trigger.kind.value,
        "trigger_size": config.trigger.size,
        "trigger_eps": config.trigger.eps,
        "poison_weighting": config.poison_weighting.value,
        "beta": task.beta,
        "poison_fraction": task.poison_fraction,
        "n_poison": data.n_poison,
        "seed": task.seed,
        "n_train": len(data.train),
        "n_test": len(data.test),
        "lr": config.lr,
        "momentum": config.momentum,
        "weight_decay": config.weight_decay,
        "batch_size": config.batch_size,
    }


def _head(
    network: torch.nn.Module,
    data: PoisonedRun,
    config: NetworkConfig,
    device: torch.device,
    log: EpochLog,
) -> dict[str, Any]:
    """Head-slope columns of the network after ``log.epoch`` epochs."""
    damping = config.head_damping
    if damping is None:
        damping = early_stopping_damping(config.lr, config.momentum, max(1, log.n_steps))
    return head_columns(
        network,
        data,
        device,
        weight_decay=config.weight_decay,
        damping=damping,
        per_sample=config.poison_weighting is PoisonWeighting.PER_SAMPLE,
    )


def run_network_task(task: NetworkTask, *, run: NetworkRun) -> list[dict[str, Any]]:
    """Train one network and evaluate it at every requested epoch count (module docstring)."""
    config = run.config
    split = run.decoded.open()
    data = poisoned_run(
        split, config.trigger, task.poison_fraction, task.seed, (config.mean, config.std)
    )
    weights_path = dict(run.weights_paths).get(task.arch.value)
    weights = (
        None
        if weights_path is None
        else resolve_weights(task.arch.value, weights_path=weights_path)
    )
    model = build_resnet(
        task.arch,
        N_CLASSES,
        seed=task.seed,
        in_channels=split.X_train.shape[1],
        stem=config.stem,
        weights=weights,
        width=config.width,
    )
    base = _base_row(config, task, data, split.source, None if weights is None else weights.sha256)
    rows: list[dict[str, Any]] = []
    train_seconds = 0.0
    with claim_device(run.device) as device:

        def record(log: EpochLog, network: torch.nn.Module) -> None:
            nonlocal train_seconds
            train_seconds += log.seconds
            if log.epoch not in config.epochs:
                return
            start = time.perf_counter()
            clean_acc, clean_ce = evaluate(network, data.test, device, amp=run.amp)
            backdoor_acc, backdoor_ce = evaluate(network, data.backdoor, device, amp=run.amp)
            head = _head(network, data, config, device, log) if task.beta == 0 else NO_HEAD
            rows.append(
                {
                    **base,
                    "epochs": log.epoch,
                    "clean_acc": clean_acc,
                    "backdoor_acc": backdoor_acc,
                    "clean_ce": clean_ce,
                    "backdoor_ce": backdoor_ce,
                    "train_loss": log.train_loss,
                    "train_seconds": train_seconds,
                    "eval_seconds": time.perf_counter() - start,
                    "device": device.type,
                    **head,
                }
            )

        train_weighted(
            model,
            data.train,
            task.beta,
            _settings(config, run.amp),
            seed=task.seed,
            device=device,
            on_epoch_end=record,
        )
    return rows
