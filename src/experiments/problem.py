"""The problem layer: which data a grid cell uses, loaded once, poisoned, as model inputs.

- :class:`DataRequest` names a binary task (dataset, class pair, subset sizes, data seed).
- :func:`load_pairs` loads the pairs of a run from one read of the data (a driver loads
  each pair once and hands it to the grid's workers in their workspace,
  :mod:`backdoor_curves.experiments.workspace`); :func:`load_pair` loads one.
- :func:`poisoned_images` builds one (pair, trigger, poison fraction, seed) instance in image
  space: a :class:`PoisonedImages` (the poisoned training set and the backdoor test set).
- :func:`poisoned_problem` turns it into what the binary models see: a :class:`PoisonedProblem`
  of 2-D float64 feature matrices of the poisoned training set, the clean test set and the
  backdoor test set, with the explicit poison mask.
- The **feature stage** maps images to model inputs: ``"pixels"`` flattens them
  (:func:`to_features`); any object following :class:`FeatureStage` plugs in instead, e.g.
  :class:`~backdoor_curves.experiments.feature_stage.CachedFeatures`, which reads deep
  features that the driver extracted before dispatching the grid. Tasks carry the stage, so a
  worker needs nothing else.
- :func:`trigger_columns` gives the trigger's identity columns of a result row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from backdoor_curves.attacks.poisoning import (
    NEXT_CLASS,
    PoisonedSet,
    backdoor_test_set,
    poison_training_set,
)
from backdoor_curves.attacks.triggers import TriggerKind, TriggerSpec
from backdoor_curves.classifiers.inputs import read_only
from backdoor_curves.utilities.data import PairTask, dataset_info, load_pair_tasks, parse_pair

__all__ = [
    "DataRequest",
    "FeatureStage",
    "PoisonedImages",
    "PoisonedProblem",
    "clean_problem_features",
    "load_pair",
    "load_pairs",
    "poisoned_images",
    "poisoned_problem",
    "problem_from_images",
    "to_features",
    "trigger_columns",
]


@dataclass(frozen=True)
class DataRequest:
    """Which binary task to load.

    Attributes
    ----------
    dataset : str
        Registered dataset name, e.g. ``"mnist"``.
    pair : str
        Class pair ``"a-b"`` (class ``a`` -> label 0, class ``b`` -> label 1).
    n_train, n_test : int or None
        Subset sizes (None: the data source's default).
    data_seed : int
        Seed of the subset draw, independent of the experiment seeds.
    """

    dataset: str
    pair: str
    n_train: int | None
    n_test: int | None
    data_seed: int


def load_pair(
    request: DataRequest,
    data_dir: str | Path | None,
    *,
    verbose: bool = False,
    download: bool = False,
) -> PairTask:
    """Load the pair task of ``request``: :func:`load_pairs` of ``[request]`` (see there)."""
    return load_pairs([request], data_dir, verbose=verbose, download=download)[0]


def load_pairs(
    requests: Sequence[DataRequest],
    data_dir: str | Path | None,
    *,
    verbose: bool = False,
    download: bool = False,
) -> list[PairTask]:
    """Load the pair task of every request from ``data_dir`` (every call reads the data).

    Requests that differ only in their pair are loaded from one read of the dataset's files
    (:func:`~backdoor_curves.utilities.data.load_pair_tasks`), each drawn as it would be
    alone: a driver that runs several pairs reads its data once.

    Parameters
    ----------
    requests : sequence of DataRequest
        The tasks.
    data_dir : str, path or None
        Dataset root (None: ``$BACKDOOR_CURVES_DATA``, else ``./data``).
    verbose : bool, default False
        Print the data source's notices (e.g. the embedded-MNIST fallback) as ``notice: ...``.
    download : bool, default False
        Fetch the dataset into ``data_dir`` if it is missing.

    Returns
    -------
    list of PairTask
        The images and labels of each pair (read-only arrays), in the order of ``requests``.
    """
    notify: Callable[[str], None] | None = functools.partial(print, "notice:") if verbose else None
    reads: dict[tuple[str, int | None, int | None, int], list[int]] = {}
    for index, request in enumerate(requests):
        read = (request.dataset, request.n_train, request.n_test, request.data_seed)
        reads.setdefault(read, []).append(index)
    loaded: dict[int, PairTask] = {}
    for (dataset, n_train, n_test, data_seed), indices in reads.items():
        n_classes = dataset_info(dataset).n_classes
        tasks = load_pair_tasks(
            dataset,
            [parse_pair(requests[index].pair, n_classes) for index in indices],
            n_train=n_train,
            n_test=n_test,
            data_seed=data_seed,
            data_dir=None if data_dir is None else str(data_dir),
            download=download,
            notify=notify,
        )
        loaded.update(zip(indices, tasks, strict=True))
    return [loaded[index] for index in range(len(requests))]


def to_features(images: np.ndarray, features: str) -> np.ndarray:
    """Map images of shape (n, C, H, W) to the models' 2-D float64 inputs (n, C * H * W).

    Only ``"pixels"`` (the images, flattened) is a name; deep features come from a
    :class:`FeatureStage` object (see :func:`poisoned_problem`).
    """
    if features == "pixels":
        return np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    raise ValueError(
        f"unknown features {features!r}: 'pixels' is the only named feature map; deep "
        "features are a feature stage (backdoor_curves.experiments.feature_stage)"
    )


@dataclass(frozen=True)
class PoisonedImages:
    """One poisoned binary problem in image space, before the feature stage.

    Attributes
    ----------
    poisoned : PoisonedSet
        The poisoned training set: images ``X`` (n_train, C, H, W) in [0, 1], labels ``y``,
        the mask ``is_poison``, ``poison_indices`` and the built ``trigger``.
    X_backdoor : ndarray of shape (m, C, H, W), float32
        Backdoor test set: triggered copies of the eligible test images.
    y_backdoor : ndarray of shape (m,), int64
        Their target labels.
    backdoor_rows : ndarray of shape (m,), int64
        Row of the clean test set each backdoor image is a copy of (all rows under the
        drivers' ``"next"`` target policy).
    spec : TriggerSpec
        The trigger's specification.
    seed : int
        The experiment seed the trigger patterns and the poisons were drawn with.
    """

    poisoned: PoisonedSet
    X_backdoor: np.ndarray
    y_backdoor: np.ndarray
    backdoor_rows: np.ndarray
    spec: TriggerSpec
    seed: int


def poisoned_images(
    task: PairTask, trigger: TriggerSpec, fraction: float, seed: int
) -> PoisonedImages:
    """Build the trigger and the poisoned training set of ``seed``, and the backdoor test set.

    The trigger patterns and the poison choice come, in that order, from
    ``np.random.default_rng(seed)``, so a seed fixes both. The target policy is ``"next"``
    (for a pair: both classes flip).
    """
    rng = np.random.default_rng(seed)
    built = trigger.build(task.image_shape, 2, rng)
    poisoned = poison_training_set(task.X_train, task.y_train, built, fraction, rng, n_classes=2)
    X_backdoor, y_backdoor = backdoor_test_set(task.X_test, task.y_test, built, n_classes=2)
    rows = np.flatnonzero(NEXT_CLASS.candidates(np.asarray(task.y_test))).astype(np.int64)
    return PoisonedImages(poisoned, X_backdoor, np.asarray(y_backdoor), rows, trigger, seed)


@dataclass(frozen=True)
class PoisonedProblem:
    """One poisoned binary problem as 2-D float64 arrays.

    Attributes
    ----------
    X_train, y_train : ndarray of shape (n_train, n_features), (n_train,)
        Poisoned training set (poisons replace points) and its labels in {0, 1}.
    is_poison : ndarray of shape (n_train,), bool
        Poison mask.
    X_test, y_test : ndarray
        Clean test set.
    X_backdoor, y_backdoor : ndarray
        Backdoor test set (triggered test points, target labels).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    is_poison: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_backdoor: np.ndarray
    y_backdoor: np.ndarray

    def __post_init__(self) -> None:
        # Immutable inputs: fits keep them by reference instead of copying them.
        for name in ("X_train", "X_test", "X_backdoor"):
            object.__setattr__(self, name, read_only(getattr(self, name)))


class FeatureStage(Protocol):
    """A feature map that plugs into the problem layer (deep features, cached on disk).

    An implementation is a frozen, picklable value (grid tasks carry it); its methods run in
    the grid's workers.
    """

    def problem(self, task: PairTask, images: PoisonedImages) -> PoisonedProblem:
        """Return the model inputs of a poisoned problem (2-D float64 arrays)."""
        ...

    def clean(self, task: PairTask) -> tuple[np.ndarray, np.ndarray]:
        """Return the inputs of the clean train and test sets, 2-D float64."""
        ...


def poisoned_problem(
    task: PairTask,
    trigger: TriggerSpec,
    fraction: float,
    seed: int,
    features: str | FeatureStage,
) -> PoisonedProblem:
    """Build the poisoned problem of ``seed`` (see :func:`poisoned_images`) as model inputs.

    Parameters
    ----------
    task : PairTask
        The pair's images and labels.
    trigger : TriggerSpec
        The trigger.
    fraction : float
        Poison fraction in (0, 1).
    seed : int
        Experiment seed (trigger patterns, then poison choice).
    features : ``"pixels"`` or FeatureStage
        The feature stage: flattened pixels, or a stage object such as
        :class:`~backdoor_curves.experiments.feature_stage.CachedFeatures`.
    """
    return problem_from_images(task, poisoned_images(task, trigger, fraction, seed), features)


def problem_from_images(
    task: PairTask, images: PoisonedImages, features: str | FeatureStage
) -> PoisonedProblem:
    """Map a poisoned instance in image space (:func:`poisoned_images`) to model inputs.

    ``features`` as in :func:`poisoned_problem`; a caller that also needs the images (the
    explanations) poisons once and maps them here.
    """
    if not isinstance(features, str):
        return features.problem(task, images)
    poisoned = images.poisoned
    return PoisonedProblem(
        X_train=to_features(poisoned.X, features),
        y_train=np.asarray(poisoned.y),
        is_poison=np.asarray(poisoned.is_poison),
        X_test=to_features(task.X_test, features),
        y_test=np.asarray(task.y_test),
        X_backdoor=to_features(images.X_backdoor, features),
        y_backdoor=images.y_backdoor,
    )


def clean_problem_features(
    task: PairTask, features: str | FeatureStage
) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs of the unpoisoned train and test sets, each 2-D float64."""
    if not isinstance(features, str):
        X_train, X_test = features.clean(task)
    else:
        X_train, X_test = to_features(task.X_train, features), to_features(task.X_test, features)
    return read_only(X_train), read_only(X_test)


def trigger_columns(trigger: TriggerSpec) -> dict[str, object]:
    """Return the ``trigger``, ``trigger_size``, ``trigger_eps`` columns (None if undefined)."""
    return {
        "trigger": trigger.kind.value,
        "trigger_size": trigger.size if trigger.kind is TriggerKind.BADNET else None,
        "trigger_eps": trigger.eps if trigger.kind is TriggerKind.INVISIBLE else None,
    }
