r"""Backdoor poisoning of the user's own image arrays, in their shape and value range.

Images are arrays of shape ``(n, H, W)`` or ``(n, C, H, W)`` with pixels in a value range
``[low, high]`` given explicitly (``(0, 16)`` for scikit-learn's digits, ``(0, 255)`` for 8-bit
images); labels are any values ``np.unique`` sorts. A trigger is one of

- a :class:`~backdoor_curves.attacks.triggers.TriggerSpec` of this package (badnet patch or
  invisible grid), built for the images' shape with one badnet pattern per class (classes in
  sorted order) from the seed. Its pixel values in [0, 1] map linearly onto the range: a
  badnet value ``t`` becomes ``low + t (high - low)``, the invisible amplitude ``eps`` becomes
  ``eps (high - low)``; a built :class:`~backdoor_curves.attacks.triggers.Trigger` is used as it is;
- a :class:`MaskTrigger`: ``x' = (1 - M) x + M p`` for a mask ``M`` and a pattern ``p`` in the
  images' own range;
- a function ``f(images, labels) -> images`` on ``(m, *image_shape)`` copies in the images'
  own range and their source labels.

Poisoning follows the threat model of :mod:`backdoor_curves.attacks.poisoning`: a fraction of
the eligible points, drawn uniformly, is *replaced* by triggered copies relabelled with the
target (``"next"``: the next class in sorted order, cyclically, so a binary problem swaps its
classes; or one fixed class, whose own points are then not eligible). With a ``TriggerSpec``
and the same seed the choice and the images are those of
:func:`~backdoor_curves.attacks.poisoning.poison_training_set` (the patterns are drawn first,
then the poisons). Pixels outside the trigger are copied unchanged; floating images keep their
dtype, others become float64. Nothing given is modified; the arrays returned are read-only.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from backdoor_curves.attacks.poisoning import TargetPolicy
from backdoor_curves.attacks.triggers import Trigger, TriggerSpec

__all__ = ["ImageTrigger", "MaskTrigger", "PoisonedData", "backdoor_test_set", "poison"]

TriggerFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class MaskTrigger:
    """A trigger given as a mask and a pattern, applied by replacement ``x' = (1 - M) x + M p``.

    Parameters
    ----------
    mask : array-like of bool
        Pixels the trigger replaces; it must broadcast to the image shape (an ``(H, W)`` mask
        covers every channel of ``(C, H, W)`` images).
    pattern : array-like of float
        Replacement values, in the images' value range, broadcasting to the image shape.
    """

    mask: np.ndarray
    pattern: np.ndarray

    def __post_init__(self) -> None:
        mask, pattern = np.array(self.mask), np.array(self.pattern, dtype=np.float64)
        if mask.dtype != np.bool_ or not mask.any():
            raise ValueError(f"mask must be a bool array with a True pixel, got {mask.dtype}")
        if not np.isfinite(pattern).all():
            raise ValueError("pattern must hold finite values")
        try:
            np.broadcast_shapes(mask.shape, pattern.shape)
        except ValueError:
            raise ValueError(
                f"mask {mask.shape} and pattern {pattern.shape} do not broadcast together"
            ) from None
        mask.setflags(write=False)
        pattern.setflags(write=False)
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "pattern", pattern)


@dataclass(frozen=True, eq=False)
class ImageTrigger:
    """A trigger made ready for images of one shape, value range and set of classes.

    What :func:`poison` builds (``PoisonedData.trigger``); pass it to
    :func:`backdoor_test_set` so that the test points get the same patterns.

    Attributes
    ----------
    trigger : Trigger, MaskTrigger or callable
    image_shape : tuple of int
        ``(H, W)`` or ``(C, H, W)``.
    value_range : tuple of float
        ``(low, high)``.
    classes : ndarray
        The labels, sorted; a badnet trigger uses pattern ``k`` for ``classes[k]``.
    """

    trigger: Trigger | MaskTrigger | TriggerFunction
    image_shape: tuple[int, ...]
    value_range: tuple[float, float]
    classes: np.ndarray

    def apply(self, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Triggered copies of ``images`` (m, *image_shape), floating, of source ``labels`` (m,).

        Raises
        ------
        ValueError
            If the trigger's output leaves the value range or changes the shape.
        """
        if isinstance(self.trigger, Trigger):
            triggered = self._apply_scaled(self.trigger, images, labels)
        elif isinstance(self.trigger, MaskTrigger):
            shape = (len(images), *self.image_shape)
            mask = np.broadcast_to(self.trigger.mask, shape)
            triggered = np.where(mask, self.trigger.pattern, images).astype(images.dtype)
        else:
            triggered = np.asarray(self.trigger(images.copy(), labels.copy()))
            if triggered.shape != images.shape:
                raise ValueError(
                    f"the trigger function returned shape {triggered.shape} for images of "
                    f"shape {images.shape}; it must return the same shape"
                )
            triggered = triggered.astype(images.dtype)
        _check_range(triggered, self.value_range, "the triggered images")
        return triggered

    def _apply_scaled(self, trigger: Trigger, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Apply a [0, 1] trigger of this package on the range ``[low, high]``, mask only."""
        low, high = self.value_range
        channels_first = images.reshape(len(images), *trigger.image_shape)
        scaled = (channels_first.astype(np.float64) - low) / (high - low)
        triggered = trigger.apply(scaled, np.searchsorted(self.classes, labels))
        out = channels_first.copy()
        # low + (high - low) t may round one ulp past high: clip back into the range.
        mapped = np.clip(low + (high - low) * triggered[:, trigger.mask], low, high)
        out[:, trigger.mask] = mapped.astype(out.dtype)
        return out.reshape(images.shape)


@dataclass(frozen=True, eq=False)
class PoisonedData:
    """A poisoned training set; every array is read-only.

    Attributes
    ----------
    X : ndarray of shape (n, *image_shape)
        Images after poisoning.
    y : ndarray of shape (n,)
        Labels after poisoning (targets on the poisons).
    is_poison : ndarray of shape (n,), bool
        True on the rows replaced by triggered copies.
    trigger : ImageTrigger
        The trigger applied; pass it to :func:`backdoor_test_set`.
    source_labels : ndarray of shape (n,)
        Labels before poisoning.
    """

    X: np.ndarray
    y: np.ndarray
    is_poison: np.ndarray
    trigger: ImageTrigger
    source_labels: np.ndarray


def poison(
    X: object,
    y: object,
    trigger: TriggerSpec | Trigger | MaskTrigger | TriggerFunction,
    fraction: float,
    *,
    value_range: tuple[float, float],
    target: object = "next",
    seed: int | np.random.Generator,
) -> PoisonedData:
    """Replace a fraction of the eligible training images by triggered, relabelled copies.

    Exactly ``round(fraction * n_eligible)`` points are drawn without replacement (module
    docstring for the trigger kinds and the target rule).

    Parameters
    ----------
    X : array-like of shape (n, H, W) or (n, C, H, W)
        Clean training images, pixels in ``value_range``.
    y : array-like of shape (n,)
        Their labels (at least two classes).
    trigger : TriggerSpec, Trigger, MaskTrigger or callable
    fraction : float
        Poisoning fraction in (0, 1) of the eligible points.
    value_range : tuple of float
        ``(low, high)``, ``low < high``: the range of the pixel values.
    target : "next" or a label of y
        Target rule.
    seed : int or numpy.random.Generator
        Draws the badnet patterns, then the poisons.

    Returns
    -------
    PoisonedData
    """
    images, labels, value_range = _check_images(X, y, value_range)
    classes = _classes(labels)
    policy = _policy(target, classes)
    source = np.searchsorted(classes, labels)
    candidates = np.flatnonzero(policy.candidates(source))
    n_poison = round(_check_fraction(fraction) * len(candidates))
    if n_poison == 0:
        raise ValueError(
            f"fraction={fraction} of {len(candidates)} eligible points rounds to 0 poisons; "
            "use a larger fraction or more points"
        )
    # The arguments are checked before the first draw, so refusing one leaves a caller's
    # generator as it was (only the trigger's output is checked after the draws).
    rng = _generator(seed)
    built = _build(trigger, images.shape[1:], value_range, classes, rng)
    chosen = np.sort(rng.choice(candidates, size=n_poison, replace=False))
    X_poisoned = images.copy()
    X_poisoned[chosen] = built.apply(images[chosen], labels[chosen])
    y_poisoned = labels.copy()
    y_poisoned[chosen] = classes[policy.targets(source[chosen], len(classes))]
    is_poison = np.zeros(len(labels), dtype=bool)
    is_poison[chosen] = True
    return PoisonedData(
        X=_read_only(X_poisoned),
        y=_read_only(y_poisoned),
        is_poison=_read_only(is_poison),
        trigger=built,
        source_labels=_read_only(labels.copy()),
    )


def backdoor_test_set(
    X: object,
    y: object,
    trigger: ImageTrigger | Trigger | MaskTrigger | TriggerFunction,
    *,
    value_range: tuple[float, float],
    target: object = "next",
) -> tuple[np.ndarray, np.ndarray]:
    """Every eligible test image with its source class's trigger, and its target label.

    Parameters
    ----------
    X : array-like of shape (n, H, W) or (n, C, H, W)
        Clean test images, pixels in ``value_range``.
    y : array-like of shape (n,)
        Their labels.
    trigger : ImageTrigger, Trigger, MaskTrigger or callable
        ``PoisonedData.trigger`` (the same patterns and class order as the poisons), or a
        trigger that draws nothing. A ``TriggerSpec`` is refused: it would draw new patterns.
    value_range : tuple of float
        ``(low, high)``, as for :func:`poison`.
    target : "next" or a label
        The target rule used for poisoning; with a fixed class its test points are left out.

    Returns
    -------
    X_backdoor : ndarray of shape (m, *image_shape)
        Triggered copies of the eligible images, in their order (read-only).
    y_backdoor : ndarray of shape (m,)
        Their target labels (read-only).
    """
    if isinstance(trigger, TriggerSpec):
        raise TypeError(
            "trigger is a TriggerSpec, which would draw new patterns; pass "
            "PoisonedData.trigger, the trigger poison() built"
        )
    images, labels, value_range = _check_images(X, y, value_range)
    if isinstance(trigger, ImageTrigger):
        built = trigger
        if built.image_shape != images.shape[1:] or built.value_range != value_range:
            raise ValueError(
                f"the trigger was built for images {built.image_shape} in {built.value_range}, "
                f"got {images.shape[1:]} in {value_range}"
            )
    else:
        built = _build(trigger, images.shape[1:], value_range, _classes(labels), None)
    unknown = np.setdiff1d(labels, built.classes)
    if unknown.size:
        raise ValueError(f"y holds labels {unknown.tolist()} the trigger was not built for")
    policy = _policy(target, built.classes)
    source = np.searchsorted(built.classes, labels)
    eligible = policy.candidates(source)
    if not eligible.any():
        raise ValueError(f"no test point is eligible: every label is the target {target!r}")
    X_backdoor = built.apply(images[eligible], labels[eligible])
    y_backdoor = built.classes[policy.targets(source[eligible], len(built.classes))]
    return _read_only(X_backdoor), _read_only(y_backdoor)


# --- validation and building ------------------------------------------------------------------
def _check_images(
    X: object, y: object, value_range: object
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Images as a floating array (not copied when already floating), labels, the range."""
    images = np.asarray(X)
    if images.ndim not in (3, 4) or images.shape[0] == 0:
        raise ValueError(
            f"X must hold images of shape (n, H, W) or (n, C, H, W), got shape {images.shape}"
        )
    real = np.issubdtype(images.dtype, np.number) and not np.issubdtype(
        images.dtype, np.complexfloating
    )
    if not real:
        raise ValueError(f"X must hold real numbers, got dtype {images.dtype}")
    if not np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float64)
    labels = np.asarray(y)
    if labels.shape != images.shape[:1]:
        raise ValueError(f"y has shape {labels.shape}, expected ({images.shape[0]},)")
    checked = _check_value_range(value_range)
    _check_range(images, checked, "X")
    return images, labels, checked


