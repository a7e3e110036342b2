"""Imagenette: an ImageFolder tree of JPEGs (``imagenette2-320/{train,val}/<wnid>/``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from backdoor_curves.utilities.data.pairs import tasks_from_reader
from backdoor_curves.utilities.data.sources import PairRequest, PairTask
from backdoor_curves.utilities.data.files import (
    is_int,
    missing_data_message,
    positive_int,
    torchvision_download,
)
from backdoor_curves.utilities.data.sources import DatasetInfo, Notify, register_data_source

__all__ = [
    "IMAGENETTE",
    "IMAGENETTE_CLASSES",
    "IMAGENETTE_CROP",
    "IMAGENETTE_RESIZE",
    "ImagenetteClass",
    "ImagenetteSource",
    "decode_image",
    "imagenette_split_dir",
    "list_imagenette",
    "load_imagenette",
    "resize_and_center_crop",
]


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


_IMAGENETTE_DIR = "imagenette2-320"
_IMAGENETTE_SPLITS = ("train", "val")
IMAGENETTE_RESIZE = 256
IMAGENETTE_CROP = 224
_IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png"})
_DECODE_BATCH_SIZE = 64
_IMAGENETTE_LAYOUT = f"an ImageFolder tree {_IMAGENETTE_DIR}/<split>/<wnid>/*.JPEG"


def imagenette_split_dir(root: Path, split: str) -> Path:
    """Folder of one Imagenette split; checks the split name and that the folder exists."""
    if split not in _IMAGENETTE_SPLITS:
        valid = ", ".join(repr(name) for name in _IMAGENETTE_SPLITS)
        raise ValueError(f"unknown Imagenette split {split!r}; valid splits are {valid}")
    split_dir = root / _IMAGENETTE_DIR / split
    if not split_dir.is_dir():
        raise FileNotFoundError(missing_data_message("Imagenette", split_dir, _IMAGENETTE_LAYOUT))
    return split_dir


def _imagenette_class_dirs(split_dir: Path) -> list[Path]:
    """Return the class folders of a split sorted by WordNet id (list index = class id)."""
    class_dirs = sorted(path for path in split_dir.iterdir() if path.is_dir())
    found = [path.name for path in class_dirs]
    expected = [cls.wnid for cls in IMAGENETTE_CLASSES]
    if found != expected:
        raise ValueError(
            f"{split_dir} holds the class folders {found}; Imagenette needs exactly the ten "
            f"WordNet-id folders {expected}: point --data-dir at a complete {_IMAGENETTE_DIR} "
            "tree, or remove the folder and run with --download"
        )
    return class_dirs


def list_imagenette(
    root: Path, split: str, classes: Sequence[int]
) -> tuple[list[Path], NDArray[np.int64]]:
    """Image files of ``classes`` in a split, in class order then file-name order, and labels.

    Raises ValueError naming the folder if a listed class has no image.
    """
    class_dirs = _imagenette_class_dirs(imagenette_split_dir(root, split))
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


def resize_and_center_crop(image: Image.Image) -> Image.Image:
    """Resize the shorter side to 256 (bilinear, antialiased), then take the central 224 x 224.

    Exactly what torchvision's ``Compose([Resize(256), CenterCrop(224)])`` does to a PIL image
    (PIL's own resize, the same output size and crop offsets), without importing torchvision
    and torch (a slow import); ``tests/utilities/data/test_sources.py`` checks the pixels are the same.
    """
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(IMAGENETTE_RESIZE * long / short)
    size = (IMAGENETTE_RESIZE, new_long) if width <= height else (new_long, IMAGENETTE_RESIZE)
    if size != image.size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    width, height = image.size
    top = int(round((height - IMAGENETTE_CROP) / 2.0))
    left = int(round((width - IMAGENETTE_CROP) / 2.0))
    return image.crop((left, top, left + IMAGENETTE_CROP, top + IMAGENETTE_CROP))


def decode_image(
    path: Path, transform: Callable[[Image.Image], Image.Image] = resize_and_center_crop
) -> NDArray[np.uint8]:
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
    out = np.empty((len(paths), 3, IMAGENETTE_CROP, IMAGENETTE_CROP), dtype=np.float32)
    for start in range(0, len(paths), batch_size):
        batch = paths[start : start + batch_size]
        block = out[start : start + len(batch)]
        block[...] = np.stack([decode_image(path) for path in batch])
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
    batch_size = positive_int(batch_size, "batch_size")
    n_classes = len(IMAGENETTE_CLASSES)
    class_ids = list(range(n_classes)) if classes is None else list(classes)
    if not all(is_int(class_id) and 0 <= class_id < n_classes for class_id in class_ids):
        raise ValueError(f"Imagenette classes {class_ids} must be integers in 0..{n_classes - 1}")
    if len(set(class_ids)) != len(class_ids):
        raise ValueError(f"Imagenette classes {class_ids} contain a repeated class")
    paths, labels = list_imagenette(Path(root), split, class_ids)
    return _decode_imagenette(paths, batch_size), labels


def _imagenette_file_split(root: Path, split: str) -> tuple[NDArray[Any], NDArray[np.int64]]:
    """All image files of a split (object array of paths, class then name order) and labels."""
    paths, labels = list_imagenette(root, split, range(len(IMAGENETTE_CLASSES)))
    return np.asarray(paths, dtype=object), labels


def _decode_path_array(paths: NDArray[Any]) -> NDArray[np.float32]:
    """Decode an object array of image paths (see :func:`_decode_imagenette`)."""
    return _decode_imagenette(paths.tolist(), _DECODE_BATCH_SIZE)


_IMAGENETTE_URL = "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-320.tgz"
"""Where torchvision fetches Imagenette (320 px), for messages when torchvision does not say."""


def _imagenette_url(datasets: Any) -> str:
    """URL of torchvision's 320 px Imagenette archive (our constant if its table changed)."""
    archives = getattr(datasets.Imagenette, "_ARCHIVES", {})
    entry = archives.get("320px") if isinstance(archives, dict) else None
    return str(entry[0]) if entry else _IMAGENETTE_URL


class ImagenetteSource:
    """The Imagenette :class:`~backdoor_curves.utilities.data.sources.DataSource`."""

    info = DatasetInfo(
        name="imagenette",
        display_name="Imagenette",
        n_classes=len(IMAGENETTE_CLASSES),
        image_shape=(3, 224, 224),
        class_names=tuple(cls.name for cls in IMAGENETTE_CLASSES),
        has_embedded_default=False,
    )

    def is_present(self, root: Path) -> bool:
        """Whether both split folders are under ``root/imagenette2-320``."""
        return all((root / _IMAGENETTE_DIR / split).is_dir() for split in _IMAGENETTE_SPLITS)

    def download(self, root: Path) -> None:
        """Fetch Imagenette (320 px) with torchvision into ``root``."""
        # torchvision's Imagenette fetches imagenette2-320.tgz and unpacks both splits into
        # root/imagenette2-320/{train,val}.
        torchvision_download(
            "Imagenette",
            root,
            lambda datasets, into: datasets.Imagenette(
                root=str(into), split="train", size="320px", download=True
            ),
            _imagenette_url,
            self.is_present,
        )

    def load_pair(self, request: PairRequest, notify: Notify | None) -> PairTask:
        """Draw the pair's subsets from the train and val folders; decode only those."""
        return self.load_pairs([request], notify)[0]

    def load_pairs(self, requests: Sequence[PairRequest], notify: Notify | None) -> list[PairTask]:
        """Draw every pair's subsets from the folders (listed once); decode only those."""
        return tasks_from_reader(
            requests,
            f"imagenette-folder ({requests[0].root / _IMAGENETTE_DIR})" if requests else "",
            lambda root, train: _imagenette_file_split(root, "train" if train else "val"),
            _decode_path_array,
        )


IMAGENETTE = register_data_source(ImagenetteSource())
"""The registered Imagenette source."""
