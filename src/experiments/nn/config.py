"""Profiles of the network experiment (``docs/networks.md``), one frozen configuration each.

``paper``
    ``python src/experiments/nn/backdoor_slope.py`` (``./run_imagenette.sh imagenette_full``):
    ImageNet-pretrained ResNet18 and ResNet50 fine-tuned on 10-class Imagenette, invisible
    trigger 10/255, beta in {0} + geomspace(1e-2, 1, 7), epochs {10, 50}, p in {0.05, 0.15},
    seeds {100, 101, 110}, SGD lr 1e-3 momentum 0.9 batch 256, random flips.
``quick``
    ``--profile quick``: the embedded MNIST digits (4,000 train / 1,000 test), ResNet18 with a
    small 1x28x28 stem at base width 16 (torchvision's BasicBlock layout, 0.7 M parameters;
    the width-64 network is too slow for a CPU), from scratch, badnet 3x3, the paper's betas
    and seeds, epochs {1, 3}; minutes on two CPU cores. The learning rate is larger (0.02)
    because a network trained from scratch for a few epochs learns little at 1e-3.
    ``--width 64`` runs the full-width network.
``smoke``
    A tiny variant of ``quick`` for the tests.

Weight decay is not given by the paper; we use ``1e-4`` (torchvision's ResNet recipe), which
is also the L2 term of the head's influence slope. The head slope's damping is, by default,
the early-stopping equivalent of the run's SGD steps
(:func:`~backdoor_curves.classifiers.nn.head_influence.early_stopping_damping`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.nn.settings import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Architecture,
    PoisonWeighting,
    Stem,
)

__all__ = ["PROFILES", "NetworkConfig", "get_network_config"]


@dataclass(frozen=True)
class NetworkConfig:
    """Everything one profile fixes.

    Attributes
    ----------
    name : str
        Profile name.
    dataset : str
        ``"mnist"`` (embedded digits) or ``"imagenette"``.
    archs : tuple of Architecture
    stem : Stem
    width : int
        Base width of the network (64: torchvision's ResNet; see
        :func:`~backdoor_curves.classifiers.resnet.build_resnet`).
    pretrained : bool
        Start from ImageNet weights.
    trigger : TriggerSpec
    betas, fractions : tuple of float
        Poison weights in [0, 1] (must include 0 for the head slope) and fractions in (0, 1).
    epochs : tuple of int
        Epoch counts at which each run is evaluated (one run trains ``max(epochs)``).
    seeds : tuple of int
    lr, momentum, weight_decay : float
    batch_size : int
    flip : bool
        Random horizontal flips.
    n_train, n_test, data_seed : int
        MNIST split (ignored for Imagenette).
    mean, std : tuple of float
        Input normalisation per channel.
    poison_weighting : PoisonWeighting
        How beta weighs the poisons of a batch (default: the authors' per-batch means).
    head_damping : float or None
        Damping ``mu`` of the head slope; None: the early-stopping damping of the run.
    """

    name: str
    dataset: str
    archs: tuple[Architecture, ...]
    stem: Stem
    width: int
    pretrained: bool
    trigger: TriggerSpec
    betas: tuple[float, ...]
    epochs: tuple[int, ...]
    fractions: tuple[float, ...]
    seeds: tuple[int, ...]
    lr: float
    momentum: float
    weight_decay: float
    batch_size: int
    flip: bool
    n_train: int
    n_test: int
    data_seed: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    poison_weighting: PoisonWeighting = PoisonWeighting.BATCH_MEAN
    head_damping: float | None = None


_PAPER_BETAS = (0.0, *(float(b) for b in np.geomspace(1e-2, 1.0, 7)))

_PAPER = NetworkConfig(
    name="paper",
    dataset="imagenette",
    archs=(Architecture.RESNET18, Architecture.RESNET50),
    stem=Stem.IMAGENET,
    width=64,
    pretrained=True,
    trigger=TriggerSpec.invisible(10 / 255),
    betas=_PAPER_BETAS,
    epochs=(10, 50),
    fractions=(0.05, 0.15),
    seeds=(100, 101, 110),
    lr=1e-3,
    momentum=0.9,
    weight_decay=1e-4,
    batch_size=256,
    flip=True,
    n_train=0,
    n_test=0,
    data_seed=999,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
)

_QUICK = NetworkConfig(
    name="quick",
    dataset="mnist",
    archs=(Architecture.RESNET18,),
    stem=Stem.SMALL,
    width=16,
    pretrained=False,
    trigger=TriggerSpec.badnet(3),
    betas=_PAPER_BETAS,
    epochs=(1, 3),
    fractions=(0.05, 0.15),
    seeds=(100, 101, 110),
    lr=0.02,
    momentum=0.9,
    weight_decay=1e-4,
    batch_size=128,
    flip=False,
    n_train=4000,
    n_test=1000,
    data_seed=999,
    mean=(0.5,),
    std=(0.5,),
)

_SMOKE = dataclasses.replace(
    _QUICK,
    name="smoke",
    betas=(0.0, 0.5),
    seeds=(100,),
    epochs=(1, 2),
    fractions=(0.1,),
    width=4,
    n_train=96,
    n_test=48,
    batch_size=32,
)

PROFILES: dict[str, NetworkConfig] = {c.name: c for c in (_PAPER, _QUICK, _SMOKE)}


def get_network_config(name: str) -> NetworkConfig:
    """Return the profile called ``name``; ValueError listing the valid ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown profile {name!r}; valid profiles are {', '.join(PROFILES)}"
        ) from None
