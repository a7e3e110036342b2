r"""The beta-weighted network trainer (``docs/networks.md``).

Per batch ``B`` with clean part ``B_c`` and poison part ``B_p`` (the explicit poison mask),
the authors' loss (:attr:`PoisonWeighting.BATCH_MEAN`, the default) is

.. math::

    \ell(B; \beta) = \frac{1}{|B_c|} \sum_{i \in B_c} CE_i
                    + \beta \, \frac{1}{|B_p|} \sum_{j \in B_p} CE_j ,

so at ``beta = 1`` the poisons of a batch weigh as much as its clean points together: one
poison counts as about ``(1 - p) / p`` clean samples. :attr:`PoisonWeighting.PER_SAMPLE` is the
weighted mean ``(sum_{B_c} CE_i + beta sum_{B_p} CE_j) / (|B_c| + beta |B_p|)``, in which a
poison counts as ``beta`` clean samples (as in the shallow models' objective, up to the
normalisation; at ``beta = 1`` it is plain training on the poisoned set). A batch without
poisons has no poison term (and one without clean points no clean term).

At ``beta = 0`` the poisons are taken out of each batch before the forward pass
(:func:`training_batch`): the network never sees them, so they contribute no gradient and,
in a network with BatchNorm, do not enter the batch statistics or the running statistics
(a batch with no clean point is skipped). For any ``beta > 0`` they are part of the batch:
BatchNorm normalises clean points and poisons together, so the limit ``beta -> 0+`` is not
the clean network (``tests/classifiers/nn/test_weighted_trainer.py`` measures the
difference on a ResNet).

SGD with momentum and weight decay ``lambda`` (torch's coupled L2: the gradient gets
``+ lambda * theta``, i.e. the objective ``+ lambda/2 ||theta||^2``).

Determinism: epoch ``e``'s sample order and flip mask come from
``np.random.default_rng([seed, e])``, independent of ``beta`` and of the number of epochs.
So, for one seed, every beta sees the same batches, and with a constant learning rate the
network after ``e`` epochs of a longer run *is* the network of an ``e``-epoch run: one run
evaluated at every requested epoch count gives all epoch settings (checked by a test).
On CUDA the forward pass runs under float16 autocast with loss scaling (``amp``) and the
network and inputs use the channels-last layout; :func:`evaluate` uses autocast only when
asked to (the driver passes ``amp``, so ``--no-amp`` evaluates in float32 too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812  # torch convention

from backdoor_curves.classifiers.nn.image_batches import TriggeredImages
from backdoor_curves.classifiers.nn.settings import (
    PoisonWeighting,
    TrainSettings,
    check_beta,
    parse_weighting,
)

__all__ = [
    "EpochLog",
    "PoisonWeighting",
    "TrainSettings",
    "check_beta",
    "evaluate",
    "parse_weighting",
    "penultimate_features",
    "train_weighted",
    "training_batch",
    "weighted_batch_loss",
]


@dataclass(frozen=True)
class EpochLog:
    """What one epoch did: mean batch loss ``ell(B; beta)``, optimiser steps, seconds.

    ``n_steps`` counts the optimiser steps since the start of training (batches skipped
    at ``beta = 0`` for lack of clean points are not steps).
    """

    epoch: int
    train_loss: float
    seconds: float
    n_steps: int


def weighted_batch_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    is_poison: torch.Tensor,
    beta: float,
    weighting: PoisonWeighting = PoisonWeighting.BATCH_MEAN,
) -> torch.Tensor:
    """Batch loss ``ell(B; beta)`` of the module docstring.

    Parameters
    ----------
    logits : torch.Tensor of shape (b, K)
    y : torch.Tensor of shape (b,), int64
    is_poison : torch.Tensor of shape (b,), bool
    beta : float
        Poison weight in ``[0, 1]``; at 0 the poison term is not built at all.
    weighting : PoisonWeighting, default=BATCH_MEAN
        ``mean CE(clean) + beta mean CE(poisons)``, or the weighted mean (PER_SAMPLE).

    Returns
    -------
    torch.Tensor
        Scalar loss, float32.
    """
    ce = F.cross_entropy(logits.float(), y, reduction="none")
    clean = ~is_poison
    has_poison = beta > 0 and bool(is_poison.any())
    if weighting is PoisonWeighting.PER_SAMPLE:
        total = ce[clean].sum()
        if has_poison:
            total = total + beta * ce[is_poison].sum()
        return total / (int(clean.sum()) + (beta * int(is_poison.sum()) if has_poison else 0))
    loss = ce.new_zeros(())
    if bool(clean.any()):
        loss = loss + ce[clean].mean()
    if has_poison:
        loss = loss + beta * ce[is_poison].mean()
    return loss


def training_batch(
    data: TriggeredImages,
    index: torch.Tensor,
    flip: torch.Tensor | None,
    beta: float,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """Return the batch the network is trained on: at ``beta = 0``, without its poisons.

    Parameters
    ----------
    data : TriggeredImages
    index : torch.Tensor of shape (b,), int64
        The batch's rows (:func:`epoch_plan`).
    flip : torch.Tensor of shape (b,), bool, or None
        Images to flip.
    beta : float
        At 0 the poison rows are dropped before the batch is built (module docstring).
    device : torch.device

    Returns
    -------
    (X, y, is_poison) or None
        As :meth:`TriggeredImages.batch`; None when nothing is left to train on.
    """
    if beta == 0:
        keep = ~data.is_poison[index]
        index = index[keep]
        flip = None if flip is None else flip[keep]
    if len(index) == 0:
        return None
    return data.batch(index, device, flip, channels_last=device.type == "cuda")


def epoch_plan(
    n_samples: int, epoch: int, seed: int, batch_size: int, flip: bool
) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Batches of epoch ``epoch`` (1-based): row indices and flip masks.

    Drawn from ``np.random.default_rng([seed, epoch])``: a permutation, then (if ``flip``)
    one fair coin per position. Depends on nothing else, so every beta and every run length
    sees the same batches.
    """
    rng = np.random.default_rng([seed, epoch])
    order = torch.from_numpy(rng.permutation(n_samples))
    flips = torch.from_numpy(rng.random(n_samples) < 0.5) if flip else None
    return [
        (order[start : start + batch_size], None if flips is None else flips[start:][:batch_size])
        for start in range(0, n_samples, batch_size)
    ]


