"""Backdoor triggers: their configuration and their application to images.

Inside:

- :class:`TriggerKind`, :class:`Position`: the names a user may type (defined, with the
  patch geometry, in :mod:`backdoor_curves.attacks.trigger_geometry`).
- :class:`TriggerSpec`: a frozen, validated, hashable trigger configuration; ``build`` turns it
  into a concrete trigger for one image shape and one set of source classes.
- :class:`Trigger`: the interface every trigger offers (``mask``, ``apply``).
- :class:`BadNetTrigger`: an ``s x s`` patch of i.i.d. uniform values in ``[low, high]``, one
  distinct pattern per source class, applied by replacement
  ``x' = (1 - M) * x + M * t[y_source]``.
- :class:`InvisibleTrigger`: a full-image grid of amplitude ``eps`` on the pixels whose row and
  column are both even (all channels), applied additively then clipped,
  ``x' = clip(x + t, 0, 1)``.

Images are arrays of shape ``(n, C, H, W)``, floating point, with pixels in ``[0, 1]``.
Source labels are integers in ``{0, ..., n_sources - 1}``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from backdoor_curves.attacks.trigger_geometry import (
    Position,
    TriggerKind,
    check_image_shape,
    is_int,
    is_real,
    parse_enum,
    parse_position,
    patch_origin,
)

__all__ = [
    "BadNetTrigger",
    "InvisibleTrigger",
    "Position",
    "Trigger",
    "TriggerKind",
    "TriggerSpec",
]

DEFAULT_INVISIBLE_EPS = 75 / 255
"""Default amplitude of the invisible trigger (the paper's CIFAR-10 setting)."""


@dataclass(frozen=True)
class TriggerSpec:
    """Configuration of a backdoor trigger, validated once at construction.

    Prefer the factories :meth:`badnet` and :meth:`invisible`. Strings are accepted for ``kind``
    and ``position`` and converted to the enums; an unknown name raises a ValueError listing the
    valid ones.

    Parameters
    ----------
    kind : TriggerKind or str
        ``"badnet"`` or ``"invisible"``.
    size : int or None
        Side ``s`` of the square badnet patch, in pixels (``s >= 1``). Required for badnet,
        must be None for invisible.
    eps : float or None
        Amplitude of the invisible trigger, in ``(0, 1]`` pixel units. None for invisible means
        ``75/255``; must be None for badnet.
    position : Position, str or tuple of int
        Where the badnet patch goes: a corner, or the explicit ``(row, col)`` of the patch's
        top-left pixel. Badnet only (invisible covers the whole image).
    low, high : float
        Box ``[low, high]`` from which badnet pattern values are drawn,
        ``0 <= low < high <= 1``. Badnet only.
    """

    kind: TriggerKind
    size: int | None = None
    eps: float | None = None
    position: Position | tuple[int, int] = Position.BOTTOM_RIGHT
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        # Frozen dataclass: normalised values are written with object.__setattr__.
        kind = parse_enum(TriggerKind, self.kind, "trigger kind")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "position", parse_position(self.position))
        if kind is TriggerKind.BADNET:
            self._validate_badnet()
        else:
            self._validate_invisible()

    def _validate_badnet(self) -> None:
        """Check and normalise the badnet fields."""
        if self.size is None:
            raise ValueError("a badnet trigger needs a patch size (size >= 1); got size=None")
        if not is_int(self.size) or self.size < 1:
            raise ValueError(f"badnet patch size must be an integer >= 1; got size={self.size!r}")
        if self.eps is not None:
            raise ValueError(f"eps applies to invisible triggers only; got eps={self.eps!r}")
        for name in ("low", "high"):
            value = getattr(self, name)
            if not is_real(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"badnet {name} must be a number in [0, 1]; got {name}={value!r}")
        if self.low >= self.high:
            raise ValueError(
                f"badnet box needs low < high; got low={self.low!r}, high={self.high!r}"
            )
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))

    def _validate_invisible(self) -> None:
        """Check and normalise the invisible fields."""
        if self.size is not None:
            raise ValueError(f"size applies to badnet triggers only; got size={self.size!r}")
        if self.position != Position.BOTTOM_RIGHT or (self.low, self.high) != (0.0, 1.0):
            raise ValueError(
                "position, low and high apply to badnet triggers only; the invisible trigger "
                f"covers the whole image (got position={self.position!r}, "
                f"low={self.low!r}, high={self.high!r})"
            )
        eps = DEFAULT_INVISIBLE_EPS if self.eps is None else self.eps
        if not is_real(eps) or not 0.0 < eps <= 1.0:
            raise ValueError(f"invisible trigger eps must be a number in (0, 1]; got eps={eps!r}")
        object.__setattr__(self, "eps", float(eps))

    @classmethod
    def badnet(
        cls,
        size: int,
        position: Position | str | tuple[int, int] = Position.BOTTOM_RIGHT,
        low: float = 0.0,
        high: float = 1.0,
    ) -> TriggerSpec:
        """Badnet patch of side ``size`` at ``position``, values drawn in ``[low, high]``."""
        return cls(
            TriggerKind.BADNET, size=size, position=parse_position(position), low=low, high=high
        )

    @classmethod
    def invisible(cls, eps: float = DEFAULT_INVISIBLE_EPS) -> TriggerSpec:
        """Invisible grid trigger of amplitude ``eps`` (75/255 by default; also 10/255)."""
        return cls(TriggerKind.INVISIBLE, eps=eps)

    def build(
        self, image_shape: tuple[int, int, int], n_sources: int, rng: np.random.Generator
    ) -> Trigger:
        """Make the concrete trigger for images of ``image_shape`` and ``n_sources`` classes.

        Parameters
        ----------
        image_shape : tuple of int
            ``(C, H, W)`` of the images the trigger will be applied to.
        n_sources : int
            Number of source classes (labels ``0 .. n_sources - 1``). A badnet trigger draws one
            distinct pattern per source class.
        rng : numpy.random.Generator
            Source of the badnet patterns (seed it with the experiment seed). The invisible
            trigger is deterministic and draws nothing.

        Returns
        -------
        Trigger
            A :class:`BadNetTrigger` or an :class:`InvisibleTrigger`.
        """
        shape = check_image_shape(image_shape)
        if not is_int(n_sources) or n_sources < 1:
            raise ValueError(f"n_sources must be an integer >= 1; got n_sources={n_sources!r}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"rng must be a numpy.random.Generator (np.random.default_rng(seed)); "
                f"got {type(rng).__name__}"
            )
        if self.kind is TriggerKind.INVISIBLE:
            return InvisibleTrigger(spec=self, image_shape=shape, n_sources=int(n_sources))
        assert self.size is not None  # guaranteed by __post_init__
        origin = patch_origin(self.position, self.size, shape)
        channels = shape[0]
        patterns = rng.uniform(
            self.low, self.high, size=(int(n_sources), channels, self.size, self.size)
        ).astype(np.float32)
        return BadNetTrigger(spec=self, image_shape=shape, patterns=patterns, origin=origin)


