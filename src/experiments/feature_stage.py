r"""The deep-feature stage of the problem layer, as grid workers see it: stored features only.

A dataset whose configuration says ``features="alexnet"`` (CIFAR-10, Imagenette) feeds the
binary models the 4096-d fc7 features of a frozen AlexNet instead of pixels (see
``docs/data.md``). The driver extracts every feature a grid reads before dispatching it
(:mod:`backdoor_curves.experiments.feature_extraction`); a grid task carries a
:class:`CachedFeatures` value naming the extractor and the weights' SHA-256 (what the results
depend on), and its worker locates the entries in the cache folder (:func:`stage_at`, like
``data_dir`` the folder is not part of the task) through a :class:`FeatureReader`, the
:class:`~backdoor_curves.experiments.problem.FeatureStage` that builds a
:class:`~backdoor_curves.experiments.problem.PoisonedProblem` from memory-mapped entries. A
reader in a worker has no network: an entry that is missing raises instead of extracting.

The poisoned training matrix of seed ``s`` is the clean training features with the poison rows
replaced by the features of their triggered copies,
``X[i] = phi(x_i)`` for clean ``i`` and ``X[j] = phi(x_j + trigger)`` for poisons ``j``, which is
exactly ``phi`` applied to the poisoned image set, since ``phi`` acts on one image at a time.
The cache names the triggered copies by :func:`trigger_variant`, an opaque string to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backdoor_curves.attacks.poisoning import PoisonedSet
from backdoor_curves.attacks.triggers import TriggerKind, TriggerSpec
from backdoor_curves.experiments.problem import (
    FeatureStage,
    PoisonedImages,
    PoisonedProblem,
)
from backdoor_curves.utilities.data import PairTask, resolve_data_dir
from backdoor_curves.utilities.feature_cache import (
    CLEAN,
    FeatureCache,
    FeatureEntry,
    FeatureSource,
    Split,
    default_cache_dir,
)

__all__ = [
    "CachedFeatures",
    "CleanFeatures",
    "FeatureReader",
    "PoisonVariant",
    "TriggeredFeatures",
    "clean_features",
    "device_extractor",
    "pair_name",
    "feature_cache_dir",
    "poisoned_training_features",
    "stage_at",
    "trigger_variant",
    "triggered_features",
]


@dataclass(frozen=True)
class CachedFeatures:
    """The feature stage as a grid task holds it: which features, not where they are stored.

    Attributes
    ----------
    extractor : str
        Network and layer, and the device kind unless it is the CPU, e.g. ``"alexnet-fc7"``
        or ``"alexnet-fc7@cuda"`` (:func:`device_extractor`; part of the cache key).
    weights_sha256 : str
        SHA-256 of the weights file (part of the cache key, the task key and the manifest).
    data_seed : int
        Seed of the pair's train/test draw (part of the cache key).
    """

    extractor: str
    weights_sha256: str
    data_seed: int

    @property
    def network(self) -> str:
        """The extractor without its device kind, e.g. ``"alexnet-fc7"``."""
        return self.extractor.split("@", 1)[0]


def device_extractor(network: str, device_kind: str) -> str:
    """Name the features of ``network`` computed on ``device_kind`` (the cache's extractor).

    A GPU computes a network's features with other kernels than a CPU (cuDNN picks its
    convolution algorithms, and uses TF32 by default on recent GPUs): the features differ in
    their last bits or more, and so would every number computed from them. The device kind
    is therefore part of the cache key: ``"alexnet-fc7"`` on the CPU (the key of every
    cache written before), ``"alexnet-fc7@cuda"`` on CUDA.
    """
    return network if device_kind == "cpu" else f"{network}@{device_kind}"


@dataclass(frozen=True)
class PoisonVariant:
    """One poisoned problem of a pair: trigger, poison fraction and experiment seed."""

    trigger: TriggerSpec
    fraction: float
    seed: int


def trigger_variant(spec: TriggerSpec, seed: int) -> str:
    """Canonical name of the triggered copies made with ``spec`` and experiment seed ``seed``.

    A badnet trigger draws its patterns from the seed, so the seed is part of the name; the
    invisible trigger is deterministic, so its copies are the same for every seed and the
    name leaves the seed out.

    Returns
    -------
    str
        e.g. ``"badnet size=8 position=bottom-right low=0.0 high=1.0 seed=1"`` or
        ``"invisible eps=0.29411764705882354"``.
    """
    if spec.kind is TriggerKind.INVISIBLE:
        return f"invisible eps={spec.eps!r}"
    position = spec.position if isinstance(spec.position, tuple) else spec.position.value
    return (
        f"badnet size={spec.size} position={position} low={spec.low!r} high={spec.high!r} "
        f"seed={int(seed)}"
    )


@dataclass(frozen=True)
class CleanFeatures:
    """Clean features of a pair: every training row and every test row, in the task's order."""

    train: FeatureEntry
    test: FeatureEntry


