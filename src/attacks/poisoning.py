"""Backdoor poisoning of a training set and construction of the backdoor test set.

Inside:

- :class:`TargetPolicy`: which label a triggered point receives, ``"next"``
  (``y -> (y + 1) mod K``; for a binary pair this flips both classes) or a fixed class ``t``
  (then only points with ``y != t`` are eligible sources).
- :class:`PoisonedSet`: the immutable result of poisoning: poisoned images and labels, the
  explicit boolean poison mask, the original labels and the trigger.
- :func:`poison_training_set`: replace a fraction ``p`` of the eligible training points by
  triggered copies relabelled with the target.
- :func:`backdoor_test_set`: every eligible test point with its source-class trigger and its
  target label; the backdoor accuracy is measured on it.

Poison membership is always the explicit ``is_poison`` mask, never encoded in the labels.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from backdoor_curves.attacks.triggers import Trigger

__all__ = ["NEXT_CLASS", "PoisonedSet", "TargetPolicy", "backdoor_test_set", "poison_training_set"]


def _check_n_classes(n_classes: object) -> int:
    """Return ``n_classes`` as an int >= 2, or raise."""
    if not isinstance(n_classes, numbers.Integral) or isinstance(n_classes, bool) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2; got n_classes={n_classes!r}")
    return int(n_classes)


def _check_labels(y: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Return ``y`` as a 1-D int64 array of labels (in ``0 .. n_classes - 1`` if given)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be a 1-D array; got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers; got dtype {y.dtype}")
    y = y.astype(np.int64, copy=False)
    if n_classes is not None and y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = np.unique(y[(y < 0) | (y >= n_classes)])
        raise ValueError(f"labels must be in 0..{n_classes - 1}; got {bad.tolist()}")
    return y


def _readonly(array: np.ndarray) -> np.ndarray:
    """Read-only view of ``array`` (the caller's array keeps its own flags)."""
    view = array.view()
    view.setflags(write=False)
    return view


@dataclass(frozen=True)
class TargetPolicy:
    """Rule giving the backdoor target label of a source label.

    Parameters
    ----------
    fixed_class : int or None
        None means ``"next"``: ``y -> (y + 1) mod K``, every point is an eligible source.
        An int ``t`` means every source goes to ``t``, and only points with ``y != t`` are
        eligible (a point of the target class cannot be "moved" to it).
    """

    fixed_class: int | None = None

    def __post_init__(self) -> None:
        t = self.fixed_class
        if t is None:
            return
        if not isinstance(t, numbers.Integral) or isinstance(t, bool) or t < 0:
            raise ValueError(f"fixed target class must be an integer >= 0; got {t!r}")
        object.__setattr__(self, "fixed_class", int(t))

    @classmethod
    def next(cls) -> TargetPolicy:
        """Policy ``y -> (y + 1) mod K``."""
        return cls(None)

    @classmethod
    def fixed(cls, target: int) -> TargetPolicy:
        """Policy sending every non-target source to class ``target``."""
        return cls(target)

    @classmethod
    def parse(cls, text: str) -> TargetPolicy:
        """Read a policy from text: ``"next"`` or a non-negative integer such as ``"0"``."""
        cleaned = str(text).strip().lower()
        if cleaned == "next":
            return cls.next()
        if cleaned.isdigit():
            return cls.fixed(int(cleaned))
        raise ValueError(
            f"unknown target policy {text!r}; valid values are 'next' or a class index such as '0'"
        )

    @property
    def label(self) -> str:
        """``"next"`` or the fixed class index as text (the inverse of :meth:`parse`)."""
        return "next" if self.fixed_class is None else str(self.fixed_class)

    def targets(self, y: np.ndarray, n_classes: int) -> np.ndarray:
        """Target label of each source label.

        Parameters
        ----------
        y : numpy.ndarray of shape (n,), integer
            Source labels in ``0 .. n_classes - 1``.
        n_classes : int
            Number of classes ``K >= 2``.

        Returns
        -------
        numpy.ndarray of shape (n,), int64
            ``(y + 1) % K`` for ``"next"``; ``t`` everywhere for a fixed class (use
            :meth:`candidates` to drop the points already in ``t``).
        """
        n_classes = _check_n_classes(n_classes)
        y = _check_labels(y, n_classes)
        if self.fixed_class is None:
            return (y + 1) % n_classes
        if self.fixed_class >= n_classes:
            raise ValueError(
                f"fixed target class {self.fixed_class} is out of range for "
                f"n_classes={n_classes} (valid: 0..{n_classes - 1})"
            )
        return np.full(y.shape, self.fixed_class, dtype=np.int64)

    def candidates(self, y: np.ndarray) -> np.ndarray:
        """Boolean mask of the points eligible as poison sources, shape ``(n,)``.

        All points for ``"next"``; the points with ``y != t`` for a fixed class ``t``.
        """
        y = _check_labels(y)
        if self.fixed_class is None:
            return np.ones(y.shape, dtype=bool)
        return y != self.fixed_class


@dataclass(frozen=True, eq=False)
class PoisonedSet:
    """A poisoned training set; every array is read-only.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, C, H, W)
        Training images after poisoning, pixels in ``[0, 1]``.
    y : numpy.ndarray of shape (n,), int64
        Training labels after poisoning (targets on the poison rows).
    is_poison : numpy.ndarray of shape (n,), bool
        True on the rows that were replaced by triggered copies.
    trigger : Trigger
        Trigger applied to the poison rows.
    source_labels : numpy.ndarray of shape (n,), int64
        Labels before poisoning (equal to ``y`` on the clean rows).
    """

    X: np.ndarray
    y: np.ndarray
    is_poison: np.ndarray
    trigger: Trigger
    source_labels: np.ndarray

    def __post_init__(self) -> None:
        n_samples = len(self.X)
        for name in ("y", "is_poison", "source_labels"):
            shape = np.shape(getattr(self, name))
            if shape != (n_samples,):
                raise ValueError(
                    f"PoisonedSet.{name} must have shape ({n_samples},) to match X; got {shape}"
                )
        mask_dtype = np.asarray(self.is_poison).dtype
        if mask_dtype != np.bool_:
            raise ValueError(f"PoisonedSet.is_poison must be a bool mask; got dtype {mask_dtype}")
        for name in ("X", "y", "is_poison", "source_labels"):
            object.__setattr__(self, name, _readonly(np.asarray(getattr(self, name))))

    @property
    def poison_indices(self) -> np.ndarray:
        """Indices of the poison rows, increasing, shape ``(n_poison,)``."""
        return np.flatnonzero(self.is_poison)

    @property
    def n_poison(self) -> int:
        """Number of poison rows."""
        return int(np.count_nonzero(self.is_poison))


NEXT_CLASS = TargetPolicy.next()
"""The default policy ``y -> (y + 1) mod K`` (a binary pair swaps its two classes)."""


def _check_fraction(fraction: object) -> float:
    """Return the poisoning fraction as a float in ``(0, 1)``, or raise."""
    if (
        not isinstance(fraction, numbers.Real)
        or isinstance(fraction, bool)
        or not 0.0 < float(fraction) < 1.0
    ):
        raise ValueError(f"poisoning fraction must be a number in (0, 1); got {fraction!r}")
    return float(fraction)


def _check_images_and_labels(X: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Check that ``X`` is a 4-D batch with one label per image; return ``y`` as int64."""
    X_shape = np.shape(X)
    if len(X_shape) != 4:
        raise ValueError(f"images must have shape (n, C, H, W); got shape {X_shape}")
    y = _check_labels(y, n_classes)
    if len(y) != X_shape[0]:
        raise ValueError(f"got {X_shape[0]} images but {len(y)} labels; they must match")
    return y


def poison_training_set(
    X: np.ndarray,
    y: np.ndarray,
    trigger: Trigger,
    fraction: float,
    rng: np.random.Generator,
    *,
    n_classes: int,
    policy: TargetPolicy = NEXT_CLASS,
) -> PoisonedSet:
    """Replace a fraction of the eligible training points by triggered, relabelled copies.

    Exactly ``round(fraction * n_candidates)`` points (Python's ``round``, halves to even) are
    drawn uniformly without replacement among the eligible ones (see
    :meth:`TargetPolicy.candidates`). Each is replaced in place, keeping the set size, by its
    triggered copy (pattern of its source class) labelled with its target.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, C, H, W), floating point
        Clean training images, pixels in ``[0, 1]``. Not modified.
    y : numpy.ndarray of shape (n,), integer
        Clean labels in ``0 .. n_classes - 1``. Not modified.
    trigger : Trigger
        Trigger built for ``(C, H, W)`` and at least ``n_classes`` source classes.
    fraction : float
        Poisoning fraction ``p`` in ``(0, 1)``, relative to the number of eligible points.
    rng : numpy.random.Generator
        Chooses the poison points (seed it with the experiment seed).
    n_classes : int
        Number of classes ``K``.
    policy : TargetPolicy, default NEXT_CLASS
        Target rule.

    Returns
    -------
    PoisonedSet
        Read-only arrays; the rows outside ``is_poison`` equal the input rows byte for byte.
    """
    n_classes = _check_n_classes(n_classes)
    fraction = _check_fraction(fraction)
    y = _check_images_and_labels(X, y, n_classes)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)); "
            f"got {type(rng).__name__}"
        )
    targets = policy.targets(y, n_classes)
    candidates = np.flatnonzero(policy.candidates(y))
    n_poison = round(fraction * len(candidates))
    if n_poison == 0:
        raise ValueError(
            f"poisoning fraction {fraction} of {len(candidates)} eligible points rounds to "
            "0 poisons; use a larger fraction or more training points"
        )
    # Sorted so that the rows are poisoned in index order; the choice itself is from rng.
    chosen = np.sort(rng.choice(candidates, size=n_poison, replace=False))
    X_poisoned = np.array(X, copy=True)
    X_poisoned[chosen] = trigger.apply(X_poisoned[chosen], y[chosen])
    y_poisoned = y.copy()
    y_poisoned[chosen] = targets[chosen]
    is_poison = np.zeros(len(y), dtype=bool)
    is_poison[chosen] = True
    return PoisonedSet(
        X=X_poisoned,
        y=y_poisoned,
        is_poison=is_poison,
        trigger=trigger,
        source_labels=y.copy(),
    )


def backdoor_test_set(
    X: np.ndarray,
    y: np.ndarray,
    trigger: Trigger,
    *,
    n_classes: int,
    policy: TargetPolicy = NEXT_CLASS,
) -> tuple[np.ndarray, np.ndarray]:
    """Every eligible test point with its source-class trigger and its target label.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, C, H, W), floating point
        Clean test images, pixels in ``[0, 1]``. Not modified.
    y : numpy.ndarray of shape (n,), integer
        Clean test labels in ``0 .. n_classes - 1``.
    trigger : Trigger
        The trigger used for poisoning.
    n_classes : int
        Number of classes ``K``.
    policy : TargetPolicy, default NEXT_CLASS
        Target rule. With a fixed class ``t`` the test
        points of class ``t`` are left out.

    Returns
    -------
    X_backdoor : numpy.ndarray of shape (m, C, H, W)
        Triggered copies of the eligible points, in their original order (read-only).
    y_target : numpy.ndarray of shape (m,), int64
        Their target labels (read-only). Accuracy against them is the attack success rate.
    """
    n_classes = _check_n_classes(n_classes)
    y = _check_images_and_labels(X, y, n_classes)
    targets = policy.targets(y, n_classes)
    eligible = policy.candidates(y)
    if not eligible.any():
        raise ValueError(
            f"no test point is eligible for the backdoor test set under target policy "
            f"{policy.label!r} ({len(y)} points, all of the target class)"
        )
    X_backdoor = trigger.apply(np.asarray(X)[eligible], y[eligible])
    return _readonly(X_backdoor), _readonly(targets[eligible].copy())
