"""The data-source contract: datasets, class-pair tasks, and the registry of sources.

:class:`PairTask` is what every source returns for a class pair ``a-b`` (class ``a`` -> label
0, ``b`` -> 1), :class:`PairRequest` what it is asked, :func:`parse_pair` reads a pair typed
on the command line. A data source is one module (see :mod:`backdoor_curves.utilities.data.mnist` for an example)
with an object following the :class:`DataSource` protocol, registered by
:func:`register_data_source`: its static :class:`DatasetInfo`, whether its files are present
under a data directory, how to download them there, and how to draw a class pair from them.
:func:`dataset_info` and :func:`data_source` look a source up by name; an unknown name raises
``ValueError`` listing the registered ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from backdoor_curves.utilities.data.files import is_int, read_only

__all__ = [
    "DATASETS",
    "DEFAULT_DATA_SEED",
    "DataSource",
    "DatasetInfo",
    "Notify",
    "PairRequest",
    "PairTask",
    "check_pair",
    "data_source",
    "dataset_info",
    "parse_pair",
    "register_data_source",
]

DEFAULT_DATA_SEED = 999
"""Seed of the train/test subset draw; independent of the experiment seeds."""

Notify = Callable[[str], None]
"""Receiver of one-line notices (e.g. a fallback to another copy of the data)."""


@dataclass(frozen=True)
class DatasetInfo:
    """Static description of a dataset.

    Attributes
    ----------
    name : str
        Name a user types (``--dataset``).
    display_name : str
        Name for messages and figures.
    n_classes : int
        Number of classes; class ids are ``0 .. n_classes - 1``.
    image_shape : tuple of int
        ``(C, H, W)`` of the images as loaded.
    class_names : tuple of str
        Readable name of each class id.
    has_embedded_default : bool
        Whether a copy ships with an installed package, so that no data directory is needed.
    default_n_train, default_n_test : int
        Paper sizes of the train/test subsets of a class pair drawn from the full dataset.
    """

    name: str
    display_name: str
    n_classes: int
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    has_embedded_default: bool
    default_n_train: int = 1500
    default_n_test: int = 500


@dataclass(frozen=True, eq=False)
class PairTask:
    """A binary class-pair task. Class ``a`` -> label 0, class ``b`` -> label 1.

    Attributes
    ----------
    dataset : str
        Dataset name (a key of :data:`DATASETS`).
    classes : tuple of int
        Original class ids ``(a, b)``.
    X_train : ndarray of float32, shape (n_train, C, H, W)
        Training images, pixels in ``[0, 1]``. Read-only, C-contiguous.
    y_train : ndarray of int64, shape (n_train,)
        Training labels in ``{0, 1}``: 0 for class ``a``, 1 for class ``b``. Read-only.
    X_test : ndarray of float32, shape (n_test, C, H, W)
        Test images, as ``X_train``.
    y_test : ndarray of int64, shape (n_test,)
        Test labels, as ``y_train``.
    source : str
        Human-readable data source, e.g. ``"mnist-idx (/data/MNIST/raw)"``; goes into results.
    train_indices, test_indices : ndarray of int64 or None
        Positions of the chosen images in the source's split they were drawn from (for the
        embedded MNIST subset: in its 5,000 images); None for a task built from in-memory
        arrays. Useful as cache keys.

    Notes
    -----
    The arrays are stored as read-only views; arrays passed in by a caller stay writable.
    """

    dataset: str
    classes: tuple[int, int]
    X_train: NDArray[np.float32]
    y_train: NDArray[np.int64]
    X_test: NDArray[np.float32]
    y_test: NDArray[np.int64]
    source: str
    train_indices: NDArray[np.int64] | None = None
    test_indices: NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        info = dataset_info(self.dataset)
        object.__setattr__(self, "classes", check_pair(self.classes, info.n_classes))
        for split in ("train", "test"):
            images = _check_images(getattr(self, f"X_{split}"), f"X_{split}")
            labels = _check_binary_labels(getattr(self, f"y_{split}"), f"y_{split}")
            if labels.shape[0] != images.shape[0]:
                raise ValueError(
                    f"X_{split} has {images.shape[0]} images but y_{split} has "
                    f"{labels.shape[0]} labels"
                )
            object.__setattr__(self, f"X_{split}", read_only(images))
            object.__setattr__(self, f"y_{split}", read_only(labels))
            indices = getattr(self, f"{split}_indices")
            if indices is not None:
                indices = np.asarray(indices, dtype=np.int64)
                if indices.shape != labels.shape:
                    raise ValueError(
                        f"{split}_indices has shape {indices.shape}, expected {labels.shape}"
                    )
                object.__setattr__(self, f"{split}_indices", read_only(indices))
        if self.X_train.shape[1:] != self.X_test.shape[1:]:
            raise ValueError(
                f"X_train images have shape {self.X_train.shape[1:]} but X_test images have "
                f"shape {self.X_test.shape[1:]}"
            )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the images."""
        channels, height, width = self.X_train.shape[1:]
        return channels, height, width

    @property
    def n_train(self) -> int:
        """Number of training images."""
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test images."""
        return int(self.X_test.shape[0])

    @property
    def pair_label(self) -> str:
        """The pair as typed on the command line, e.g. ``"7-1"``."""
        return f"{self.classes[0]}-{self.classes[1]}"


def _check_images(images: object, name: str) -> NDArray[np.float32]:
    """``images`` as a float32 ``(n, C, H, W)`` array with values in ``[0, 1]``, or ValueError."""
    array = np.asarray(images)
    if array.dtype != np.float32 or array.ndim != 4:
        raise ValueError(
            f"{name} must be a float32 array of shape (n, C, H, W), got dtype {array.dtype} "
            f"and shape {array.shape}"
        )
    if array.size and (array.min() < 0 or array.max() > 1):
        raise ValueError(
            f"{name} has pixels in [{array.min()}, {array.max()}]; pixels must lie in [0, 1]"
        )
    return array


def _check_binary_labels(labels: object, name: str) -> NDArray[np.int64]:
    """``labels`` as an int64 vector of zeros and ones, or ValueError."""
    array = np.asarray(labels)
    if array.dtype != np.int64 or array.ndim != 1:
        raise ValueError(
            f"{name} must be an int64 vector, got dtype {array.dtype} and shape {array.shape}"
        )
    if not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must hold labels in {{0, 1}}, got {np.unique(array).tolist()}")
    return array


def check_pair(pair: object, n_classes: int) -> tuple[int, int]:
    """``pair`` as two distinct class ids in ``0 .. n_classes - 1``, or ValueError."""
    if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
        raise ValueError(f"a class pair must be two class ids (a, b), got {pair!r}")
    first, second = pair
    if not (is_int(first) and is_int(second)):
        raise ValueError(f"a class pair must be two integer class ids, got {pair!r}")
    first, second = int(first), int(second)
    if not (0 <= first < n_classes and 0 <= second < n_classes):
        raise ValueError(
            f"class pair {first}-{second} is out of range: class ids must lie in 0..{n_classes - 1}"
        )
    if first == second:
        raise ValueError(f"class pair {first}-{second} has equal classes; they must differ")
    return first, second


_PAIR_PATTERN = re.compile(r"\s*(\d+)\s*-\s*(\d+)\s*")


def parse_pair(text: str, n_classes: int) -> tuple[int, int]:
    """Parse a class pair typed as ``"a-b"``.

    Parameters
    ----------
    text : str
        Two class ids joined by a dash, e.g. ``"7-1"``.
    n_classes : int
        Number of classes of the dataset; ids must lie in ``0 .. n_classes - 1``.

    Returns
    -------
    tuple of int
        ``(a, b)``; class ``a`` becomes label 0 and class ``b`` label 1.

    Raises
    ------
    ValueError
        If ``text`` is malformed, a class id is out of range, or the two classes are equal.
    """
    match = _PAIR_PATTERN.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"malformed class pair {text!r}: expected two class ids joined by a dash, "
            f"each in 0..{n_classes - 1}, e.g. '7-1'"
        )
    return check_pair((int(match.group(1)), int(match.group(2))), n_classes)


@dataclass(frozen=True)
class PairRequest:
    """A validated pair-task request, passed to the dataset's :class:`DataSource`."""

    info: DatasetInfo
    classes: tuple[int, int]
    n_train: int | None
    n_test: int | None
    root: Path
    rng: np.random.Generator

    @property
    def pair_text(self) -> str:
        """The pair as ``"a-b"`` for messages."""
        return f"{self.classes[0]}-{self.classes[1]}"