@dataclass(frozen=True)
class TriggeredFeatures:
    """Features of the triggered copies of one experiment seed.

    Attributes
    ----------
    poisons : FeatureEntry
        Features of the triggered copies of the poisons, one row per poison.
    poison_rows : ndarray of shape (n_poison,), int64
        Rows of the training set the poisons replace (``PoisonedSet.poison_indices``).
    backdoor : FeatureEntry
        Features of the backdoor test set, one row per backdoor test image.
    """

    poisons: FeatureEntry
    poison_rows: np.ndarray
    backdoor: FeatureEntry


def poisoned_training_features(train: FeatureEntry, triggered: TriggeredFeatures) -> np.ndarray:
    """Training features of a poisoned set, built from cached entries only (no network).

    Parameters
    ----------
    train : FeatureEntry
        Clean features of every training row, in the task's order (``CleanFeatures.train``).
    triggered : TriggeredFeatures
        The triggered copies of one seed.

    Returns
    -------
    ndarray of shape (n_train, n_features), float32
        A new array: the clean training features, with row ``i`` replaced by the features of
        the triggered copy of image ``i`` for every poison ``i``.
    """
    features = np.array(train.load())
    rows = triggered.poison_rows
    if not np.array_equal(train.indices[rows], triggered.poisons.indices):
        raise ValueError("the poisons are not triggered copies of these training rows")
    features[rows] = triggered.poisons.load()
    return features


def clean_features(
    cache: FeatureCache,
    source: FeatureSource,
    X_train: np.ndarray,
    X_test: np.ndarray,
    *,
    train_indices: np.ndarray,
    test_indices: np.ndarray,
) -> CleanFeatures:
    """Features of the clean train and test images of a pair (all rows, in order).

    Parameters
    ----------
    cache : FeatureCache
        Where the features are stored (and extracted, for rows not stored yet).
    source : FeatureSource
        Dataset, pair and data seed the images were drawn with.
    X_train, X_test : ndarray of shape (n, C, H, W)
        The pair's clean images, pixels in [0, 1].
    train_indices, test_indices : ndarray of shape (n,), int
        Position of each image in its dataset split (``PairTask.train_indices`` and
        ``test_indices``): the images' identities, shared by every draw that holds them.
    """
    return CleanFeatures(
        train=cache.get(source, Split.TRAIN, CLEAN, train_indices, X_train),
        test=cache.get(source, Split.TEST, CLEAN, test_indices, X_test),
    )


def triggered_features(
    cache: FeatureCache,
    source: FeatureSource,
    variant: str,
    poisoned: PoisonedSet,
    X_backdoor: np.ndarray,
    *,
    train_indices: np.ndarray,
    backdoor_indices: np.ndarray,
) -> TriggeredFeatures:
    """Features of the triggered copies of one seed: the poisons and the backdoor test set.

    Parameters
    ----------
    cache : FeatureCache
        Where the features are stored.
    source : FeatureSource
        The pair's images.
    variant : str
        :func:`trigger_variant` of the trigger spec and seed ``poisoned`` was made with.
    poisoned : PoisonedSet
        The poisoned training set; its ``poison_indices`` rows are the triggered copies.
    X_backdoor : ndarray of shape (m, C, H, W)
        The backdoor test set (triggered copies of test images).
    train_indices : ndarray of shape (n_train,), int
        Dataset position of every training row (``PairTask.train_indices``).
    backdoor_indices : ndarray of shape (m,), int
        Dataset position of each backdoor test image's source (``test_indices`` of the
        eligible test points: all of them for the ``"next"`` policy).
    """
    rows = poisoned.poison_indices
    identities = np.asarray(train_indices)[rows]
    return TriggeredFeatures(
        poisons=cache.get(source, Split.TRAIN, variant, identities, poisoned.X[rows]),
        poison_rows=rows,
        backdoor=cache.get(source, Split.TEST, variant, backdoor_indices, X_backdoor),
    )


