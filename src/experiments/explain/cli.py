r"""Explanations of backdoored predictions over the regularisation grid (SPEC 5.4).

The dataset scripts ``src/test/explain_<dataset>.py`` are :func:`dataset_main` of their dataset.
For every classifier, ``C`` of the paper grid
and seed, the clean model (``beta = 0``: poisons weighted 0) and the poisoned model
(``beta = 1``) are fitted, and on ``n_images`` triggered test images (target labels):

- the input gradient of the decision function, and its **trigger share**: the part of
  ``sum |g|`` inside the trigger mask (the ``area_share`` column is the mask's share of the
  image, what an attribution blind to the trigger would get);
- the exact influence ``I_tj = d (y_t f(x_t)) / d s_j`` of every training point (one solve
  per image, :func:`~backdoor_curves.attacks.explanations.training_influence`), its top-k by
  ``|I_tj|`` and the **poison share** among them (``poison_fraction`` is the reference).

One table row per (classifier, gamma, ``C``, seed, beta) with the means over the images.
One grid task is a (classifier, gamma, seed) sweep over ``C`` (warm starts in increasing
``C``, one Gram matrix). After the grid, a few images of the first seed are explained in full
for figure F7 (``examples_<clf>.npz``: images, gradient maps, top-k training images with their
labels and poison flags) at two values of ``C`` (``--example-C``; by default the strongest and
the weakest regularisation at which the poisoned model has influential training points, see
:func:`choose_example_C`), and the figures are drawn from the files. Example::

    python src/test/explain_mnist.py --pair 7-1 --clf svm,logistic --k 7 --n-images 50

How images become model inputs is a :class:`~backdoor_curves.attacks.explanations.FeatureMap`
built in every process by :func:`gradient_map` from the dataset's feature stage: pixels for
MNIST; for CIFAR-10 and Imagenette the frozen AlexNet fc7 features (SPEC 5.5), which the driver
extracts once into the feature cache before the grid, with the input gradient of a fitted
model's decision taken with autograd through the network down to the image,
``d f(phi(x)) / d x``. Those two need the dataset under ``--data-dir`` (or ``--download``) and
AlexNet's ImageNet weights (``--weights PATH``, torchvision's file in the torch hub cache, or
``--download``); ``--profile smoke`` runs in seconds on a CPU.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from backdoor_curves.attacks.explanations import (
    FeatureMap,
    PixelFeatures,
    TorchFeatures,
    poison_share,
    top_k_influential,
    training_influence,
    trigger_share,
)
from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.registry import make_classifier, parse_classifier, uses_gamma
from backdoor_curves.experiments.config import DatasetConfig, get_config
from backdoor_curves.experiments.feature_extraction import (
    FeatureSettings,
    load_alexnet,
    open_feature_stage,
)
from backdoor_curves.experiments.feature_stage import CachedFeatures, PoisonVariant, stage_at
from backdoor_curves.experiments.flags import (
    add_common_arguments,
    add_feature_arguments,
    config_from_args,
    data_request_from_args,
    execution_config_from_args,
    feature_settings_from_args,
    out_dir_from_args,
    pairs_from_args,
    run_settings_from_args,
)
from backdoor_curves.experiments.problem import (
    DataRequest,
    FeatureStage,
    load_pair,
    poisoned_images,
    poisoned_problem,
    trigger_columns,
)
from backdoor_curves.experiments.recording import check_same_data, record_run, run_folder_name
from backdoor_curves.experiments.workspace import Workspace, WorkspaceFactory
from backdoor_curves.naming import trigger_spec_label
from backdoor_curves.utilities.atomic import check_writable
from backdoor_curves.utilities.backends import check_scheduler
from backdoor_curves.utilities.commands import DriverParser, float_list, name_list, report_errors
from backdoor_curves.utilities.data import PairTask
from backdoor_curves.utilities.metrics import accuracy
from backdoor_curves.utilities.store import ResultStore

__all__ = [
    "DEFAULT_CLASSIFIERS",
    "EXPLAIN_COLUMNS",
    "ExplainTask",
    "ExplainedProblem",
    "Explanation",
    "build_parser",
    "choose_example_C",
    "dataset_main",
    "explain",
    "explained_problem",
    "gradient_map",
    "main",
    "run_explain_task",
    "write_examples",
]

EXPLAIN_COLUMNS: tuple[str, ...] = (
    "dataset", "data_source", "features", "pair", "n_train", "n_test",
    "trigger", "trigger_size", "trigger_eps", "clf", "C", "gamma", "seed", "beta",
    "poison_fraction", "n_poison", "n_images", "k", "clean_acc", "backdoor_acc",
    "trigger_share", "trigger_share_median", "area_share",
    "poison_share", "poison_share_median", "n_images_ranked", "poison_fraction_train",
    "positive_share",
    "solves_per_image", "damping", "condition_number", "status", "seconds",
)  # fmt: skip
"""Columns of ``results.csv``: one row per (clf, gamma, C, seed, beta).

