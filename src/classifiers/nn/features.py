"""Frozen deep feature extractors: torchvision AlexNet cut after fc7.

Inside:

- :func:`resolve_device`: the ``--device {auto,cpu,cuda}`` choice as a ``torch.device``
  (``auto`` is cuda when available, else cpu); called once in a driver's ``main``.
- :class:`AlexNetFC7`: a differentiable torch module, images in ``[0, 1]`` -> the 4096-d
  output of AlexNet's fc7 layer after its ReLU. The explanation scripts differentiate a
  classifier's decision through it with autograd.
- :func:`alexnet_fc7`: build :class:`AlexNetFC7` from an AlexNet state dict (ImageNet weights,
  or any other AlexNet weights such as a random initialisation in the tests).
- :class:`FeatureExtractor`: numpy in, numpy out; batched, float32, on a device, with a
  progress bar showing images per second. It counts the images it has passed through the
  network (``n_images_``), which the feature cache's tests use to prove one pass per image.

The preprocessing is the one AlexNet was trained with: each image ``x`` (C, H, W) with pixels in
``[0, 1]`` is resized to 224 x 224 (bilinear; with antialiasing when shrinking, as torchvision's
``Resize`` does on tensors), a grayscale image (C = 1) is repeated over the three RGB channels
(before resizing: its features equal its RGB copy's bit for bit, whatever the thread count),
and each channel is standardised, ``(x_c - mean_c) / std_c`` with the ImageNet statistics
``mean = (0.485, 0.456, 0.406)``, ``std = (0.229, 0.224, 0.225)``. The network is frozen: its
parameters do not require gradients and it stays in evaluation mode (dropout is the identity),
so the features are a deterministic function of the image and of the weights.

Importing this module does nothing (no weights are loaded, no device is touched).

See ``docs/data.md``, section "Deep features and the feature cache".
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Protocol

import numpy as np
import torch
import torchvision
from torch import nn
from torch.nn import functional
from tqdm.auto import tqdm

from backdoor_curves.classifiers.nn.pretrained import ALEXNET_FC7
from backdoor_curves.classifiers.nn.settings import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "ALEXNET_FEATURE_DIM",
    "DEVICE_CHOICES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "INPUT_SIZE",
    "AlexNetFC7",
    "FeatureExtractor",
    "FeatureModule",
    "ALEXNET_FC7",
    "alexnet_extractor",
    "alexnet_fc7",
    "resolve_device",
    "state_dict_sha256",
]

ALEXNET_FEATURE_DIM = 4096
"""Dimension of AlexNet's fc7 output."""

INPUT_SIZE = 224
"""Side of the square image AlexNet receives."""


DEVICE_CHOICES = ("auto", "cpu", "cuda")
"""Values of the ``--device`` flag."""


