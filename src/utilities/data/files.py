"""Files and pixels of the data sources: where the data lives, how it is fetched and decoded.

Shared by every source module: the data directory (:func:`resolve_data_dir`), the one message
of a missing dataset, torchvision's downloaders (:func:`torchvision_download`), uint8 to
``[0, 1]`` float32 pixels and read-only arrays.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DATA_DIR_ENV",
    "DownloadError",
    "is_int",
    "missing_data_message",
    "positive_int",
    "read_only",
    "resolve_data_dir",
    "torchvision_download",
    "unit_float32",
]

DATA_DIR_ENV = "BACKDOOR_CURVES_DATA"
"""Environment variable naming the data directory when ``--data-dir`` is not given."""


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
