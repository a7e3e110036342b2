"""What a network run is configured with, without torch: architectures, weightings, optimiser.

The names and checks that a command line parses (``backdoor-curves nn``), and the ImageNet
normalisation of the pretrained networks. The torch modules of this package import them from
here, so that building a parser (``--help`` included) does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from backdoor_curves.naming import enum_member

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Architecture",
    "PoisonWeighting",
    "Stem",
    "TrainSettings",
    "check_beta",
    "parse_architecture",
    "parse_weighting",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""Per-channel mean of ImageNet, the normalisation of torchvision's ImageNet weights."""

IMAGENET_STD = (0.229, 0.224, 0.225)
"""Per-channel standard deviation of ImageNet."""


class Architecture(StrEnum):
    """torchvision ResNets the trainer supports."""

    RESNET18 = "resnet18"
    RESNET50 = "resnet50"


class Stem(StrEnum):
    """First layers of the network: torchvision's (ImageNet) or a small-image stem."""

    IMAGENET = "imagenet"
    SMALL = "small"


def parse_architecture(name: object) -> Architecture:
    """Return ``name`` as an :class:`Architecture`, or raise listing the valid names."""
    return enum_member(Architecture, name, "architecture")


class PoisonWeighting(StrEnum):
    """How ``beta`` weighs the poisons of a batch (:mod:`.weighted_trainer`)."""

    BATCH_MEAN = "batch-mean"
    PER_SAMPLE = "per-sample"


def parse_weighting(name: object) -> PoisonWeighting:
    """Return ``name`` as a :class:`PoisonWeighting`, or raise listing the valid names."""
    return enum_member(PoisonWeighting, name, "poison weighting")


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
    weighting : PoisonWeighting
        How ``beta`` weighs the poisons (default: the authors' per-batch means).
    """

    epochs: int
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 256
    flip: bool = False
    amp: bool = True
    weighting: PoisonWeighting = PoisonWeighting.BATCH_MEAN

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
        object.__setattr__(self, "weighting", parse_weighting(self.weighting))