def train_weighted(
    model: nn.Module,
    data: TriggeredImages,
    beta: float,
    settings: TrainSettings,
    *,
    seed: int,
    device: torch.device,
    on_epoch_end: Callable[[EpochLog, nn.Module], None] | None = None,
) -> list[EpochLog]:
    """Train ``model`` in place on the beta-weighted loss for ``settings.epochs`` epochs.

    Parameters
    ----------
    model : torch.nn.Module
        Network mapping a batch to logits; moved to ``device``.
    data : TriggeredImages
        Poisoned training set (poison mask and triggers explicit).
    beta : float
        Poison weight in ``[0, 1]``.
    settings : TrainSettings
    seed : int
        Fixes the batches and flips of every epoch (see :func:`epoch_plan`).
    device : torch.device
    on_epoch_end : callable, optional
        ``on_epoch_end(log, model)`` after each epoch with that epoch's :class:`EpochLog`
        (1-based ``epoch``), e.g. to evaluate the network at the requested epoch counts;
        the model is put back in training mode after it.

    Returns
    -------
    list of EpochLog
    """
    beta = check_beta(beta)
    cuda = device.type == "cuda"
    amp = settings.amp and cuda
    model.to(device)
    if cuda:
        model.to(memory_format=torch.channels_last)
    optimiser = torch.optim.SGD(
        model.parameters(),
        lr=settings.lr,
        momentum=settings.momentum,
        weight_decay=settings.weight_decay,
    )
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    logs = []
    n_steps = 0
    for epoch in range(1, settings.epochs + 1):
        model.train()
        start = time.perf_counter()
        total, n_batches = 0.0, 0
        for index, flip in epoch_plan(len(data), epoch, seed, settings.batch_size, settings.flip):
            batch = training_batch(data, index, flip, beta, device)
            if batch is None:
                continue
            X, y, is_poison = batch
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                logits = model(X)
            loss = weighted_batch_loss(logits, y, is_poison, beta, settings.weighting)
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            total += float(loss.detach())
            n_batches += 1
        n_steps += n_batches
        mean_loss = total / n_batches if n_batches else float("nan")
        logs.append(EpochLog(epoch, mean_loss, time.perf_counter() - start, n_steps))
        if on_epoch_end is not None:
            on_epoch_end(logs[-1], model)
            model.train()
    return logs


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: TriggeredImages,
    device: torch.device,
    *,
    amp: bool,
    batch_size: int = 512,
) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of ``model`` on ``data`` (eval mode, no flips).

    Parameters
    ----------
    model : torch.nn.Module
    data : TriggeredImages
    device : torch.device
    amp : bool
        Forward pass under float16 autocast when the device is CUDA (the training run's
        ``amp``); False evaluates in float32 everywhere.
    batch_size : int, default=512

    Returns
    -------
    accuracy : float
        Fraction of images whose arg-max logit equals their label (BA on a backdoor set).
    cross_entropy : float
        Mean CE against the labels, in nats.
    """
    model.eval()
    correct, ce_sum = 0, 0.0
    cuda = device.type == "cuda"
    for start in range(0, len(data), batch_size):
        index = torch.arange(start, min(start + batch_size, len(data)))
        X, y, _ = data.batch(index, device, channels_last=cuda)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp and cuda):
            logits = model(X).float()
        correct += int((logits.argmax(1) == y).sum())
        ce_sum += float(F.cross_entropy(logits, y, reduction="sum"))
    return correct / len(data), ce_sum / len(data)


@torch.no_grad()
def penultimate_features(
    model: nn.Module, data: TriggeredImages, device: torch.device, batch_size: int = 512
) -> torch.Tensor:
    """Return the inputs of the last layer ``model.fc`` on ``data`` (eval mode, float32).

    Returns
    -------
    torch.Tensor of shape (n, n_features), float32, on ``device``
    """
    model.eval()
    captured: list[torch.Tensor] = []
    fc = model.fc
    assert isinstance(fc, nn.Module)
    hook = fc.register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0].float()))
    try:
        for start in range(0, len(data), batch_size):
            index = torch.arange(start, min(start + batch_size, len(data)))
            X, _, _ = data.batch(index, device)
            model(X)
    finally:
        hook.remove()
    return torch.cat(captured)
