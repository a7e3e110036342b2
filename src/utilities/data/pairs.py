"""Binary class-pair tasks: a pair ``a-b`` of a dataset, class ``a`` -> 0 and ``b`` -> 1.

:func:`load_pair_task` validates a request, downloads the data when asked and the files are
missing, and hands the request to the dataset's registered source; the train/test subsets are
drawn by a data seed that is independent of the experiment seeds.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backdoor_curves.utilities.data.sources import (
    DEFAULT_DATA_SEED,
    DatasetInfo,
    Notify,
    data_source,
    dataset_info,
    is_int,
    positive_int,
    read_only,
    resolve_data_dir,
)

__all__ = [
    "PairRequest",
    "PairTask",
    "binary_labels",
    "load_pair_task",
    "parse_pair",
    "task_from_reader",
    "task_from_splits",
]


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
        object.__setattr__(self, "classes", _check_pair(self.classes, info.n_classes))
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


def _check_pair(pair: object, n_classes: int) -> tuple[int, int]:
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
    return _check_pair((int(match.group(1)), int(match.group(2))), n_classes)


def _print_to_stderr(message: str) -> None:
    """Default notice channel: one line on standard error."""
    print(message, file=sys.stderr)


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


def _draw_from_split(
    labels: NDArray[np.int64], request: PairRequest, n_samples: int, split: str
) -> NDArray[np.int64]:
    """Draw ``n_samples`` positions of the pair's images in one split, without replacement."""
    candidates = np.flatnonzero(np.isin(labels, request.classes))
    if n_samples > candidates.size:
        raise ValueError(
            f"requested {n_samples} {split} images of classes {request.pair_text}, but the "
            f"{request.info.display_name} {split} split has only {candidates.size}"
        )
    return request.rng.choice(candidates, size=n_samples, replace=False).astype(np.int64)


def binary_labels(labels: NDArray[np.int64], classes: tuple[int, int]) -> NDArray[np.int64]:
    """Map original class ids to the pair's labels: ``a`` -> 0, ``b`` -> 1."""
    return (labels == classes[1]).astype(np.int64)


def task_from_splits(
    request: PairRequest,
    source: str,
    train: tuple[NDArray[Any], NDArray[np.int64]],
    test: tuple[NDArray[Any], NDArray[np.int64]],
    to_float32: Callable[[NDArray[Any]], NDArray[np.float32]],
) -> PairTask:
    """Draw the pair's train subset from ``train`` and test subset from ``test``.

    ``train`` and ``test`` hold per-image items (uint8 pixels or file paths) and original labels;
    ``to_float32`` turns the chosen items into float32 images in ``[0, 1]``.
    """
    info = request.info
    n_train = info.default_n_train if request.n_train is None else request.n_train
    n_test = info.default_n_test if request.n_test is None else request.n_test
    train_idx = _draw_from_split(train[1], request, n_train, "train")
    test_idx = _draw_from_split(test[1], request, n_test, "test")
    return PairTask(
        dataset=info.name,
        classes=request.classes,
        X_train=to_float32(train[0][train_idx]),
        y_train=binary_labels(train[1][train_idx], request.classes),
        X_test=to_float32(test[0][test_idx]),
        y_test=binary_labels(test[1][test_idx], request.classes),
        source=source,
        train_indices=train_idx,
        test_indices=test_idx,
    )


def task_from_reader(
    request: PairRequest,
    source: str,
    read_split: Callable[[Path, bool], tuple[NDArray[Any], NDArray[np.int64]]],
    to_float32: Callable[[NDArray[Any]], NDArray[np.float32]],
) -> PairTask:
    """:func:`task_from_splits` over ``read_split(root, True)`` (train) and ``(root, False)`` (test).

    ``read_split(root, train)`` returns a split's per-image items and original labels, the way
    every on-disk source reads its files.
    """
    return task_from_splits(
        request,
        source,
        read_split(request.root, True),
        read_split(request.root, False),
        to_float32,
    )


def load_pair_task(
    dataset: str,
    pair: tuple[int, int],
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    data_seed: int = DEFAULT_DATA_SEED,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    notify: Notify | None = _print_to_stderr,
) -> PairTask:
    """Load a class pair of a dataset as a binary task (class ``a`` -> 0, class ``b`` -> 1).

    Parameters
    ----------
    dataset : {"mnist", "cifar10", "imagenette"}
        Dataset name.
    pair : tuple of int
        Distinct original class ids ``(a, b)`` (see :func:`parse_pair` for ``"a-b"`` text).
    n_train, n_test : int, optional
        Subset sizes. Defaults: 1500 / 500 drawn from the train / test split of the full dataset;
        750 / 250 for MNIST's embedded subset, whose 1,000 images of a pair are split in two.
    data_seed : int, default 999
        Seed of ``np.random.default_rng`` for the subset draw; independent of experiment seeds.
        Same seed -> identical arrays.
    data_dir : str or path-like, optional
        Data directory (see :func:`resolve_data_dir`).
    download : bool, default False
        Fetch the dataset with torchvision into the data directory if it is not there yet.
    notify : callable or None, default prints to standard error
        Receives a notice when MNIST falls back to the embedded subset; None silences it (the
        source is recorded in :attr:`PairTask.source` either way).

    Returns
    -------
    PairTask
        Read-only float32 images in ``[0, 1]`` of the dataset's ``(C, H, W)`` and int64 labels.

    Raises
    ------
    ValueError
        Unknown dataset, bad pair, non-positive sizes, more images requested than the source
        holds, or corrupt files.
    FileNotFoundError
        CIFAR-10 / Imagenette data (or part of full MNIST) missing; the message names the
        expected path, ``--download``, ``--data-dir`` and ``BACKDOOR_CURVES_DATA``.
    """
    info = dataset_info(dataset)
    if not is_int(data_seed) or data_seed < 0:
        raise ValueError(f"data_seed must be a non-negative integer, got {data_seed!r}")
    request = PairRequest(
        info=info,
        classes=_check_pair(pair, info.n_classes),
        n_train=None if n_train is None else positive_int(n_train, "n_train"),
        n_test=None if n_test is None else positive_int(n_test, "n_test"),
        root=resolve_data_dir(data_dir),
        rng=np.random.default_rng(int(data_seed)),
    )
    source = data_source(info.name)
    if download and not source.is_present(request.root):
        source.download(request.root)
    return source.load_pair(request, notify)