def feature_cache_dir(feature_dir: str | Path | None, data_dir: str | Path | None) -> Path:
    """Return the cache folder: ``--feature-cache`` if given, else ``<data dir>/features``."""
    if feature_dir is not None:
        return Path(feature_dir).expanduser().absolute()
    return default_cache_dir(resolve_data_dir(data_dir))


def pair_name(task: PairTask) -> str:
    """Return the pair as typed on the command line, ``"a-b"``."""
    return f"{task.classes[0]}-{task.classes[1]}"


def _positions(task: PairTask) -> tuple[np.ndarray, np.ndarray]:
    """Dataset positions of the task's images (the cache's image identities)."""
    if task.train_indices is None or task.test_indices is None:
        raise ValueError(
            "deep features need the images' dataset positions (PairTask.train_indices and "
            "test_indices); this task was built from in-memory arrays without them"
        )
    return task.train_indices, task.test_indices


def _refuse_extraction(images: np.ndarray) -> np.ndarray:
    raise RuntimeError(
        f"{len(images)} image(s) are missing from the feature cache; the driver extracts every "
        "feature before dispatching the grid, and workers never load the network (was the "
        "cache folder changed or cleaned while the grid ran?)"
    )


class FeatureReader:
    """A :class:`~backdoor_curves.experiments.problem.FeatureStage` over stored features.

    Parameters
    ----------
    features : CachedFeatures
        Which features.
    cache : FeatureCache
        Where they are stored; its ``extract`` runs only for images not stored yet (in a
        worker it raises, see :func:`stage_at`).
    """

    def __init__(self, features: CachedFeatures, cache: FeatureCache) -> None:
        self.features = features
        self.cache = cache

    def _source(self, task: PairTask) -> FeatureSource:
        return FeatureSource(task.dataset, pair_name(task), self.features.data_seed)

    def clean(self, task: PairTask) -> tuple[np.ndarray, np.ndarray]:
        """Features of the clean train and test images, float64 (n, d)."""
        train_indices, test_indices = _positions(task)
        clean = clean_features(
            self.cache,
            self._source(task),
            task.X_train,
            task.X_test,
            train_indices=train_indices,
            test_indices=test_indices,
        )
        return (
            np.asarray(clean.train.load(), dtype=np.float64),
            np.asarray(clean.test.load(), dtype=np.float64),
        )

    def problem(self, task: PairTask, images: PoisonedImages) -> PoisonedProblem:
        """Return the poisoned problem's features (poison rows: their triggered copies')."""
        train_indices, test_indices = _positions(task)
        source = self._source(task)
        clean = clean_features(
            self.cache,
            source,
            task.X_train,
            task.X_test,
            train_indices=train_indices,
            test_indices=test_indices,
        )
        triggered = triggered_features(
            self.cache,
            source,
            trigger_variant(images.spec, images.seed),
            images.poisoned,
            images.X_backdoor,
            train_indices=train_indices,
            backdoor_indices=test_indices[images.backdoor_rows],
        )
        return PoisonedProblem(
            X_train=poisoned_training_features(clean.train, triggered).astype(np.float64),
            y_train=np.asarray(images.poisoned.y),
            is_poison=np.asarray(images.poisoned.is_poison),
            X_test=np.asarray(clean.test.load(), dtype=np.float64),
            y_test=np.asarray(task.y_test),
            X_backdoor=np.asarray(triggered.backdoor.load(), dtype=np.float64),
            y_backdoor=images.y_backdoor,
        )


def stage_at(
    features: str | CachedFeatures, feature_dir: str | Path | None, data_dir: str | Path | None
) -> str | FeatureStage:
    """Return the feature stage a worker uses: ``"pixels"`` unchanged, or a reader of the cache.

    Parameters
    ----------
    features : str or CachedFeatures
        A task's ``features`` field.
    feature_dir, data_dir : str, Path or None
        ``--feature-cache`` and ``--data-dir`` (see :func:`feature_cache_dir`).
    """
    if isinstance(features, str):
        return features
    cache = FeatureCache(
        feature_cache_dir(feature_dir, data_dir),
        _refuse_extraction,
        extractor=features.extractor,
        weights_sha256=features.weights_sha256,
    )
    return FeatureReader(features, cache)
