"""CIFAR-10: torchvision's python batches (``cifar-10-batches-py``)."""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backdoor_curves.utilities.data.pairs import tasks_from_reader
from backdoor_curves.utilities.data.sources import PairRequest, PairTask
from backdoor_curves.utilities.data.files import (
    missing_data_message,
    torchvision_download,
    unit_float32,
)
from backdoor_curves.utilities.data.sources import DatasetInfo, Notify, register_data_source

__all__ = ["CIFAR10", "Cifar10Source", "load_cifar10"]

_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
"""Where torchvision fetches CIFAR-10, for messages when torchvision does not say."""
_CIFAR_BATCHES = {
    True: tuple(f"data_batch_{index}" for index in range(1, 6)),
    False: ("test_batch",),
}
_CIFAR_LAYOUT = f"torchvision's CIFAR10 python batches ({_CIFAR_DIR}/data_batch_1..5, test_batch)"

# What unpickling a cut or garbled file raises besides UnpicklingError: pickle reports damage
# through whichever builtin exception the broken opcode stream happens to trigger.
_UNPICKLE_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    OSError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    AttributeError,
    ImportError,
)


def _batch_entry(batch: Mapping[Any, Any], key: str, path: Path) -> Any:
    """Entry ``key`` of an unpickled CIFAR batch, whose keys are bytes (or str if re-pickled)."""
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    raise ValueError(f"CIFAR-10 batch {path} has no {key!r} entry")


def _read_cifar_batch(path: Path) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """One CIFAR-10 python batch as uint8 images ``(n, 3, 32, 32)`` and int64 labels.

    The batch is a pickled dict with ``b"data"`` (uint8, ``(n, 3072)``, channel-major rows:
    1024 red, 1024 green, 1024 blue values) and ``b"labels"`` (n ints). Like torchvision, this
    unpickles the file, so only read batches from a source you trust.
    """
    try:
        with path.open("rb") as stream:
            batch = pickle.load(stream, encoding="bytes")
    except _UNPICKLE_ERRORS as exc:
        raise ValueError(
            f"cannot unpickle CIFAR-10 batch {path} (corrupt or truncated): {exc}"
        ) from exc
    if not isinstance(batch, Mapping):
        raise ValueError(f"CIFAR-10 batch {path} holds a {type(batch).__name__}, expected a dict")
    data = np.asarray(_batch_entry(batch, "data", path))
    labels = np.asarray(_batch_entry(batch, "labels", path))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(
            f"CIFAR-10 batch {path} has data of shape {data.shape} and dtype {data.dtype}; "
            "expected uint8 of shape (n, 3072)"
        )
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"CIFAR-10 batch {path} has labels of shape {labels.shape}; "
            f"expected {data.shape[0]} integer labels"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"CIFAR-10 batch {path} has labels outside 0..9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _read_cifar10_uint8(root: Path, train: bool) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """One CIFAR-10 split as uint8 images ``(n, 3, 32, 32)`` and int64 labels."""
    batch_dir = root / _CIFAR_DIR
    paths = [batch_dir / name for name in _CIFAR_BATCHES[train]]
    for path in paths:
        if not path.is_file():
            missing = batch_dir if not batch_dir.is_dir() else path
            raise FileNotFoundError(missing_data_message("CIFAR-10", missing, _CIFAR_LAYOUT))
    batches = [_read_cifar_batch(path) for path in paths]
    images = np.concatenate([images for images, _ in batches])
    labels = np.concatenate([labels for _, labels in batches])
    return images, labels


def load_cifar10(
    root: str | os.PathLike[str], train: bool
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Load one split of CIFAR-10 from torchvision's python batches.

    Parameters
    ----------
    root : str or path-like
        Data directory holding ``cifar-10-batches-py/`` (``data_batch_1`` .. ``data_batch_5``,
        ``test_batch``).
    train : bool
        The 50,000-image train split if True, the 10,000-image test split otherwise.

    Returns
    -------
    images : ndarray of float32, shape (n, 3, 32, 32)
        RGB pixels in ``[0, 1]`` (byte / 255).
    labels : ndarray of int64, shape (n,)
        Class ids 0..9 (see ``DATASETS["cifar10"].class_names``).

    Raises
    ------
    FileNotFoundError
        If the folder or a batch is missing.
    ValueError
        If a batch is corrupt (truncated pickle, wrong contents); the message names it.
    """
    images, labels = _read_cifar10_uint8(Path(root), train)
    return unit_float32(images), labels


class Cifar10Source:
    """The CIFAR-10 :class:`~backdoor_curves.utilities.data.sources.DataSource`."""

    info = DatasetInfo(
        name="cifar10",
        display_name="CIFAR-10",
        n_classes=10,
        image_shape=(3, 32, 32),
        class_names=(
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
        has_embedded_default=False,
    )

    def is_present(self, root: Path) -> bool:
        """Whether all six batches are under ``root/cifar-10-batches-py``."""
        names = _CIFAR_BATCHES[True] + _CIFAR_BATCHES[False]
        return all((root / _CIFAR_DIR / name).is_file() for name in names)

    def download(self, root: Path) -> None:
        """Fetch CIFAR-10 with torchvision into ``root``."""
        # torchvision's CIFAR10 fetches the archive and unpacks root/cifar-10-batches-py.
        torchvision_download(
            "CIFAR-10",
            root,
            lambda datasets, into: datasets.CIFAR10(root=str(into), train=True, download=True),
            lambda datasets: getattr(datasets.CIFAR10, "url", _CIFAR_URL),
            self.is_present,
        )

    def load_pair(self, request: PairRequest, notify: Notify | None) -> PairTask:
        """Draw the pair's subsets from the train and test batches."""
        return self.load_pairs([request], notify)[0]

    def load_pairs(self, requests: Sequence[PairRequest], notify: Notify | None) -> list[PairTask]:
        """Draw every pair's subsets from the train and test batches, read once."""
        source = f"cifar10-batches ({requests[0].root / _CIFAR_DIR})" if requests else ""
        return tasks_from_reader(requests, source, _read_cifar10_uint8, unit_float32)


CIFAR10 = register_data_source(Cifar10Source())
"""The registered CIFAR-10 source."""