class Trigger(ABC):
    """A trigger built for one image shape and one set of source classes.

    Attributes
    ----------
    spec : TriggerSpec
        The configuration it was built from.
    image_shape : tuple of int
        ``(C, H, W)`` of the images it applies to.
    n_sources : int
        Number of source classes; ``apply`` accepts labels ``0 .. n_sources - 1``.
    """

    spec: TriggerSpec
    image_shape: tuple[int, int, int]
    n_sources: int

    @property
    @abstractmethod
    def mask(self) -> np.ndarray:
        """Pixels the trigger may change, a ``(C, H, W)`` bool array."""

    def apply(self, X: np.ndarray, source: np.ndarray) -> np.ndarray:
        """Return triggered copies of the images; ``X`` is never modified.

        Parameters
        ----------
        X : numpy.ndarray of shape (n, C, H, W), floating point
            Images with pixels in ``[0, 1]``; ``(C, H, W)`` must equal ``image_shape``.
        source : numpy.ndarray of shape (n,), integer
            Source class of each image, in ``0 .. n_sources - 1``; selects the pattern of
            class-dependent triggers.

        Returns
        -------
        numpy.ndarray of shape (n, C, H, W)
            New array, same dtype as ``X``, pixels in ``[0, 1]``.
        """
        X = self._check_images(X)
        source = self._check_source(source, len(X))
        return self._apply_checked(X, source)

    @abstractmethod
    def _apply_checked(self, X: np.ndarray, source: np.ndarray) -> np.ndarray:
        """Apply the trigger to inputs already validated by :meth:`apply`."""

    def _check_images(self, X: np.ndarray) -> np.ndarray:
        """Validate the image batch: shape, floating dtype, pixel range."""
        X = np.asarray(X)
        if X.ndim != 4 or X.shape[1:] != self.image_shape:
            raise ValueError(
                f"images must have shape (n, {', '.join(map(str, self.image_shape))}) for this "
                f"trigger; got shape {X.shape}"
            )
        if not np.issubdtype(X.dtype, np.floating):
            raise ValueError(
                f"images must be floating point with pixels in [0, 1]; got dtype {X.dtype}"
            )
        if X.size and not (X.min() >= 0.0 and X.max() <= 1.0):
            raise ValueError(
                f"image pixels must lie in [0, 1]; got min {float(X.min()):g}, "
                f"max {float(X.max()):g}"
            )
        return X

    def _check_source(self, source: np.ndarray, n_samples: int) -> np.ndarray:
        """Validate the source labels: shape ``(n_samples,)``, integers in range."""
        source = np.asarray(source)
        if source.shape != (n_samples,):
            raise ValueError(
                f"source labels must have shape ({n_samples},) to match the images; "
                f"got shape {source.shape}"
            )
        if source.size == 0:
            return source.astype(np.intp)
        if not np.issubdtype(source.dtype, np.integer):
            raise ValueError(f"source labels must be integers; got dtype {source.dtype}")
        if source.min() < 0 or source.max() >= self.n_sources:
            bad = source[(source < 0) | (source >= self.n_sources)]
            raise ValueError(
                f"source labels must be in 0..{self.n_sources - 1} (the trigger was built for "
                f"{self.n_sources} source classes); got {np.unique(bad).tolist()}"
            )
        return source


