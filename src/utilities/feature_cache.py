"""On-disk cache of features: one extractor pass per distinct (image, variant).

A grid on deep features fits thousands of models on a few thousand distinct images: the clean
train and test images of a class pair, and per experiment seed their triggered copies. This
cache stores each row once, as ``.npy`` files that the grid's workers only read, memory-mapped
(``np.load(..., mmap_mode="r")``). It knows nothing of triggers: a *variant* is an opaque
string naming how the images were modified (``"clean"``, or a name the caller derives from its
trigger and seed, see :mod:`backdoor_curves.experiments.feature_stage`).

Inside:

- :class:`FeatureSource`: which images: dataset, class pair and data seed of the train/test draw.
- :class:`FeatureKey`: everything the features depend on; its digest names the entry.
- :class:`FeatureEntry`: a picklable handle (path, row indices) that a worker loads.
- :class:`FeatureCache`: :meth:`~FeatureCache.get` returns the entry of some rows of a split
  in a variant, computing only the rows no valid entry holds yet.

An entry is the pair ``<name>.npy`` (float32, shape (n_rows, n_features)) and ``<name>.json``
(the key, the row indices and the SHA-256 of the ``.npy`` file). Both are written to a
temporary file and renamed into place, the ``.json`` last, so a reader never sees a partial
entry. An entry whose ``.json`` is missing or unreadable, whose key differs, or whose ``.npy``
is missing, truncated or does not match its recorded SHA-256 is recomputed and rewritten,
never used.

An image is identified by its position in its dataset split (``PairTask.train_indices`` /
``test_indices``), which every draw holding it shares. Rows of a variant already stored for
other index sets are reused: a request extracts only the images whose
(split, position, variant) is in no valid entry yet (with the invisible trigger the
poisons of two seeds overlap), so over a whole grid the extractor sees each distinct
(image, variant) exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from backdoor_curves.utilities.atomic import atomic_write
from backdoor_curves.utilities.hashing import file_sha256, sha256_hex

__all__ = [
    "CLEAN",
    "FeatureCache",
    "FeatureEntry",
    "FeatureKey",
    "FeatureSource",
    "Split",
    "default_cache_dir",
]

CLEAN = "clean"
"""Variant name of the unmodified images."""

FORMAT_VERSION = 1
"""Version of the entry layout; part of every key."""

Extract = Callable[[np.ndarray], np.ndarray]
"""Images (n, C, H, W) in [0, 1] -> float32 features (n, n_features)."""


class Split(StrEnum):
    """Which split of a pair the images come from."""

    TRAIN = "train"
    TEST = "test"


def default_cache_dir(data_dir: Path) -> Path:
    """Default cache folder: ``<data dir>/features``."""
    return Path(data_dir) / "features"


@dataclass(frozen=True)
class FeatureSource:
    """The images of a class-pair task.

    Parameters
    ----------
    dataset : str
        Dataset name, e.g. ``"cifar10"``.
    pair : str
        Class pair ``"a-b"``.
    data_seed : int
        Seed of the train/test subset draw.
    """

    dataset: str
    pair: str
    data_seed: int


def _check_indices(indices: np.ndarray) -> np.ndarray:
    indices = np.asarray(indices)
    if indices.ndim != 1 or indices.size == 0 or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(
            f"indices must be a non-empty 1-D integer array, got {indices.dtype} {indices.shape}"
        )
    if indices.min() < 0:
        raise ValueError(f"indices must be >= 0, got {int(indices.min())}")
    if np.unique(indices).size != indices.size:
        raise ValueError("indices must be distinct (one row per image)")
    return indices.astype(np.int64)


@dataclass(frozen=True)
class FeatureKey:
    """Everything an entry's features depend on.

    Attributes
    ----------
    source : FeatureSource
        Dataset, pair and data seed.
    split : Split
        Train or test split of the pair.
    variant : str
        ``"clean"`` or another opaque name of how the images were modified.
    indices_sha256 : str
        SHA-256 of the row indices (int64 bytes, in row order).
    n_rows : int
        Number of rows.
    extractor : str
        Name of the feature extractor (network and layer).
    weights_sha256 : str
        SHA-256 of the network's weights.
    """

    source: FeatureSource
    split: Split
    variant: str
    indices_sha256: str
    n_rows: int
    extractor: str
    weights_sha256: str

    def group(self) -> dict[str, Any]:
        """Return the key without the index set (entries of one group share row features)."""
        fields = asdict(self)
        del fields["indices_sha256"], fields["n_rows"]
        return {"format": FORMAT_VERSION, **fields, "split": self.split.value}

    def as_dict(self) -> dict[str, Any]:
        """Return the whole key, JSON-ready."""
        return {**self.group(), "indices_sha256": self.indices_sha256, "n_rows": self.n_rows}

    def file_stem(self) -> str:
        """``<split>-<group digest>-<indices digest>``: entries of a group share a prefix."""
        return f"{self.group_prefix()}-{self.indices_sha256[:20]}"

    def group_prefix(self) -> str:
        """``<split>-<group digest>``."""
        group = json.dumps(self.group(), sort_keys=True).encode()
        return f"{self.split.value}-{sha256_hex(group)[:20]}"


@dataclass(frozen=True, eq=False)
class FeatureEntry:
    """Picklable handle of a stored entry: what a worker needs to read it.

    Attributes
    ----------
    path : Path
        The ``.npy`` file, float32 of shape (len(indices), n_features).
    indices : ndarray of shape (n_rows,), int64
        Identity of each row's image: its position in the dataset's split
        (``PairTask.train_indices`` / ``test_indices``).
    """

    path: Path
    indices: np.ndarray

    def load(self) -> np.ndarray:
        """Return the features, memory-mapped read-only, (n_rows, n_features) float32."""
        return np.load(self.path, mmap_mode="r")


class FeatureCache:
    """Features stored on disk, computed at most once per (split, image index, variant).

    Parameters
    ----------
    root : Path
        Cache folder (see :func:`default_cache_dir`); created on first write.
    extract : callable
        Images (n, C, H, W) in [0, 1] -> float32 features (n, n_features), e.g.
        ``FeatureExtractor.transform``. Only called for rows not stored yet.
    extractor : str
        Name of the network and layer, part of every key (e.g. ``"alexnet-fc7"``).
    weights_sha256 : str
        SHA-256 of the network's weights (the weights file's, or
        :func:`backdoor_curves.classifiers.features.state_dict_sha256`), part of every key.

    Attributes
    ----------
    n_extracted_ : int
        Rows computed by ``extract`` through this cache.
    n_reused_ : int
        Rows served from stored entries.
    recomputed_ : dict of str to int
        Entries found on disk but unusable, by reason (e.g. ``"contents differ from the
        recorded SHA-256"``): they were recomputed and rewritten, never used.
    """

    def __init__(
        self, root: Path, extract: Extract, *, extractor: str, weights_sha256: str
    ) -> None:
        self.root = Path(root)
        self.extract = extract
        self.extractor = extractor
        self.weights_sha256 = weights_sha256
        self.n_extracted_ = 0
        self.n_reused_ = 0
        self.recomputed_: dict[str, int] = {}

    # --- generic entries -----------------------------------------------------------------
    def key(
        self, source: FeatureSource, split: Split | str, variant: str, indices: np.ndarray
    ) -> FeatureKey:
        """Return the key of the rows ``indices`` of ``split`` in ``variant``."""
        indices = _check_indices(indices)
        return FeatureKey(
            source=source,
            split=Split(split),
            variant=variant,
            indices_sha256=sha256_hex(indices.tobytes()),
            n_rows=int(indices.size),
            extractor=self.extractor,
            weights_sha256=self.weights_sha256,
        )

    def get(
        self,
        source: FeatureSource,
        split: Split | str,
        variant: str,
        indices: np.ndarray,
        images: np.ndarray,
    ) -> FeatureEntry:
        """Return the entry of rows ``indices`` of ``split`` in ``variant``, computed if needed.

        Parameters
        ----------
        source, split, variant
            See :class:`FeatureKey`.
        indices : ndarray of shape (n,), int
            Distinct image identities, one per row: positions in the dataset's split. Rows of
            the same (split, identity, variant) are shared by all entries of a group.
        images : ndarray of shape (n, C, H, W)
            The images of those rows (only the rows not stored yet are passed to ``extract``).

        Returns
        -------
        FeatureEntry
            A valid entry on disk.
        """
        indices = _check_indices(indices)
        if len(images) != indices.size:
            raise ValueError(f"got {len(images)} images for {indices.size} indices")
        key = self.key(source, split, variant, indices)
        entry = self._valid_entry(key)
        if entry is not None:
            self.n_reused_ += indices.size
            return entry
        features = self._assemble(key, indices, images)
        return self._write(key, indices, features)

    # --- internals -----------------------------------------------------------------------
    def _folder(self, key: FeatureKey) -> Path:
        return self.root / key.source.dataset / key.source.pair

    def _read_sidecar(self, path: Path) -> dict[str, Any] | None:
        try:
            sidecar = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return sidecar if isinstance(sidecar, dict) else None

    def _load_checked(self, npy: Path, sidecar: dict[str, Any]) -> np.ndarray | None:
        """Return the memory-mapped features if the file matches its recorded hash and shape."""
        features, _ = self._check_npy(npy, sidecar)
        return features

    @staticmethod
    def _check_npy(npy: Path, sidecar: dict[str, Any]) -> tuple[np.ndarray | None, str]:
        """Return ``(features, "")``, or ``(None, why the file cannot be used)``."""
        try:
            if file_sha256(npy) != sidecar.get("npy_sha256"):
                return None, "contents differ from the recorded SHA-256"
            features = np.load(npy, mmap_mode="r")
        except FileNotFoundError:
            return None, "features file missing"
        except (OSError, ValueError):
            return None, "features file unreadable"
        shape_ok = features.ndim == 2 and features.shape[0] == len(sidecar.get("indices", ()))
        if not (shape_ok and features.dtype == np.float32):
            return None, "features of the wrong shape or type"
        return features, ""

    def _valid_entry(self, key: FeatureKey) -> FeatureEntry | None:
        """Return the stored entry of ``key``, or None (counting why, if a file was there)."""
        stem = self._folder(key) / key.file_stem()
        sidecar_path = stem.with_suffix(".json")
        if not sidecar_path.exists() and not stem.with_suffix(".npy").exists():
            return None
        sidecar = self._read_sidecar(sidecar_path)
        why = ""
        if sidecar is None:
            why = "index file missing or unreadable"
        elif sidecar.get("key") != key.as_dict():
            why = "index file of another key"
        else:
            _, why = self._check_npy(stem.with_suffix(".npy"), sidecar)
        if why:
            self.recomputed_[why] = self.recomputed_.get(why, 0) + 1
            return None
        assert sidecar is not None
        return FeatureEntry(stem.with_suffix(".npy"), np.asarray(sidecar["indices"], np.int64))

    def _group_entries(self, key: FeatureKey) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield the valid entries of the key's group: ``(indices, memory-mapped features)``."""
        folder = self._folder(key)
        if not folder.is_dir():
            return
        for path in sorted(folder.glob(f"{key.group_prefix()}-*.json")):
            sidecar = self._read_sidecar(path)
            if sidecar is None or not isinstance(sidecar.get("key"), dict):
                continue
            stored = {
                k: v for k, v in sidecar["key"].items() if k not in ("indices_sha256", "n_rows")
            }
            if stored != key.group():
                continue
            features = self._load_checked(path.with_suffix(".npy"), sidecar)
            if features is not None:
                yield np.asarray(sidecar["indices"], np.int64), features

    def _assemble(self, key: FeatureKey, indices: np.ndarray, images: np.ndarray) -> np.ndarray:
        """Features of ``indices``: stored rows of the group reused, the others extracted."""
        rows: np.ndarray | None = None
        missing = np.ones(indices.size, dtype=bool)
        position = {int(index): row for row, index in enumerate(indices)}
        for stored_indices, stored in self._group_entries(key):
            if not missing.any():
                break
            wanted = [
                (position[i], r) for r, i in enumerate(stored_indices.tolist()) if i in position
            ]
            targets = np.array([t for t, _ in wanted if missing[t]], dtype=np.intp)
            if targets.size == 0:
                continue
            sources = np.array([r for t, r in wanted if missing[t]], dtype=np.intp)
            if rows is None:
                rows = np.empty((indices.size, stored.shape[1]), dtype=np.float32)
            rows[targets] = stored[sources]
            missing[targets] = False
        self.n_reused_ += int(indices.size - missing.sum())
        if missing.any():
            computed = np.asarray(self.extract(np.asarray(images)[missing]), dtype=np.float32)
            self.n_extracted_ += int(missing.sum())
            if rows is None:
                rows = np.empty((indices.size, computed.shape[1]), dtype=np.float32)
            rows[missing] = computed
        assert rows is not None  # indices is non-empty: stored or computed rows filled it
        return rows

    def _write(self, key: FeatureKey, indices: np.ndarray, features: np.ndarray) -> FeatureEntry:
        folder = self._folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / key.file_stem()
        npy = stem.with_suffix(".npy")
        atomic_write(npy, lambda handle: np.save(handle, np.ascontiguousarray(features)))
        sidecar = {
            "key": key.as_dict(),
            "indices": indices.tolist(),
            "npy_sha256": file_sha256(npy),
        }
        atomic_write(stem.with_suffix(".json"), lambda h: h.write(json.dumps(sidecar).encode()))
        return FeatureEntry(npy, indices)