def _check_value_range(value_range: object) -> tuple[float, float]:
    if (
        isinstance(value_range, tuple | list)
        and len(value_range) == 2
        and all(isinstance(v, numbers.Real) and np.isfinite(float(v)) for v in value_range)
        and float(value_range[0]) < float(value_range[1])
    ):
        return float(value_range[0]), float(value_range[1])
    raise ValueError(f"value_range must be (low, high) with finite low < high, got {value_range!r}")


def _check_range(images: np.ndarray, value_range: tuple[float, float], what: str) -> None:
    low, high = value_range
    if not np.isfinite(images).all():
        raise ValueError(f"{what} hold non-finite values")
    if images.size and (images.min() < low or images.max() > high):
        raise ValueError(
            f"{what} hold values in [{float(images.min()):g}, {float(images.max()):g}], outside "
            f"value_range=({low:g}, {high:g})"
        )


def _classes(labels: np.ndarray) -> np.ndarray:
    classes = np.unique(labels)
    if classes.size < 2:
        raise ValueError(f"y must hold at least two classes, got {classes.tolist()}")
    return classes


def _policy(target: object, classes: np.ndarray) -> TargetPolicy:
    """Return the target rule over class indices: ``"next"`` or the index of a label of ``y``."""
    if isinstance(target, str) and target == "next":
        return TargetPolicy.next()
    position = np.flatnonzero(classes == target) if np.isscalar(target) else np.empty(0)
    if position.size != 1:
        raise ValueError(f"target={target!r} is not a class of y {classes.tolist()} nor 'next'")
    return TargetPolicy.fixed(int(position[0]))