``features`` names what the models see (``pixels``, or the extractor and its weights, e.g.
``alexnet-fc7 sha256:1a2b3c4d5e6f``); ``trigger_share`` and ``poison_share`` are means over
the images (medians next to them); the poison share is taken over the ``n_images_ranked``
images whose top-k is defined (at least ``k`` training points of non-zero influence: an SVM
whose training points all lie outside the margin has none); ``poison_fraction_train`` is the
poisons' share of the training set; ``positive_share`` the fraction of top-k points pushing
the image towards the target (``I_tj > 0``); ``solves_per_image`` the Hessian / KKT
right-hand sides solved per image (1 by design).
"""

#: The models of the explanation figures (SPEC 5.4; ridge can be asked for with ``--clf``).
DEFAULT_CLASSIFIERS: tuple[str, ...] = ("svm", "logistic", "svm-rbf")

#: ``--n-images`` and ``--n-show`` defaults per profile (the smoke test sets are tiny).
_IMAGE_DEFAULTS = {"paper": (50, 3), "smoke": (4, 2)}


def gradient_map(features: str | CachedFeatures, settings: FeatureSettings) -> FeatureMap:
    """Return the map the input gradients are taken through, built in this process.

    Parameters
    ----------
    features : str or CachedFeatures
        A task's feature stage: ``"pixels"`` (the models' own input gradients), or the deep
        features (the network is loaded here, once per process, from ``settings.weights``).
    settings : FeatureSettings
        Weights file, device and download permission of the deep extractor.

    Raises
    ------
    ValueError
        Unknown features, or weights whose SHA-256 differs from the one the features were
        extracted with.
    """
    if isinstance(features, str):
        if features != "pixels":
            raise ValueError(f"unknown features {features!r}; valid: 'pixels' or a feature stage")
        return PixelFeatures()
    weights = None if settings.weights is None else str(settings.weights)
    return _deep_gradient_map(features, weights, settings.download, settings.device)


@functools.lru_cache(maxsize=1)
def _deep_gradient_map(
    features: CachedFeatures, weights: str | None, download: bool, device: str
) -> TorchFeatures:
    """Load the extractor of ``features`` once per process (see :func:`gradient_map`)."""
    from backdoor_curves.classifiers.nn.features import (  # noqa: PLC0415  # torch loads here
        ALEXNET_FC7,
        resolve_device,
    )

    if features.extractor != ALEXNET_FC7:
        raise ValueError(f"unknown extractor {features.extractor!r}; valid: {ALEXNET_FC7}")
    torch_device = resolve_device(device)
    extractor, resolved = load_alexnet(weights, download=download, device=torch_device, quiet=True)
    if resolved.sha256 != features.weights_sha256:
        raise ValueError(
            f"the weights {resolved.path} (sha256 {resolved.sha256[:12]}) are not the ones the "
            f"features were extracted with (sha256 {features.weights_sha256[:12]})"
        )
    return TorchFeatures(extractor.module, torch_device, name=_deep_name(features))


def _deep_name(features: CachedFeatures) -> str:
    return f"{features.extractor} sha256:{features.weights_sha256[:12]}"


@dataclass(frozen=True)
class ExplainTask:
    """One grid task: a classifier (and gamma) swept over ``C_values`` for one seed.

    ``features`` is ``"pixels"`` or the deep-feature stage the driver extracted
    (:class:`~backdoor_curves.experiments.feature_stage.CachedFeatures`).
    """

    data: DataRequest
    features: str | CachedFeatures
    trigger: TriggerSpec
    poison_fraction: float
    clf: str
    gamma: float | None
    C_values: tuple[float, ...]
    seed: int
    k: int
    n_images: int


@dataclass(frozen=True)
class ExplainedProblem:
    """A poisoned problem with the images kept next to the features.

    Attributes
    ----------
    train_images : ndarray of shape (n_train, C, H, W)
        Poisoned training images.
    X_train : ndarray of shape (n_train, n_features)
        Their features; ``y_train`` (n_train,) labels in {0, 1}; ``is_poison`` the mask.
    X_test, y_test : ndarray
        Clean test features and labels.
    images : ndarray of shape (n_images, C, H, W)
        The first ``n_images`` triggered test images; ``X_images`` their features and
        ``y_images`` the target labels.
    X_backdoor, y_backdoor : ndarray
        The whole backdoor test set (features, target labels).
    mask : ndarray of shape (C, H, W), bool
        Pixels the trigger may change.
    """

    train_images: np.ndarray
    X_train: np.ndarray
    y_train: np.ndarray
    is_poison: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    images: np.ndarray
    X_images: np.ndarray
    y_images: np.ndarray
    X_backdoor: np.ndarray
    y_backdoor: np.ndarray
    mask: np.ndarray


def explained_problem(
    pair_task: PairTask,
    trigger: TriggerSpec,
    fraction: float,
    seed: int,
    n_images: int,
    features: str | FeatureStage,
) -> ExplainedProblem:
    """Poison the pair task of ``seed`` and map it to model inputs, keeping the images.

    The trigger patterns and the poison choice come, in that order, from
    ``np.random.default_rng(seed)`` (:func:`~backdoor_curves.experiments.problem.poisoned_images`),
    as in every other driver, so the poisons are the ones of the slope and curve tables. The
    explained images are the first ``n_images`` points of the backdoor test set.

    Parameters
    ----------
    pair_task : PairTask
        The pair's images and labels.
    trigger : TriggerSpec
        The trigger.
    fraction : float
        Poison fraction in (0, 1).
    seed : int
        Experiment seed.
    n_images : int
        Triggered test images to explain.
    features : ``"pixels"`` or FeatureStage
        The feature stage (deep features are read from the driver's cache).

    Raises
    ------
    ValueError
        If ``n_images`` exceeds the backdoor test set.
    """
    images = poisoned_images(pair_task, trigger, fraction, seed)
    if n_images > len(images.X_backdoor):
        raise ValueError(
            f"--n-images {n_images} exceeds the backdoor test set ({len(images.X_backdoor)} images)"
        )
    problem = poisoned_problem(pair_task, trigger, fraction, seed, features)
    return ExplainedProblem(
        train_images=np.asarray(images.poisoned.X),
        X_train=problem.X_train,
        y_train=problem.y_train,
        is_poison=problem.is_poison,
        X_test=problem.X_test,
        y_test=problem.y_test,
        images=np.asarray(images.X_backdoor[:n_images]),
        X_images=problem.X_backdoor[:n_images],
        y_images=problem.y_backdoor[:n_images],
        X_backdoor=problem.X_backdoor,
        y_backdoor=problem.y_backdoor,
        mask=np.asarray(images.poisoned.trigger.mask),
    )


@dataclass(frozen=True)
class Explanation:
    """Explanation of the ``n_images`` images by one fitted model.

    Attributes
    ----------
    gradient : ndarray of shape (n_images, C, H, W)
        Input gradients of the decision function.
    influence : ndarray of shape (n_images, n_train)
        ``I_tj = d (y_t f(x_t)) / d s_j``.
    top : ndarray of shape (n_images, k), int
        Training indices of the largest ``|I_tj|``, most influential first.
    n_solves, damping, condition_number, status
        As in :class:`~backdoor_curves.attacks.explanations.TrainingInfluence`.
    """

    gradient: np.ndarray
    influence: np.ndarray
    top: np.ndarray
    n_solves: int
    damping: float
    condition_number: float
    status: str


def explain(
    model: BinaryClassifier,
    problem: ExplainedProblem,
    weight: np.ndarray,
    k: int,
    feature_map: FeatureMap,
) -> Explanation:
    """Input gradients and top-k influential training points of a fitted model."""
    influence = training_influence(
        model,
        problem.X_train,
        problem.y_train,
        weight,
        problem.X_images,
        problem.y_images,
    )
    top = top_k_influential(np.nan_to_num(influence.margin, nan=0.0), k)
    return Explanation(
        gradient=feature_map.input_gradient(model, problem.images),
        influence=influence.margin,
        top=top,
        n_solves=influence.n_solves,
        damping=influence.damping,
        condition_number=influence.condition_number,
        status=influence.status,
    )


def _nan_mean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else np.nan


def _nan_median(values: np.ndarray) -> float:
    return float(np.nanmedian(values)) if np.isfinite(values).any() else np.nan


def _measure_row(
    explanation: Explanation, problem: ExplainedProblem, model: BinaryClassifier
) -> dict[str, object]:
    shares = trigger_share(explanation.gradient, problem.mask)
    picked = np.take_along_axis(explanation.influence, explanation.top, axis=1)
    # A top-k padded with zero influences (ties) says nothing about the poisons.
    ranked = (np.abs(picked[:, -1]) > 0) & (explanation.status == "ok")
    status = explanation.status
    if status == "ok" and not ranked.any():
        status = "fewer than k training points with non-zero influence"
    poisons = poison_share(explanation.top[ranked], problem.is_poison)
    return {
        "clean_acc": accuracy(problem.y_test, model.predict(problem.X_test)),
        "backdoor_acc": accuracy(problem.y_backdoor, model.predict(problem.X_backdoor)),
        "trigger_share": _nan_mean(shares),
        "trigger_share_median": _nan_median(shares),
        "area_share": float(np.mean(problem.mask)),
        "poison_share": _nan_mean(poisons),
        "poison_share_median": _nan_median(poisons),
        "n_images_ranked": int(ranked.sum()),
        "positive_share": float(np.mean(picked[ranked] > 0)) if ranked.any() else np.nan,
        "solves_per_image": explanation.n_solves / len(problem.images),
        "damping": explanation.damping,
        "condition_number": explanation.condition_number,
        "status": status,
    }


def run_explain_task(
    task: ExplainTask,
    workspace: Workspace,
    *,
    settings: FeatureSettings | None = None,
) -> list[dict[str, object]]:
    """Compute one grid task (see the module docstring); rows follow ``EXPLAIN_COLUMNS``.

    Parameters
    ----------
    task : ExplainTask
        The cell.
    workspace : Workspace
        Holds the pair the driver loaded and reads the deep-feature cache it filled.
    settings : FeatureSettings or None
        Weights file and device of the deep extractor (input gradients); None for pixels.
    """
    pair_task = workspace.pair(task.data)
    stage = workspace.feature_stage(task.features)
    problem = explained_problem(
        pair_task, task.trigger, task.poison_fraction, task.seed, task.n_images, stage
    )
    feature_map = gradient_map(task.features, settings or FeatureSettings())
    identity = {
        "dataset": task.data.dataset,
        "data_source": pair_task.source,
        "features": feature_map.name,
        "pair": task.data.pair,
        "n_train": pair_task.n_train,
        "n_test": pair_task.n_test,
        **trigger_columns(task.trigger),
        "clf": task.clf,
        "gamma": task.gamma,
        "seed": task.seed,
        "poison_fraction": task.poison_fraction,
        "n_poison": int(problem.is_poison.sum()),
        "n_images": task.n_images,
        "k": task.k,
        "poison_fraction_train": float(problem.is_poison.mean()),
    }
    weights = {0.0: (~problem.is_poison).astype(np.float64), 1.0: np.ones(len(problem.y_train))}
    base = make_classifier(task.clf, task.C_values[0], task.gamma)
    C_values = sorted(task.C_values)
    paths = {
        beta: base.C_path(problem.X_train, problem.y_train, weight, C_values)
        for beta, weight in weights.items()
    }
    rows = []
    for C in C_values:
        for beta, weight in weights.items():
            start = time.perf_counter()
            model = next(paths[beta])
            explanation = explain(model, problem, weight, task.k, feature_map)
            row = {**identity, "C": C, "beta": beta, **_measure_row(explanation, problem, model)}
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
    return rows


# --- F7 examples ------------------------------------------------------------------------------
def choose_example_C(rows: pd.DataFrame, C_values: Sequence[float]) -> tuple[float, float]:
    """Return the two ``C`` values F7 shows: where the poisoned model has influential points.

    Parameters
    ----------
    rows : pandas.DataFrame
        The poisoned model's rows (``beta = 1``) of one classifier, gamma and seed, with the
        columns ``C``, ``status`` and ``n_images_ranked``.
    C_values : sequence of float
        The ``C`` grid of the task.

    Returns
    -------
    (float, float)
        Increasing. The smallest and largest ``C`` whose top-k ranking is defined for at
        least one image (``status == "ok"``, ``n_images_ranked > 0``): the strongest and the
        weakest regularisation F7 can explain. A linear SVM has no influential point at
        either end of the grid (every point a bounded support vector when ``C`` is tiny,
        none inside the margin when it is large), which the grid ends would show as empty
        panels. With one such ``C``, it and the grid end farther from it (log scale); with
        none, the grid ends.
    """
    grid = sorted(C_values)
    informative = rows[(rows["status"] == "ok") & (rows["n_images_ranked"] > 0)]
    candidates = sorted(float(c) for c in informative["C"])
    if len(candidates) >= 2:
        return candidates[0], candidates[-1]
    if len(candidates) == 1:
        only = candidates[0]
        far = max((grid[0], grid[-1]), key=lambda c: abs(np.log(c) - np.log(only)))
        low, high = sorted((only, far))
        return low, high
    return grid[0], grid[-1]


def write_examples(
    path: Path,
    task: ExplainTask,
    pair_task: PairTask,
    features: str | FeatureStage,
    feature_map: FeatureMap,
    n_show: int,
    C_pair: tuple[float, float],
) -> None:
    """Explain ``n_show`` images in full at the two values ``C_pair`` (strong, weak).

    ``features`` is the feature stage of ``task`` (model inputs), ``feature_map`` the map the
    input gradients are taken through (:func:`gradient_map`).

    Writes (atomically) an ``.npz`` with, per regularisation ``r`` in {0: ``C_pair[0]``,
    1: ``C_pair[1]``} and ``beta`` in {0, 1}: ``gradient`` (2, 2, n_show, C, H, W), ``top``
    (2, 2, n_show, k), ``top_influence`` (2, 2, n_show, k); and ``images``, ``mask``,
    ``train_images[top]`` as ``top_images`` (2, 2, n_show, k, C, H, W), ``top_labels``,
    ``top_is_poison``, ``C`` (2,), ``backdoor_acc`` (2, 2), ``features`` and the pair.
    """
    problem = explained_problem(
        pair_task, task.trigger, task.poison_fraction, task.seed, n_show, features
    )
    weights = ((~problem.is_poison).astype(np.float64), np.ones(len(problem.y_train)))
    base = make_classifier(task.clf, C_pair[0], task.gamma)
    arrays: dict[str, list[list[np.ndarray]]] = {
        name: [[], []] for name in ("gradient", "top", "top_influence", "backdoor_acc")
    }
    for r, C in enumerate(C_pair):
        for weight in weights:
            model = base.with_params(C=C).fit(problem.X_train, problem.y_train, weight)
            explanation = explain(model, problem, weight, task.k, feature_map)
            arrays["gradient"][r].append(explanation.gradient)
            arrays["top"][r].append(explanation.top)
            arrays["top_influence"][r].append(
                np.take_along_axis(explanation.influence, explanation.top, axis=1)
            )
            arrays["backdoor_acc"][r].append(
                np.asarray(accuracy(problem.y_backdoor, model.predict(problem.X_backdoor)))
            )
    top = np.asarray(arrays["top"])
    data = {name: np.asarray(value) for name, value in arrays.items()}
    data |= {
        "images": problem.images,
        "mask": problem.mask,
        "top_images": problem.train_images[top],
        "top_labels": problem.y_train[top],
        "top_is_poison": problem.is_poison[top],
        "target_labels": problem.y_images,
        "C": np.asarray(C_pair, dtype=np.float64),
        "clf": np.asarray(task.clf),
        "gamma": np.asarray(np.nan if task.gamma is None else task.gamma),
        "pair": np.asarray(task.data.pair),
        "dataset": np.asarray(task.data.dataset),
        "features": np.asarray(feature_map.name),
        "seed": np.asarray(task.seed),
    }
    _save_npz_atomically(path, data)


def _save_npz_atomically(path: Path, data: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez_compressed(stream, **data)  # type: ignore[arg-type]  # named arrays
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- command line ------------------------------------------------------------------------------
def build_parser(dataset: str = "mnist", prog: str | None = None) -> argparse.ArgumentParser:
    """Parser of the explanation script of ``dataset`` (deep-feature flags for deep datasets)."""
    parser = DriverParser(
        prog=prog or f"python src/test/explain_{dataset}.py",
        description=f"Explain backdoored predictions on {dataset}: input gradients (share "
        "inside the trigger) and top-k influential training points (share of poisons), "
        "clean vs poisoned models, over the regularisation grid; figure F7 and a summary.",
    )
    parser.set_defaults(dataset=dataset)
    parser.add_argument(
        "--profile",
        choices=tuple(_IMAGE_DEFAULTS),
        default="paper",
        help="paper grids (default) or a tiny smoke grid (seconds on a CPU)",
    )
    parser.add_argument("-pair", "--pair", default=None, help="class pair(s) a-b, comma-separated")
    parser.add_argument(
        "-clf",
        "--clf",
        default=None,
        help="classifier(s), comma-separated: svm, svm-rbf, logistic, ridge "
        "(default: svm, logistic, svm-rbf)",
    )
    parser.add_argument(
        "--k", type=int, default=7, help="top-k influential training points (default 7)"
    )
    parser.add_argument(
        "--n-images",
        type=int,
        default=None,
        help="triggered test images explained per seed (default 50; smoke profile 4)",
    )
    parser.add_argument(
        "--n-show", type=int, default=None, help="images shown in figure F7 (default 3; smoke 2)"
    )
    parser.add_argument(
        "--C", dest="C_values", type=float_list, default=None, help="override the C grid"
    )
    parser.add_argument(
        "--example-C",
        dest="example_C",
        type=float_list,
        default=None,
        metavar="C1,C2",
        help="the two C values figure F7 shows (default: the strongest and the weakest "
        "regularisation of the grid at which the poisoned model has influential points)",
    )
    parser.add_argument(
        "--gamma",
        type=float,
        default=None,
        help="RBF gamma (default: the middle of the dataset's gamma grid)",
    )
    figures = parser.add_mutually_exclusive_group()
    figures.add_argument(
        "--no-figures", action="store_true", help="write the tables and examples only"
    )
    figures.add_argument(
        "--figures-only",
        action="store_true",
        help="compute nothing: redraw F7 and the summary of the run folders these flags "
        "point at (OUT_DIR/explanations/<run>/figures)",
    )
    add_common_arguments(parser, default_out=f"runs/{get_config(dataset).results_name}")
    if get_config(dataset).features != "pixels":
        add_feature_arguments(parser)
    return parser


def _classifiers(text: str | None) -> tuple[str, ...]:
    names = name_list(text, "classifiers")
    return DEFAULT_CLASSIFIERS if names is None else tuple(map(parse_classifier, names))


def _gamma(args: argparse.Namespace, config: DatasetConfig) -> float:
    if args.gamma is not None:
        if not (np.isfinite(args.gamma) and args.gamma > 0):
            raise ValueError(f"--gamma must be a positive finite number, got {args.gamma}")
        return float(args.gamma)
    grid = config.slope_grid.rbf_gamma
    return float(grid[len(grid) // 2])


def _positive(values: Sequence[float] | None, flag: str) -> None:
    if values is not None and not all(np.isfinite(c) and c > 0 for c in values):
        raise ValueError(f"{flag} values must be positive finite numbers, got {list(values)}")


def _validate(args: argparse.Namespace) -> None:
    """Check the flags and fill the profile's image counts into ``args``."""
    n_images, n_show = _IMAGE_DEFAULTS[args.profile]
    args.n_images = n_images if args.n_images is None else args.n_images
    args.n_show = min(n_show, args.n_images) if args.n_show is None else args.n_show
    if args.k < 1:
        raise ValueError(f"--k must be >= 1, got {args.k}")
    if args.n_images < 1:
        raise ValueError(f"--n-images must be >= 1, got {args.n_images}")
    if not 1 <= args.n_show <= args.n_images:
        raise ValueError(f"--n-show must be in [1, --n-images={args.n_images}], got {args.n_show}")
    _positive(args.C_values, "--C")
    _positive(args.example_C, "--example-C")
    if args.example_C is not None and len(args.example_C) != 2:
        raise ValueError(
            f"--example-C takes two C values (strong, weak regularisation), "
            f"got {list(args.example_C)}"
        )


def _feature_settings(args: argparse.Namespace, config: DatasetConfig) -> FeatureSettings:
    if config.features == "pixels":
        return FeatureSettings(device=args.device, quiet=args.quiet)
    return feature_settings_from_args(args)


def _tasks(
    args: argparse.Namespace,
    config: DatasetConfig,
    request: DataRequest,
    features: str | CachedFeatures,
    gamma: float,
) -> list[ExplainTask]:
    """Plan the grid, seed-major (the tasks of one seed read the same features in a row)."""
    return [
        ExplainTask(
            data=request,
            features=features,
            trigger=config.main_trigger,
            poison_fraction=config.poison_fraction,
            clf=clf,
            gamma=gamma if uses_gamma(clf) else None,
            C_values=tuple(args.C_values or config.slope_grid.C_values(clf)),
            seed=seed,
            k=args.k,
            n_images=args.n_images,
        )
        for seed in _seeds(args, config)
        for clf in _classifiers(args.clf)
    ]


def _seeds(args: argparse.Namespace, config: DatasetConfig) -> tuple[int, ...]:
    return tuple(args.seeds) if args.seeds else config.seeds


def dataset_main(dataset: str) -> Callable[[Sequence[str] | None], int]:
    """Return the ``main(argv=None)`` of the explanation script of ``dataset``.

    The scripts ``src/test/explain_<dataset>.py`` are this function of their dataset; their
    workers run :func:`run_explain_task` of this module, so nothing of the script itself is
    pickled and it can run by path or as a module alike.
    """

    def script_main(argv: Sequence[str] | None = None) -> int:
        return main(argv, dataset=dataset)

    script_main.__doc__ = f"Run the {dataset} explanations; return the exit status."
    return script_main


def dispatch_main(argv: Sequence[str] | None = None) -> int:
    """``backdoor-curves explain DATASET [FLAGS...]``: the explanation script of ``DATASET``."""
    arguments = list(argv or ())
    datasets = ("mnist", "cifar10", "imagenette")
    if not arguments or arguments[0] in ("-h", "--help"):
        print(f"usage: backdoor-curves explain {{{','.join(datasets)}}} [FLAGS...]\n"
              "backdoor-curves explain DATASET --help lists the flags.")  # fmt: skip
        return 0 if arguments else 2
    if arguments[0] not in datasets:
        print(
            f"backdoor-curves explain: error: unknown dataset {arguments[0]!r}; valid: "
            f"{', '.join(datasets)}",
            file=sys.stderr,
        )
        return 2
    return main(arguments[1:], dataset=arguments[0])


def main(argv: Sequence[str] | None = None, *, dataset: str = "mnist") -> int:
    """Run the explanation grid of ``dataset`` and draw its figures; return the exit status.

    The dataset's configuration says what the models see: pixels (MNIST), or AlexNet fc7
    features (CIFAR-10, Imagenette), extracted once into the feature cache before the grid
    and differentiated through the network for the input gradients. Results go to
    ``OUT_DIR/explanations/<pair>_<trigger><variant>/`` (``OUT_DIR`` defaults to
    ``runs/<dataset>``; the committed reference is ``results/<dataset>``). Bad input is one
    line on stderr and exit status 2, with nothing written.
    """

    @report_errors
    def checked(arguments: Sequence[str] | None) -> int:
        return _run(arguments, dataset)

    return checked(argv)


def _run(argv: Sequence[str] | None, dataset: str) -> int:
    args = build_parser(dataset).parse_args(argv)
    _validate(args)
    execution = execution_config_from_args(args)
    check_scheduler(execution)  # an unreachable cluster fails first, writing nothing
    config = config_from_args(args)
    gamma = _gamma(args, config)
    classifiers = _classifiers(args.clf)
    out_dir = out_dir_from_args(args, config) / "explanations"
    runs = []
    for pair in pairs_from_args(args.pair, config):
        request = data_request_from_args(args, config, pair)
        pair_task = load_pair(request, args.data_dir, verbose=True, download=args.download)
        _check_sizes(args, pair_task, config)
        run_dir = out_dir / run_folder_name(request, config.main_trigger, config, args.profile)
        runs.append((request, pair_task, run_dir))
    if args.figures_only:
        return _redraw(run_dir for _, _, run_dir in runs)
    settings = _feature_settings(args, config)
    stage = open_feature_stage(config.features, settings, args.data_dir, runs[0][0].data_seed)
    for _, pair_task, run_dir in runs:
        check_same_data(run_dir, pair_task.source)
    features = config.features if stage is None else stage.features
    worker = functools.partial(run_explain_task, settings=settings)
    feature_map: FeatureMap = PixelFeatures()
    if stage is not None:
        # The explanations need the network's gradients: it loads here (weights and device
        # verified), before anything is written.
        feature_map = TorchFeatures(
            stage.extractor.module, stage.extractor.device, name=_deep_name(stage.features)
        )
        seeds = _seeds(args, config)
        variants = [PoisonVariant(config.main_trigger, config.poison_fraction, s) for s in seeds]
        for _, pair_task, _ in runs:
            print(stage.extract(pair_task, variants))
        worker = functools.partial(
            run_explain_task,
            settings=replace(settings, weights=stage.weights_path, download=False),
        )
    for _, _, run_dir in runs:
        check_writable(run_dir)
    run_settings = run_settings_from_args(args, "explain", execution)
    for request, pair_task, run_dir in runs:
        tasks = _tasks(args, config, request, features, gamma)
        print(
            f"[explain] {config.dataset} {request.pair} {trigger_spec_label(config.main_trigger)}:"
            f" data {pair_task.source}, features {feature_map.name}, {pair_task.n_train} train /"
            f" {pair_task.n_test} test, {list(classifiers)}, k={args.k}, {args.n_images} images"
            f" -> {run_dir}"
        )
        store = ResultStore(run_dir, EXPLAIN_COLUMNS)
        workspaces = WorkspaceFactory(
            {request: pair_task}, args.data_dir, None if stage is None else str(stage.cache.root)
        )
        report, _ = record_run(
            tasks, worker, store, run_settings, pair_task.source,
            description=f"explain {request.pair}", context=workspaces,
        )  # fmt: skip
        stage_here = stage_at(features, None if stage is None else stage.cache.root, args.data_dir)
        for clf in classifiers:
            example_task = next(task for task in tasks if task.clf == clf)
            C_pair = _example_C(args.example_C, report.table, example_task)
            write_examples(
                run_dir / f"examples_{clf}.npz", example_task, pair_task, stage_here,
                feature_map, args.n_show, C_pair,
            )  # fmt: skip
            print(f"[explain] F7 {clf}: C = {C_pair[0]:.3g} and {C_pair[1]:.3g}")
        figures = [] if args.no_figures else _draw_figures(run_dir)
        print(
            f"[explain] {report.n_computed} task(s) computed, {report.n_skipped} skipped, "
            f"{report.seconds:.1f} s -> {store.results_path}; {len(figures)} figure file(s)"
        )
    return 0


def _check_sizes(args: argparse.Namespace, pair_task: PairTask, config: DatasetConfig) -> None:
    """``--k`` and ``--n-images`` against the pair's training and backdoor test sets."""
    if args.k > pair_task.n_train:
        raise ValueError(
            f"--k {args.k} is larger than the training set ({pair_task.n_train} points)"
        )
    first_seed = _seeds(args, config)[0]
    images = poisoned_images(pair_task, config.main_trigger, config.poison_fraction, first_seed)
    if args.n_images > len(images.X_backdoor):
        raise ValueError(
            f"--n-images {args.n_images} exceeds the backdoor test set "
            f"({len(images.X_backdoor)} images)"
        )


def _example_C(
    chosen: Sequence[float] | None, table: pd.DataFrame, task: ExplainTask
) -> tuple[float, float]:
    """``--example-C`` in increasing order, or :func:`choose_example_C` on the task's rows."""
    if chosen is not None:
        low, high = sorted(float(c) for c in chosen)
        return low, high
    gamma = np.nan if task.gamma is None else task.gamma
    rows = table[
        (table["clf"] == task.clf)
        & np.isclose(table["gamma"].astype(float), gamma, equal_nan=True)
        & (table["seed"] == task.seed)
        & (table["k"] == task.k)
        & (table["n_images"] == task.n_images)
        & (table["beta"] == 1.0)
        & table["C"].isin(task.C_values)
    ]
    return choose_example_C(rows, task.C_values)


def _draw_figures(run_dir: Path) -> list[Path]:
    """Draw F7 and the summary of one run folder (matplotlib is imported only here)."""
    from backdoor_curves.plots.explanations import (  # noqa: PLC0415  # matplotlib only here
        draw_explanation_figures,
    )

    return draw_explanation_figures(run_dir)


def _redraw(run_dirs: Iterable[Path]) -> int:
    """``--figures-only``: draw the figures of existing run folders."""
    for run_dir in run_dirs:
        for path in _draw_figures(run_dir):
            if path.suffix == ".png":
                print(f"[explain] figure {path}")
    return 0
