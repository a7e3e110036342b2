"""Image sets held as uint8 and turned into network batches on the device.

A :class:`TriggeredImages` keeps the decoded, cropped images once, as ``uint8`` (a quarter
of float32, so Imagenette's train split fits in memory), with their labels, the explicit
poison mask and, per image, the source class whose trigger it carries (``-1``: none). A
batch is gathered (pinned memory when the device is CUDA), moved to the device, scaled to
``[0, 1]`` float32 (``x / 255``, exact for uint8), optionally flipped, triggered, and
normalised:

    x = ((trigger(flip(u / 255)) - mean) / std)

:class:`DeviceTrigger` applies a trigger given as plain arrays to float32 tensors with
exactly the numpy formulas of the triggers (patch: replace a square by the source class's
pattern; additive: add a pattern and clip to ``[0, 1]``), so the network sees bit-for-bit the
images the numpy poisoning code would build. Turning a trigger of
:mod:`backdoor_curves.attacks.triggers` into one is the experiment's job
(:func:`backdoor_curves.experiments.nn.data.device_trigger`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["DeviceTrigger", "TriggeredImages"]


class DeviceTrigger:
    """A trigger applied to float32 image tensors (see the module docstring).

    Build one with :meth:`patch` (badnet: replace a square by a per-class pattern) or
    :meth:`additive` (invisible: add a pattern and clip to ``[0, 1]``); it holds plain
    arrays, whatever made them.

    Parameters
    ----------
    patterns : ndarray of shape (n_classes, C, size, size) or None
        Patch patterns, one per source class (``patch`` triggers).
    origin : tuple of int or None
        ``(row, col)`` of the patch's top-left pixel.
    additive : ndarray of shape (C, H, W) or None
        Pattern added to every triggered image (``additive`` triggers).
    """

    def __init__(
        self,
        *,
        patterns: np.ndarray | None = None,
        origin: tuple[int, int] | None = None,
        additive: np.ndarray | None = None,
    ) -> None:
        if (patterns is None) == (additive is None):
            raise ValueError("a device trigger needs either patch patterns or an additive pattern")
        if patterns is not None and (origin is None or np.ndim(patterns) != 4):
            raise ValueError("patch patterns must be (n_classes, C, size, size) with an origin")
        self._patterns = (
            None if patterns is None else torch.from_numpy(np.array(patterns, dtype=np.float32))
        )
        self._origin = origin
        self._additive = (
            None if additive is None else torch.from_numpy(np.array(additive, dtype=np.float32))
        )

    @classmethod
    def patch(cls, patterns: np.ndarray, origin: tuple[int, int]) -> DeviceTrigger:
        """Return a badnet-style trigger: the patch at ``origin`` becomes the source's pattern."""
        return cls(patterns=patterns, origin=origin)

    @classmethod
    def additive_pattern(cls, pattern: np.ndarray) -> DeviceTrigger:
        """Return an invisible-style trigger: ``clip(x + pattern, 0, 1)``."""
        return cls(additive=pattern)

    def apply(self, X: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """Return triggered copies of ``X``.

        Parameters
        ----------
        X : torch.Tensor of shape (n, C, H, W), float32
            Pixels in ``[0, 1]``.
        source : torch.Tensor of shape (n,), int64
            Source class of each image (picks the patch pattern).

        Returns
        -------
        torch.Tensor
            Same shape and device.
        """
        if self._patterns is not None:
            assert self._origin is not None
            (row, col), size = self._origin, self._patterns.shape[-1]
            out = X.clone()
            patterns = self._patterns.to(X.device)
            out[:, :, row : row + size, col : col + size] = patterns[source]
            return out
        assert self._additive is not None
        return torch.clamp(X + self._additive.to(X.device), 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class TriggeredImages:
    """uint8 images with labels, poison mask and the trigger each image carries.

    Attributes
    ----------
    images : torch.Tensor of shape (n, C, H, W), uint8
        Clean pixels (0..255), CPU.
    labels : torch.Tensor of shape (n,), int64
        Labels the loss uses (targets for poisons and backdoor test points).
    is_poison : torch.Tensor of shape (n,), bool
        Poison mask (weight ``beta`` in the training loss).
    trigger_source : torch.Tensor of shape (n,), int64
        Source class whose trigger pattern the image gets; ``-1`` for clean images.
    trigger : DeviceTrigger or None
        The trigger (None when no image carries one).
    mean, std : tuple of float
        Per-channel normalisation applied after the trigger.
    """

    images: torch.Tensor
    labels: torch.Tensor
    is_poison: torch.Tensor
    trigger_source: torch.Tensor
    trigger: DeviceTrigger | None
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (n, C, H, W), got {self.images.dtype}")
        for name in ("labels", "is_poison", "trigger_source"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},)")
        if bool((self.trigger_source >= 0).any()) and self.trigger is None:
            raise ValueError("images flagged with a trigger source need a trigger")
        channels = self.images.shape[1]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"mean and std need {channels} values (one per channel)")

    def __len__(self) -> int:
        return len(self.images)

    def batch(
        self,
        index: torch.Tensor,
        device: torch.device,
        flip: torch.Tensor | None = None,
        *,
        channels_last: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Network input, labels and poison mask of the images at ``index``.

        Parameters
        ----------
        index : torch.Tensor of shape (b,), int64
            Rows to gather.
        device : torch.device
            Where the batch goes (pinned memory and a non-blocking copy on CUDA).
        flip : torch.Tensor of shape (b,), bool, optional
            Images to flip horizontally (before the trigger, so the trigger is unchanged).
        channels_last : bool, default=False
            Return the input in channels-last memory format.

        Returns
        -------
        X : torch.Tensor of shape (b, C, H, W), float32
        y : torch.Tensor of shape (b,), int64
        is_poison : torch.Tensor of shape (b,), bool
        """
        cuda = device.type == "cuda"
        raw = self.images[index]
        if cuda:
            raw = raw.pin_memory()
        X = raw.to(device, non_blocking=cuda).float().div_(255)
        if flip is not None and bool(flip.any()):
            flip = flip.to(device)
            X[flip] = X[flip].flip(-1)
        source = self.trigger_source[index]
        triggered = source >= 0
        if bool(triggered.any()):
            assert self.trigger is not None
            rows = triggered.to(device)
            X[rows] = self.trigger.apply(X[rows], source[triggered].to(device))
        mean = torch.tensor(self.mean, device=device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=device).view(1, -1, 1, 1)
        X = (X - mean) / std
        if channels_last:
            X = X.contiguous(memory_format=torch.channels_last)
        y = self.labels[index].to(device, non_blocking=cuda)
        return X, y, self.is_poison[index].to(device, non_blocking=cuda)