def _readonly(array: np.ndarray) -> np.ndarray:
    """Read-only view of ``array`` (the caller's array keeps its own flags)."""
    view = array.view()
    view.setflags(write=False)
    return view


@dataclass(frozen=True, eq=False)
class BadNetTrigger(Trigger):
    """Square patch replacing pixels, with one random pattern per source class.

    ``x' = (1 - M) * x + M * t[y_source]``, where ``M`` is the patch mask (all channels) and
    ``t[k]`` the pattern of source class ``k``; the patch pixels are *replaced*, not added.

    Parameters
    ----------
    spec : TriggerSpec
        Badnet configuration.
    image_shape : tuple of int
        ``(C, H, W)``.
    patterns : numpy.ndarray of shape (n_sources, C, s, s), float32
        Pattern of each source class, values in ``[spec.low, spec.high]``. Stored read-only.
    origin : tuple of int
        ``(row, col)`` of the patch's top-left pixel.

    Attributes
    ----------
    n_sources : int
        Number of source classes, one pattern each (``len(patterns)``).
    """

    spec: TriggerSpec
    image_shape: tuple[int, int, int]
    patterns: np.ndarray = field(repr=False)
    origin: tuple[int, int]
    n_sources: int = field(init=False)

    def __post_init__(self) -> None:
        if self.spec.kind is not TriggerKind.BADNET:
            raise ValueError(
                f"BadNetTrigger needs a badnet spec; got kind {self.spec.kind.value!r}"
            )
        shape = check_image_shape(self.image_shape)
        object.__setattr__(self, "image_shape", shape)
        size = self.spec.size
        assert size is not None  # guaranteed by TriggerSpec
        # A private copy: nobody else holds a writable reference to the patterns.
        patterns = np.array(self.patterns, dtype=np.float32)
        if patterns.ndim != 4 or patterns.shape[1:] != (shape[0], size, size):
            raise ValueError(
                f"patterns must have shape (n_sources, {shape[0]}, {size}, {size}); "
                f"got {patterns.shape}"
            )
        if len(patterns) < 1:
            raise ValueError("patterns must hold at least one source class; got 0")
        object.__setattr__(self, "patterns", _readonly(patterns))
        object.__setattr__(self, "n_sources", len(patterns))
        origin = parse_position(self.origin)
        if not isinstance(origin, tuple):
            raise ValueError(f"origin must be an explicit (row, col); got {self.origin!r}")
        object.__setattr__(self, "origin", patch_origin(origin, size, shape))

    @property
    def _window(self) -> tuple[slice, slice]:
        """Row and column slices covered by the patch."""
        row, col = self.origin
        size = self.spec.size
        assert size is not None
        return slice(row, row + size), slice(col, col + size)

    @property
    def mask(self) -> np.ndarray:
        """Patch pixels, all channels, as a ``(C, H, W)`` bool array."""
        mask = np.zeros(self.image_shape, dtype=bool)
        rows, cols = self._window
        mask[:, rows, cols] = True
        return mask

    def _apply_checked(self, X: np.ndarray, source: np.ndarray) -> np.ndarray:
        """Replace the patch pixels of each image by its source class's pattern."""
        out = X.copy()
        rows, cols = self._window
        out[:, :, rows, cols] = self.patterns[source]
        return out