def _check_fraction(fraction: object) -> float:
    if (
        isinstance(fraction, numbers.Real)
        and not isinstance(fraction, bool)
        and 0.0 < float(fraction) < 1.0
    ):
        return float(fraction)
    raise ValueError(f"fraction must be a number in (0, 1), got {fraction!r}")


def _generator(seed: object) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(
                f"seed must be an integer >= 0 or a numpy.random.Generator, got {seed}"
            )
        return np.random.default_rng(int(seed))
    raise TypeError(f"seed must be an int or a numpy.random.Generator, got {type(seed).__name__}")


def _build(
    trigger: object,
    image_shape: tuple[int, ...],
    value_range: tuple[float, float],
    classes: np.ndarray,
    rng: np.random.Generator | None,
) -> ImageTrigger:
    """Make ``trigger`` an :class:`ImageTrigger` for these images (``rng`` builds a spec)."""
    channels_first = image_shape if len(image_shape) == 3 else (1, *image_shape)
    if isinstance(trigger, TriggerSpec):
        assert rng is not None  # backdoor_test_set refuses specs
        trigger = trigger.build(channels_first, len(classes), rng)
    if isinstance(trigger, Trigger):
        if trigger.image_shape != channels_first or trigger.n_sources < len(classes):
            raise ValueError(
                f"the trigger was built for {trigger.n_sources} classes of images "
                f"{trigger.image_shape}, got {len(classes)} classes of images {channels_first}"
            )
    elif isinstance(trigger, MaskTrigger):
        try:
            np.broadcast_to(trigger.mask, image_shape)
            np.broadcast_to(trigger.pattern, image_shape)
        except ValueError:
            raise ValueError(
                f"mask {trigger.mask.shape} and pattern {trigger.pattern.shape} do not "
                f"broadcast to the image shape {image_shape}"
            ) from None
    elif not callable(trigger):
        raise TypeError(
            f"trigger must be a TriggerSpec, a Trigger, a MaskTrigger or a function "
            f"f(images, labels) -> images, got {type(trigger).__name__}"
        )
    return ImageTrigger(trigger, tuple(image_shape), value_range, classes)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array