class DataSource(Protocol):
    """What a data source provides (one module per source).

    A source may also define ``load_pairs(requests, notify) -> list[PairTask]``, the
    requests' tasks (all of one root) from one read of its files; without it, several pairs
    are loaded by one :meth:`load_pair` each.

    Attributes
    ----------
    info : DatasetInfo
        Name, classes and image shape of the dataset.
    """

    @property
    def info(self) -> DatasetInfo:
        """Static description of the dataset."""
        ...

    def is_present(self, root: Path) -> bool:
        """Whether the dataset's files (both splits) appear to be under ``root``."""
        ...

    def download(self, root: Path) -> None:
        """Fetch the dataset's files into ``root`` (network needed); raise ``RuntimeError``."""
        ...

    def load_pair(self, request: PairRequest, notify: Notify | None) -> PairTask:
        """Draw the validated class-pair ``request`` from the files under ``request.root``."""
        ...


_SOURCES: dict[str, DataSource] = {}
_INFOS: dict[str, DatasetInfo] = {}

DATASETS: Mapping[str, DatasetInfo] = MappingProxyType(_INFOS)
"""Every registered dataset, by name, in registration order (a read-only live view)."""


def register_data_source(source: DataSource) -> DataSource:
    """Register ``source`` under ``source.info.name`` and return it.

    Raises
    ------
    ValueError
        If a source of that name is already registered.
    """
    name = source.info.name
    if name in _SOURCES:
        raise ValueError(f"data source {name!r} is already registered")
    _SOURCES[name] = source
    _INFOS[name] = source.info
    return source


def data_source(name: str) -> DataSource:
    """Return the registered source called ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not a registered dataset; the message lists the valid ones.
    """
    try:
        return _SOURCES[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(key) for key in _SOURCES)
        raise ValueError(f"unknown dataset {name!r}; valid datasets are {valid}") from None


def dataset_info(name: str) -> DatasetInfo:
    """Return the :class:`DatasetInfo` of ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not a known dataset; the message lists the valid ones.
    """
    return data_source(name).info