@dataclass(frozen=True, eq=False)
class InvisibleTrigger(Trigger):
    """Additive grid of amplitude ``eps`` on the even/even pixels, identical for every source.

    ``t[c, i, j] = eps`` if ``i`` and ``j`` are both even, else 0; ``x' = clip(x + t, 0, 1)``.

    Parameters
    ----------
    spec : TriggerSpec
        Invisible configuration.
    image_shape : tuple of int
        ``(C, H, W)``.
    n_sources : int
        Number of source classes accepted by :meth:`apply` (the pattern does not depend on it).
    """

    spec: TriggerSpec
    image_shape: tuple[int, int, int]
    n_sources: int

    def __post_init__(self) -> None:
        if self.spec.kind is not TriggerKind.INVISIBLE:
            raise ValueError(
                f"InvisibleTrigger needs an invisible spec; got kind {self.spec.kind.value!r}"
            )
        object.__setattr__(self, "image_shape", check_image_shape(self.image_shape))
        if not is_int(self.n_sources) or self.n_sources < 1:
            raise ValueError(f"n_sources must be an integer >= 1; got {self.n_sources!r}")

    @property
    def mask(self) -> np.ndarray:
        """Pixels whose row and column are both even, all channels, as ``(C, H, W)`` bool."""
        mask = np.zeros(self.image_shape, dtype=bool)
        mask[:, ::2, ::2] = True
        return mask

    @property
    def pattern(self) -> np.ndarray:
        """The additive pattern ``t``, shape ``(C, H, W)``, float32: ``eps`` on the mask, else 0."""
        assert self.spec.eps is not None  # set by TriggerSpec
        return self.mask.astype(np.float32) * np.float32(self.spec.eps)

    def _apply_checked(self, X: np.ndarray, source: np.ndarray) -> np.ndarray:
        """Add the grid and clip to ``[0, 1]``; ``source`` does not change the pattern."""
        shifted = X + self.pattern.astype(X.dtype)
        return np.clip(shifted, 0.0, 1.0, out=shifted)
