r"""The beta-weighted network trainer.

Per batch ``B`` with clean part ``B_c`` and poison part ``B_p`` (the explicit poison mask),

.. math::

    \ell(B; \beta) = \frac{1}{|B_c|} \sum_{i \in B_c} CE_i
                    + \beta \, \frac{1}{|B_p|} \sum_{j \in B_p} CE_j ,

where a batch without poisons has no poison term (and one without clean points no clean
term); at ``beta = 0`` the poison term is left out of the graph, so poisons contribute exactly
zero gradient. SGD with momentum and weight decay ``lambda`` (torch's coupled L2: the
gradient gets ``+ lambda * theta``, i.e. the objective ``+ lambda/2 ||theta||^2``).

Determinism: epoch ``e``'s sample order and flip mask come from
``np.random.default_rng([seed, e])``, independent of ``beta`` and of the number of epochs.
So, for one seed, every beta sees the same batches, and with a constant learning rate the
network after ``e`` epochs of a longer run *is* the network of an ``e``-epoch run: one run
evaluated at every requested epoch count gives all epoch settings (checked by a test).
On CUDA the forward pass runs under float16 autocast with loss scaling (``amp``) and the
network and inputs use the channels-last layout.

See ``docs/method.md``, section "Networks: beta-weighted training and the head slope".
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

__all__ = [
    "EpochLog",
    "TrainSettings",
    "check_beta",
    "evaluate",
    "penultimate_features",
    "train_weighted",
    "weighted_batch_loss",
]


def check_beta(beta: object) -> float:
    """Return ``beta`` as a float if it lies in ``[0, 1]``, else raise naming it."""
    if isinstance(beta, bool) or not isinstance(beta, int | float | np.floating | np.integer):
        raise ValueError(f"beta must be a number in [0, 1], got {beta!r}")
    if not 0.0 <= float(beta) <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    return float(beta)


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser and loop settings.

    Attributes
    ----------
    epochs : int
        Epochs to train (the largest requested epoch count).
    lr : float
        Constant SGD learning rate (paper: 1e-3).
    momentum : float
        SGD momentum (paper: 0.9).
    weight_decay : float
        Coupled L2 coefficient ``lambda`` (also the head slope's regulariser).
    batch_size : int
        Images per batch (paper: 256); the last batch of an epoch may be smaller.
    flip : bool
        Random horizontal flips (probability 1/2) as augmentation.
    amp : bool
        Mixed precision (float16 autocast + loss scaling) when the device is CUDA.
    """

    epochs: int
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 256
    flip: bool = False
    amp: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"learning rate must be > 0, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight decay must be >= 0, got {self.weight_decay}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class EpochLog:
    """What one epoch did: mean batch loss ``ell(B; beta)`` and wall time in seconds."""

    epoch: int
    train_loss: float
    seconds: float


def weighted_batch_loss(
    logits: torch.Tensor, y: torch.Tensor, is_poison: torch.Tensor, beta: float
) -> torch.Tensor:
    """Batch loss ``mean CE(clean) + beta * mean CE(poisons)`` (module docstring).

    Parameters
    ----------
    logits : torch.Tensor of shape (b, K)
    y : torch.Tensor of shape (b,), int64
    is_poison : torch.Tensor of shape (b,), bool
    beta : float
        Poison weight in ``[0, 1]``; at 0 the poison term is not built at all.

    Returns
    -------
    torch.Tensor
        Scalar loss, float32.
    """
    ce = F.cross_entropy(logits.float(), y, reduction="none")
    clean = ~is_poison
    loss = ce.new_zeros(())
    if bool(clean.any()):
        loss = loss + ce[clean].mean()
    if beta > 0 and bool(is_poison.any()):
        loss = loss + beta * ce[is_poison].mean()
    return loss


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
    for epoch in range(1, settings.epochs + 1):
        model.train()
        start = time.perf_counter()
        total, n_batches = 0.0, 0
        for index, flip in epoch_plan(len(data), epoch, seed, settings.batch_size, settings.flip):
            X, y, is_poison = data.batch(index, device, flip, channels_last=cuda)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                logits = model(X)
            loss = weighted_batch_loss(logits, y, is_poison, beta)
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            total += float(loss.detach())
            n_batches += 1
        logs.append(EpochLog(epoch, total / n_batches, time.perf_counter() - start))
        if on_epoch_end is not None:
            on_epoch_end(logs[-1], model)
            model.train()
    return logs


@torch.no_grad()
def evaluate(
    model: nn.Module, data: TriggeredImages, device: torch.device, batch_size: int = 512
) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of ``model`` on ``data`` (eval mode, no flips).

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
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=cuda):
            logits = model(X).float()
        correct += int((logits.argmax(1) == y).sum())
        ce_sum += float(F.cross_entropy(logits, y, reduction="sum"))
    return correct / len(data), ce_sum / len(data)


@torch.no_grad()
def penultimate_features(
    model: nn.Module, data: TriggeredImages, device: torch.device, batch_size: int = 512
) -> np.ndarray:
    """Return the inputs of the last layer ``model.fc`` on ``data`` (eval mode), in float64.

    Returns
    -------
    ndarray of shape (n, n_features), float64
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
    return torch.cat(captured).cpu().double().numpy()
