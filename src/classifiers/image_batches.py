"""Image sets held as uint8 and turned into network batches on the device.

A :class:`TriggeredImages` keeps the decoded, cropped images once, as ``uint8`` (a quarter
of float32, so Imagenette's train split fits in memory), with their labels, the explicit
poison mask and, per image, the source class whose trigger it carries (``-1``: none). A
batch is gathered (pinned memory when the device is CUDA), moved to the device, scaled to
``[0, 1]`` float32 (``x / 255``, exact for uint8), optionally flipped, triggered, and
normalised:

    x = ((trigger(flip(u / 255)) - mean) / std)

:class:`DeviceTrigger` applies a :class:`~backdoor_curves.attacks.triggers.Trigger` to
float32 tensors with exactly the numpy formulas (badnet: replace the patch by the source
class's pattern; invisible: add ``eps`` on the even/even grid and clip to ``[0, 1]``), so the
network sees bit-for-bit the images the numpy poisoning code would build.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from backdoor_curves.attacks.triggers import BadNetTrigger, InvisibleTrigger, Trigger

__all__ = ["DeviceTrigger", "TriggeredImages"]


class DeviceTrigger:
    """A trigger applied to float32 image tensors (see the module docstring).

    Parameters
    ----------
    trigger : Trigger
        A built badnet or invisible trigger.
    """

    def __init__(self, trigger: Trigger) -> None:
        self.trigger = trigger
        self._patterns: torch.Tensor | None = None
        self._additive: torch.Tensor | None = None
        if isinstance(trigger, BadNetTrigger):
            self._patterns = torch.from_numpy(np.array(trigger.patterns, dtype=np.float32))
        elif isinstance(trigger, InvisibleTrigger):
            self._additive = torch.from_numpy(trigger.pattern)
        else:
            raise ValueError(f"unsupported trigger type {type(trigger).__name__}")

    def apply(self, X: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """Return triggered copies of ``X``.

        Parameters
        ----------
        X : torch.Tensor of shape (n, C, H, W), float32
            Pixels in ``[0, 1]``.
        source : torch.Tensor of shape (n,), int64
            Source class of each image (picks the badnet pattern).

        Returns
        -------
        torch.Tensor
            Same shape and device.
        """
        if self._patterns is not None:
            trigger = self.trigger
            assert isinstance(trigger, BadNetTrigger)
            (row, col), size = trigger.origin, trigger.spec.size
            assert size is not None
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
