"""Binary class-pair tasks: a pair ``a-b`` of a dataset, class ``a`` -> 0 and ``b`` -> 1.

:func:`load_pair_task` validates a request, downloads the data when asked and the files are
missing, and hands the request to the dataset's registered source; the train/test subsets are
drawn by a data seed that is independent of the experiment seeds.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backdoor_curves.utilities.data.files import is_int, positive_int, resolve_data_dir
from backdoor_curves.utilities.data.sources import (
    DEFAULT_DATA_SEED,
    Notify,
    PairRequest,
    PairTask,
    check_pair,
    data_source,
    dataset_info,
)

__all__ = [
    "binary_labels",
    "load_pair_task",
    "load_pair_tasks",
    "tasks_from_reader",
    "task_from_splits",
]


def _print_to_stderr(message: str) -> None:
    """Default notice channel: one line on standard error."""
    print(message, file=sys.stderr)


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


def tasks_from_reader(
    requests: Sequence[PairRequest],
    source: str,
    read_split: Callable[[Path, bool], tuple[NDArray[Any], NDArray[np.int64]]],
    to_float32: Callable[[NDArray[Any]], NDArray[np.float32]],
) -> list[PairTask]:
    """:func:`task_from_splits` for every request, over ``read_split(root, True)`` (train)
    and ``(root, False)``, each split read once for all the requests (of one root).

    ``read_split(root, train)`` returns a split's per-image items and original labels, the way
    every on-disk source reads its files.
    """
    if not requests:
        return []
    roots = {request.root for request in requests}
    if len(roots) > 1:
        raise ValueError(f"requests of one read must share their data folder, got {sorted(roots)}")
    root = requests[0].root
    train, test = read_split(root, True), read_split(root, False)
    return [task_from_splits(request, source, train, test, to_float32) for request in requests]


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
    """Load one class pair: :func:`load_pair_tasks` for ``[pair]`` (see there)."""
    return load_pair_tasks(
        dataset, [pair], n_train=n_train, n_test=n_test, data_seed=data_seed,
        data_dir=data_dir, download=download, notify=notify,
    )[0]  # fmt: skip


def load_pair_tasks(
    dataset: str,
    pairs: Sequence[tuple[int, int]],
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    data_seed: int = DEFAULT_DATA_SEED,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    notify: Notify | None = _print_to_stderr,
) -> list[PairTask]:
    """Load class pairs of a dataset as binary tasks (class ``a`` -> 0, class ``b`` -> 1).

    The dataset's files are read once for all the pairs; each pair is drawn as a call for
    that pair alone would draw it (its own generator seeded with ``data_seed``).

    Parameters
    ----------
    dataset : {"mnist", "cifar10", "imagenette"}
        Dataset name.
    pairs : sequence of tuple of int
        Each distinct original class ids ``(a, b)`` (see :func:`parse_pair` for ``"a-b"``).
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
    list of PairTask
        One per pair, in order: read-only float32 images in ``[0, 1]`` of the dataset's
        ``(C, H, W)`` and int64 labels.

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
    root = resolve_data_dir(data_dir)
    requests = [
        PairRequest(
            info=info,
            classes=check_pair(pair, info.n_classes),
            n_train=None if n_train is None else positive_int(n_train, "n_train"),
            n_test=None if n_test is None else positive_int(n_test, "n_test"),
            root=root,
            rng=np.random.default_rng(int(data_seed)),
        )
        for pair in pairs
    ]
    source = data_source(info.name)
    if download and not source.is_present(root):
        source.download(root)
    load_pairs = getattr(source, "load_pairs", None)  # optional (see DataSource)
    if load_pairs is not None:
        return list(load_pairs(requests, notify))
    return [source.load_pair(request, notify) for request in requests]
