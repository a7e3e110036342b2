"""The inputs of a fit: their validation, and the immutable arrays a fit may keep by reference.

- :func:`check_fit_input`, :func:`check_beta_path`, :func:`check_C_path` validate what the
  models are given, with one-line errors naming the bad value;
- :func:`is_immutable` and :func:`read_only`: an array whose memory is a read-only buffer can
  never change, so a fit may keep it by reference; any other array is kept as an immutable
  copy (:func:`kept`). A read-only flag alone is no such promise (numpy lets the owner of the
  memory clear it again), so nothing here trusts one;
- :class:`FitData`, the data a fit saw: the key under which a model keeps the factorisations
  it reuses for :meth:`~backdoor_curves.classifiers.base.BinaryClassifier.weight_sensitivity`,
  and what says which training set a fitted model's coefficients index. Its arrays are
  immutable, so the identity of an array is the identity of the data: models fitted on one
  immutable array (a workspace's kernel matrices), and every copy of such a model, hold that
  very array (:meth:`FitData.same_inputs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from backdoor_curves.classifiers.losses import to_signed

__all__ = [
    "FitData",
    "check_C_path",
    "check_beta_path",
    "check_fit_input",
    "is_immutable",
    "kept",
    "read_only",
]


def check_fit_input(
    X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate training data; return ``X`` (float64, 2-D), signed ``y`` and weights.

    Raises
    ------
    ValueError
        On wrong shapes, non-finite inputs, negative weights, or when the points with
        positive weight do not contain both classes.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinite values")
    signed = to_signed(y)
    if signed.shape != (X.shape[0],):
        raise ValueError(f"y has shape {np.shape(y)}, expected ({X.shape[0]},)")
    if sample_weight is None:
        weight = np.ones(X.shape[0])
    else:
        weight = np.asarray(sample_weight, dtype=np.float64)
        if weight.shape != (X.shape[0],):
            raise ValueError(f"sample_weight has shape {weight.shape}, expected ({X.shape[0]},)")
        if not np.isfinite(weight).all() or (weight < 0).any():
            raise ValueError("sample_weight must be finite and >= 0")
    positive = signed[weight > 0]
    if not ((positive > 0).any() and (positive < 0).any()):
        raise ValueError("the points with positive sample weight must contain both classes")
    return X, signed, weight


def is_immutable(array: np.ndarray) -> bool:
    """Whether nothing can change the values of ``array``.

    True only when the memory at the bottom of ``array``'s chain of views is a read-only
    buffer (a ``bytes`` object, a read-only memory map). A read-only flag alone is no such
    promise: numpy lets the owner of the memory set it back to writable, change the values
    and clear it again.
    """
    base: object = array
    while isinstance(base, np.ndarray):
        if base.flags.writeable:
            return False
        base = base.base
    if base is None:
        return False
    try:
        return memoryview(base).readonly  # type: ignore[arg-type]  # any buffer object
    except TypeError:
        return False


def read_only(array: np.ndarray) -> np.ndarray:
    """Return ``array`` if it is immutable, else an immutable copy (same dtype and shape).

    The copy lives in a ``bytes`` object, so that no one can make it writable again
    (:func:`is_immutable`): fits keep such inputs by reference (:class:`FitData`).
    """
    if is_immutable(array):
        return array
    return np.frombuffer(array.tobytes(), dtype=array.dtype).reshape(array.shape)


@dataclass(frozen=True, eq=False)
class FitData:
    """The data a fit saw: the key of the factorisations it keeps.

    A kept factor is reused only when :meth:`matches` confirms the same values. Immutable
    arrays (:func:`is_immutable`, e.g. :func:`read_only` copies) are kept by reference; the
    others are copied into immutable arrays, so changing the caller's arrays in place cannot
    fool the key. Being immutable, a ``FitData`` is never copied: ``copy.copy`` and
    ``copy.deepcopy`` of a model share it, and with it the identity of its training set.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
        The inputs (the training kernel matrix for a ``precomputed`` model).
    signed : ndarray of shape (n_samples,)
        Labels in {-1, +1}.
    upper : ndarray of shape (n_samples,)
        ``C s_i``: the regularisation and the sample weights in one array.
    """

    X: np.ndarray
    signed: np.ndarray
    upper: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray, signed: np.ndarray, upper: np.ndarray) -> FitData:
        """Keep immutable arrays, copy the others."""
        return cls(*(kept(array) for array in (X, signed, upper)))

    def __copy__(self) -> FitData:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> FitData:
        return self

    def matches(self, X: np.ndarray, signed: np.ndarray, upper: np.ndarray) -> bool:
        """Whether ``(X, signed, upper)`` has exactly the stored values."""
        return (
            np.array_equal(self.upper, upper)
            and np.array_equal(self.signed, signed)
            and self.same_inputs(X)
        )

    def same_inputs(self, X: np.ndarray) -> bool:
        """Whether ``X`` holds the inputs of this fit.

        The very array kept (a fit on an immutable array, or a model that copied this
        ``FitData``) says so at once; only another array with that shape has its values
        compared (e.g. two fits on one writable array, each of which kept its own copy).
        """
        return self.X is X or (self.X.shape == X.shape and np.array_equal(self.X, X))


def kept(array: np.ndarray) -> np.ndarray:
    """``array`` itself if it is immutable, else an immutable copy (:func:`read_only`)."""
    return read_only(array)


def check_beta_path(X: np.ndarray, is_poison: np.ndarray, betas: Sequence[float]) -> np.ndarray:
    """Validate a beta path; return the poison mask as a bool array.

    Raises
    ------
    ValueError
        Empty grid, a beta outside [0, 1], or a mask of the wrong shape / with no poison.
    """
    is_poison = np.asarray(is_poison)
    if is_poison.dtype != bool or is_poison.shape != (np.shape(X)[0],):
        raise ValueError(
            f"is_poison must be a bool mask of shape ({np.shape(X)[0]},), "
            f"got {is_poison.dtype} {is_poison.shape}"
        )
    if not is_poison.any():
        raise ValueError("is_poison flags no training point; a beta path needs poisons")
    if len(betas) == 0:
        raise ValueError("the beta grid is empty")
    bad = [b for b in betas if not (np.isfinite(b) and 0.0 <= b <= 1.0)]
    if bad:
        raise ValueError(f"beta values must lie in [0, 1], got {bad}")
    return is_poison


def check_C_path(C_values: Sequence[float]) -> tuple[float, ...]:
    """Validate a ``C`` path; return it as a tuple of floats.

    Raises
    ------
    ValueError
        Empty grid or a ``C`` that is not a positive finite number.
    """
    if len(C_values) == 0:
        raise ValueError("the C grid is empty")
    bad = [C for C in C_values if not (np.isfinite(C) and C > 0)]
    if bad:
        raise ValueError(f"C values must be positive finite numbers, got {bad}")
    return tuple(float(C) for C in C_values)
