"""ResNet builders for the network experiments.

torchvision's ResNet18 / ResNet50 with the last layer (``fc``) replaced by a fresh
``Linear(n_features, n_classes)``; all layers stay trainable. Two stems:

``imagenet``
    torchvision's own (7x7 stride-2 convolution, 3 channels, max pooling); ImageNet weights
    can be loaded.
``small``
    For ``C x 28 x 28`` digits: a 3x3 stride-2 convolution from ``C`` channels, then the
    usual max pooling, so the four stages see 7, 4, 2 and 1 pixels (cheap on a CPU). It is
    always trained from scratch, and may be built at another base ``width`` than
    torchvision's 64: stages of ``width, 2 width, 4 width, 8 width`` channels, the same
    torchvision ``BasicBlock`` layout ``[2, 2, 2, 2]`` (width 16: 0.7 M parameters instead
    of 11 M, so far cheaper to train on a CPU).

Parameters are initialised by torchvision's initialisers drawing from a private torch
generator seeded with ``seed`` (the global RNG state is saved and restored), so a seed
fixes the initial network.

See ``docs/method.md``, section "Networks: beta-weighted training and the head slope".
"""

from __future__ import annotations

import torch
from torch import nn

from backdoor_curves.classifiers.nn.pretrained import PretrainedWeights
from backdoor_curves.classifiers.nn.settings import Architecture, Stem, parse_architecture

__all__ = ["Architecture", "Stem", "build_resnet", "parse_architecture"]


def _small_stem(model: nn.Module, in_channels: int, width: int) -> None:
    """Replace the stem (and, for ``width != 64``, the stages) of a torchvision ResNet18."""
    from torchvision.models.resnet import BasicBlock, ResNet

    assert isinstance(model, ResNet)
    model.conv1 = nn.Conv2d(in_channels, width, 3, stride=2, padding=1, bias=False)
    if width != 64:
        model.bn1 = nn.BatchNorm2d(width)
        model.inplanes = width  # torchvision's _make_layer reads and advances it
        model.layer1 = model._make_layer(BasicBlock, width, 2)
        model.layer2 = model._make_layer(BasicBlock, 2 * width, 2, stride=2)
        model.layer3 = model._make_layer(BasicBlock, 4 * width, 2, stride=2)
        model.layer4 = model._make_layer(BasicBlock, 8 * width, 2, stride=2)
        model.fc = nn.Linear(8 * width, model.fc.out_features)
    # torchvision's initialisation of the replaced layers.
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")


def build_resnet(
    arch: Architecture | str,
    n_classes: int,
    *,
    seed: int,
    in_channels: int = 3,
    stem: Stem | str = Stem.IMAGENET,
    weights: PretrainedWeights | None = None,
    width: int = 64,
) -> nn.Module:
    """Build a ResNet with a fresh ``n_classes`` head.

    Parameters
    ----------
    arch : Architecture or str
        ``"resnet18"`` or ``"resnet50"``.
    n_classes : int
        Outputs of the new last layer (``>= 2``).
    seed : int
        Seed of the random initialisation (of every layer without pretrained weights, and
        always of the new head).
    in_channels : int, default=3
        Image channels; the ``imagenet`` stem needs 3.
    stem : Stem or str, default="imagenet"
        See the module docstring.
    weights : PretrainedWeights, optional
        ImageNet weights of ``arch`` (``imagenet`` stem only); None trains from scratch.
    width : int, default=64
        Channels of the first stage (``small`` stem and ResNet18 only when not 64).

    Returns
    -------
    torch.nn.Module
        In training mode, on the CPU, float32.
    """
    from torchvision import models

    arch = parse_architecture(arch)
    stem = Stem(stem)
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    if stem is Stem.IMAGENET and in_channels != 3:
        raise ValueError(f"the imagenet stem takes 3 channels, got in_channels={in_channels}")
    if weights is not None and (stem is not Stem.IMAGENET or weights.arch != arch.value):
        raise ValueError(
            f"{weights.arch} weights ({weights.path}) cannot initialise a {arch.value} "
            f"with the {stem.value} stem"
        )
    if width != 64 and (stem is not Stem.SMALL or arch is not Architecture.RESNET18):
        raise ValueError(f"width {width} needs the small stem and resnet18 (width 64 otherwise)")
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = models.get_model(arch.value, weights=None)
        if weights is not None:
            model.load_state_dict(weights.state_dict, strict=True)
        if stem is Stem.SMALL:
            _small_stem(model, in_channels, width)
        model.fc = nn.Linear(model.fc.in_features, n_classes)
    return model