def resolve_device(name: str) -> torch.device:
    """Turn a ``--device`` value into a ``torch.device``.

    Parameters
    ----------
    name : {"auto", "cpu", "cuda"}
        ``"auto"`` is cuda when a CUDA device is available, else cpu.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        Unknown name, or ``"cuda"`` on a machine without a CUDA device.
    """
    if name not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {name!r}; valid: {', '.join(DEVICE_CHOICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was given but no CUDA device is available; use cpu or auto")
    return torch.device(name)


class FeatureModule(Protocol):
    """What :class:`FeatureExtractor` needs of a network: images tensor -> features tensor."""

    feature_dim: int

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Map images (n, C, H, W) in [0, 1] to features (n, feature_dim)."""
        ...

    def to(self, device: torch.device) -> nn.Module:
        """Move the parameters to ``device``."""
        ...


class AlexNetFC7(nn.Module):
    """AlexNet up to fc7 after its ReLU, with AlexNet's own preprocessing; frozen.

    ``forward`` maps images (n, C, H, W), C in {1, 3}, pixels in ``[0, 1]`` to the features
    ``relu(W7 relu(W6 pool(conv(normalise(resize(x)))) + b6) + b7)`` of shape (n, 4096). See
    the module docstring for the preprocessing. It is differentiable with respect to the
    images (the input gradient of a head on top of the features flows through it); the
    network's own parameters never require gradients and :meth:`train` keeps it in
    evaluation mode.

    Parameters
    ----------
    alexnet : torchvision.models.AlexNet
        The network whose ``features``, ``avgpool`` and first six ``classifier`` layers
        (dropout, fc6, ReLU, dropout, fc7, ReLU) are kept; fc8 is dropped.
    """

    feature_dim = ALEXNET_FEATURE_DIM
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, alexnet: torchvision.models.AlexNet) -> None:
        super().__init__()
        self.convolutions = alexnet.features
        self.avgpool = alexnet.avgpool
        self.head = nn.Sequential(*list(alexnet.classifier.children())[:6])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> AlexNetFC7:
        """Stay in evaluation mode whatever ``mode`` says: the extractor is frozen."""
        return super().train(False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Resize to 224 x 224, repeat grayscale to RGB, standardise with ImageNet statistics.

        Parameters
        ----------
        images : torch.Tensor of shape (n, C, H, W), C in {1, 3}
            Pixels in ``[0, 1]``.

        Returns
        -------
        torch.Tensor of shape (n, 3, 224, 224)
        """
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(
                f"images must have shape (n, C, H, W) with C = 1 or 3, got {tuple(images.shape)}"
            )
        if images.shape[1] == 1:
            # Repeated before resizing, so that a grayscale image and its RGB copy take the same
            # (3-channel) interpolation kernels: with one thread they differ in rounding.
            images = images.repeat(1, 3, 1, 1)
        if images.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            shrinking = min(images.shape[-2:]) > INPUT_SIZE
            images = functional.interpolate(
                images,
                size=(INPUT_SIZE, INPUT_SIZE),
                mode="bilinear",
                align_corners=False,
                antialias=shrinking,
            )
        return (images - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map images (n, C, H, W) in ``[0, 1]`` to fc7 features after ReLU, (n, 4096)."""
        hidden = self.avgpool(self.convolutions(self.preprocess(images)))
        return self.head(torch.flatten(hidden, 1))


def alexnet_fc7(state_dict: Mapping[str, torch.Tensor] | None = None) -> AlexNetFC7:
    """Build the frozen fc7 extractor from AlexNet weights.

    Parameters
    ----------
    state_dict : mapping, optional
        A torchvision AlexNet state dict (the ImageNet weights, see
        :mod:`backdoor_curves.classifiers.nn.pretrained`). None keeps torchvision's random
        initialisation (seed torch beforehand for reproducible tests).

    Returns
    -------
    AlexNetFC7
        On the cpu, in evaluation mode.

    Raises
    ------
    ValueError
        When ``state_dict`` is not an AlexNet state dict (missing, unexpected or misshapen
        tensors).
    """
    if state_dict is None:
        return AlexNetFC7(torchvision.models.alexnet(weights=None))
    # Built on the meta device (no random initialisation of 61M parameters, which costs
    # seconds), then the given tensors are assigned.
    with torch.device("meta"):
        alexnet = torchvision.models.alexnet(weights=None)
    try:
        alexnet.load_state_dict(state_dict, assign=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise ValueError(f"the weights are not torchvision AlexNet weights: {first}") from None
    return AlexNetFC7(alexnet)


def state_dict_sha256(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's tensors (names, dtypes, shapes and values, in name order).

    The identity of weights that have no file, such as a random initialisation; weights read
    from a file are identified by the file's own SHA-256.
    """
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


class FeatureExtractor:
    """Batched feature extraction from numpy images with a frozen network.

    Parameters
    ----------
    module : FeatureModule
        Frozen network, images tensor (n, C, H, W) in ``[0, 1]`` -> features (n, d); for
        example :class:`AlexNetFC7`.
    device : torch.device
        Where the network runs (see :func:`resolve_device`).
    batch_size : int
        Images per forward call.
    quiet : bool
        Hide the progress bar (CI, logs).

    Attributes
    ----------
    n_images_ : int
        Images passed through the network so far (the feature cache's tests count passes).
    n_calls_ : int
        Forward calls so far.
    images_per_second_ : float
        Throughput of the last :meth:`transform` (NaN before the first one).
    """

    def __init__(
        self,
        module: FeatureModule,
        device: torch.device,
        *,
        batch_size: int = 64,
        quiet: bool = False,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        module.to(device)
        self.module = module
        self.device = device
        self.batch_size = batch_size
        self.quiet = quiet
        self.n_images_ = 0
        self.n_calls_ = 0
        self.images_per_second_ = float("nan")

    @property
    def feature_dim(self) -> int:
        """Dimension ``d`` of the features."""
        return int(self.module.feature_dim)

    def transform(self, images: np.ndarray, *, description: str = "features") -> np.ndarray:
        """Extract the features of a batch of images.

        Parameters
        ----------
        images : ndarray of shape (n, C, H, W), floating point
            Pixels in ``[0, 1]``; C = 1 (grayscale, repeated to RGB) or 3. Converted to
            float32 one batch at a time (a float64 input is never copied whole).
        description : str
            Label of the progress bar.

        Returns
        -------
        ndarray of shape (n, d), float32
            One feature row per image, in input order.
        """
        images = np.asarray(images)
        if images.ndim != 4 or not np.issubdtype(images.dtype, np.floating):
            raise ValueError(
                "images must be a floating-point array of shape (n, C, H, W), "
                f"got {images.dtype} {images.shape}"
            )
        features = np.empty((len(images), self.feature_dim), dtype=np.float32)
        start = time.perf_counter()
        with (
            torch.inference_mode(),
            tqdm(
                total=len(images), desc=description, unit="img", disable=self.quiet, leave=False
            ) as progress,
        ):
            for first in range(0, len(images), self.batch_size):
                # A float32 copy of one batch (torch wants writable memory; inputs may be
                # read-only views).
                batch = np.array(images[first : first + self.batch_size], dtype=np.float32)
                output = self.module(torch.from_numpy(batch).to(self.device))
                features[first : first + len(batch)] = output.float().cpu().numpy()
                self.n_calls_ += 1
                self.n_images_ += len(batch)
                progress.update(len(batch))
        elapsed = time.perf_counter() - start
        self.images_per_second_ = len(images) / elapsed if elapsed > 0 else float("nan")
        return features


def alexnet_extractor(
    state_dict: Mapping[str, torch.Tensor],
    device: torch.device,
    *,
    batch_size: int = 64,
    quiet: bool = False,
) -> FeatureExtractor:
    """Build the batched AlexNet fc7 extractor from resolved weights.

    Parameters
    ----------
    state_dict : mapping
        AlexNet weights, e.g. ``resolve_weights("alexnet", ...).state_dict`` from
        :mod:`backdoor_curves.classifiers.nn.pretrained` (whose ``sha256`` goes into the feature
        cache's key and the manifest).
    device : torch.device
        Where the network runs.
    batch_size : int
        Images per forward call.
    quiet : bool
        Hide the progress bar.

    Returns
    -------
    FeatureExtractor
    """
    return FeatureExtractor(alexnet_fc7(state_dict), device, batch_size=batch_size, quiet=quiet)
