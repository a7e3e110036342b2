"""The data-source contract, the registry of sources and the helpers they share.

A data source is one module (see :mod:`backdoor_curves.utilities.data.mnist` for an example)
with an object following the :class:`DataSource` protocol, registered by
:func:`register_data_source`: its static :class:`DatasetInfo`, whether its files are present
under a data directory, how to download them there, and how to draw a class pair from them.
:func:`dataset_info` and :func:`data_source` look a source up by name; an unknown name raises
``ValueError`` listing the registered ones.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from backdoor_curves.utilities.data.pairs import PairRequest, PairTask

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "DEFAULT_DATA_SEED",
    "DataSource",
    "DatasetInfo",
    "DownloadError",
    "Notify",
    "data_source",
    "dataset_info",
    "is_int",
    "missing_data_message",
    "positive_int",
    "read_only",
    "register_data_source",
    "resolve_data_dir",
    "torchvision_download",
    "unit_float32",
]

DATA_DIR_ENV = "BACKDOOR_CURVES_DATA"
"""Environment variable naming the data directory when ``--data-dir`` is not given."""

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


class DataSource(Protocol):
    """What a data source provides (one module per source).

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


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """Return the data directory as an absolute path.

    Parameters
    ----------
    data_dir : str, path-like or None
        The ``--data-dir`` value. When None, the ``BACKDOOR_CURVES_DATA`` environment variable is
        used if set and non-empty, else ``./data`` (relative to the working directory).

    Returns
    -------
    Path
        Absolute path, ``~`` expanded; it need not exist.
    """
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or "data"
    return Path(data_dir).expanduser().absolute()


def missing_data_message(display_name: str, expected: Path, layout: str) -> str:
    """Build the one message of every missing-data error: what, where, how to provide it."""
    return (
        f"{display_name} data not found: expected {layout} at {expected}. "
        f"Run with --download to fetch it into the data directory, or point --data-dir "
        f"(or the {DATA_DIR_ENV} environment variable) at a folder that contains it."
    )


def is_int(value: object) -> bool:
    """Whether ``value`` is an integer (numpy integers included), excluding booleans."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(value: object, name: str) -> int:
    """``value`` as an int if it is a positive integer, else ValueError naming ``name``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 1:
        return int(value)
    raise ValueError(f"{name} must be a positive integer, got {value!r}")


def unit_float32(images: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Return uint8 pixels as a new C-contiguous float32 array in ``[0, 1]`` (x / 255).

    The values are written into a preallocated float32 array and divided in place, so no float64
    copy of the images is ever made.
    """
    out = np.empty(images.shape, dtype=np.float32)
    out[...] = images
    out /= 255
    return out


def read_only(array: NDArray[Any]) -> NDArray[Any]:
    """Return ``array`` C-contiguous and marked read-only.

    A fresh view carries the read-only flag, so a caller's own array stays writable.
    """
    view = np.ascontiguousarray(array).view()
    view.setflags(write=False)
    return view


class DownloadError(ConnectionError):
    """A dataset could not be downloaded; the message names the URL and the target folder.

    A :class:`ConnectionError` (an ``OSError``), so the drivers report it as one line and exit
    with status 2.
    """


def torchvision_download(
    dataset: str,
    root: Path,
    fetch: Callable[[Any, Path], object],
    url: Callable[[Any], str],
    is_present: Callable[[Path], bool],
) -> None:
    """Fetch ``dataset`` into ``root`` with a torchvision downloader (network needed).

    ``fetch(datasets, root)`` calls the downloader of ``torchvision.datasets`` (e.g.
    ``datasets.MNIST(root, download=True)``), which puts the files in the layout our readers
    read; our readers then load them, torchvision only fetches and unpacks.

    Parameters
    ----------
    dataset : str
        Display name, for messages.
    root : Path
        Data directory; created if needed.
    fetch : callable
        ``fetch(torchvision.datasets, root)``.
    url : callable
        ``url(torchvision.datasets)``: where the downloader fetches from (for messages).
    is_present : callable
        Whether the files are in place under ``root`` afterwards.

    Raises
    ------
    DownloadError
        One line naming the dataset, the URL and ``root`` when the download fails or leaves the
        files somewhere the reader does not look.
    """
    # Imported here: torchvision is heavy and downloads are rare.
    from torchvision import datasets

    source = url(datasets)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fetch(datasets, root)
    except (OSError, RuntimeError, ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DownloadError(
            f"downloading {dataset} from {source} into {root} failed ({reason}); check the "
            f"network connection, or place the files there by hand (see --data-dir and "
            f"{DATA_DIR_ENV})"
        ) from exc
    if not is_present(root):
        raise DownloadError(
            f"downloading {dataset} from {source} into {root} finished, but its files are not "
            "where the reader looks for them; remove the partial download and retry"
        )
