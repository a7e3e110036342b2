r"""Explanations of backdoored predictions over the regularisation grid (SPEC 5.4).

The dataset scripts ``src/test/explain_<dataset>.py`` call :func:`main` with their dataset
(and, for deep features, their feature map). For every classifier, ``C`` of the paper grid
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
``C``). After the grid, a few images are explained in full for figure F7 (``examples.npz``:
images, gradient maps, top-k training images with their labels and poison flags) at the
weakest and strongest regularisation, and the figures are drawn from the files. Example::

    python src/test/explain_mnist.py --pair 7-1 --clf svm,logistic --k 7 --n-images 50
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backdoor_curves.attacks.explanations import (
    FeatureMap,
    PixelFeatures,
    poison_share,
    top_k_influential,
    training_influence,
    trigger_share,
)
from backdoor_curves.attacks.poisoning import backdoor_test_set, poison_training_set
from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.registry import ClassifierName, make_classifier, parse_classifier
from backdoor_curves.experiments.common import (
    DataRequest,
    check_same_data,
    config_from_args,
    data_request,
    load_pair_cached,
    pairs_from_args,
    record_run,
    run_folder_name,
    trigger_columns,
)
from backdoor_curves.experiments.config import DatasetConfig
from backdoor_curves.plots.explanations import draw_explanation_figures
from backdoor_curves.utilities.cli import (
    DriverParser,
    add_common_arguments,
    float_list,
    name_list,
    report_errors,
)
from backdoor_curves.utilities.data import PairTask
from backdoor_curves.utilities.grid import execution_config_from_args
from backdoor_curves.utilities.metrics import accuracy
from backdoor_curves.utilities.results import ResultStore, check_writable

__all__ = [
    "DEFAULT_CLASSIFIERS",
    "EXPLAIN_COLUMNS",
    "ExplainTask",
    "ExplainedProblem",
    "Explanation",
    "FeatureFactory",
    "build_parser",
    "explain",
    "explained_problem",
    "main",
    "pixel_features",
    "run_explain_task",
    "write_examples",
]

EXPLAIN_COLUMNS: tuple[str, ...] = (
    "dataset", "data_source", "pair", "n_train", "n_test",
    "trigger", "trigger_size", "trigger_eps", "clf", "C", "gamma", "seed", "beta",
    "poison_fraction", "n_poison", "n_images", "k", "clean_acc", "backdoor_acc",
    "trigger_share", "trigger_share_median", "area_share",
    "poison_share", "poison_share_median", "n_images_ranked", "poison_fraction_train",
    "positive_share",
    "solves_per_image", "damping", "condition_number", "status", "seconds",
)  # fmt: skip
"""Columns of ``results.csv``: one row per (clf, gamma, C, seed, beta).

``trigger_share`` and ``poison_share`` are means over the images (medians next to them);
the poison share is taken over the ``n_images_ranked`` images whose top-k is defined (at
least ``k`` training points of non-zero influence: an SVM whose training points all lie
outside the margin has none);
``poison_fraction_train`` is the poisons' share of the training set; ``positive_share`` the
fraction of top-k points pushing the image towards the target (``I_tj > 0``);
``solves_per_image`` the Hessian / KKT right-hand sides solved per image (1 by design).
"""

#: The models of the explanation figures (SPEC 5.4; ridge can be asked for with ``--clf``).
DEFAULT_CLASSIFIERS = (ClassifierName.SVM, ClassifierName.LOGISTIC, ClassifierName.SVM_RBF)

#: Builds the feature map of a dataset's ``features`` name on a device (``"auto"``, ...).
FeatureFactory = Callable[[str, str], FeatureMap]


def pixel_features(features: str, device: str) -> FeatureMap:
    """Feature factory of the pixel datasets: ``"pixels"`` only.

    Raises
    ------
    ValueError
        For any other feature name (deep features need their extractor's factory).
    """
    if features != "pixels":
        raise ValueError(
            f"features {features!r} need a feature extractor, which this script does not "
            "provide; valid here: 'pixels'"
        )
    return PixelFeatures()


@dataclass(frozen=True)
class ExplainTask:
    """One grid task: a classifier (and gamma) swept over ``C_values`` for one seed."""

    data: DataRequest
    features: str
    trigger: TriggerSpec
    poison_fraction: float
    clf: ClassifierName
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
    feature_map: FeatureMap,
) -> ExplainedProblem:
    """Poison the pair task of ``seed`` and featurise it.

    The trigger patterns and the poison choice come, in that order, from
    ``np.random.default_rng(seed)``, as in every other driver, so the poisons are the ones
    of the slope and curve tables. The explained images are the first ``n_images`` points
    of the backdoor test set.
    """
    rng = np.random.default_rng(seed)
    built = trigger.build(pair_task.image_shape, 2, rng)
    poisoned = poison_training_set(
        pair_task.X_train, pair_task.y_train, built, fraction, rng, n_classes=2
    )
    backdoor_images, y_backdoor = backdoor_test_set(
        pair_task.X_test, pair_task.y_test, built, n_classes=2
    )
    if n_images > len(backdoor_images):
        raise ValueError(
            f"--n-images {n_images} exceeds the backdoor test set ({len(backdoor_images)} images)"
        )
    X_backdoor = feature_map.features(backdoor_images)
    return ExplainedProblem(
        train_images=np.asarray(poisoned.X),
        X_train=feature_map.features(poisoned.X),
        y_train=np.asarray(poisoned.y),
        is_poison=np.asarray(poisoned.is_poison),
        X_test=feature_map.features(pair_task.X_test),
        y_test=np.asarray(pair_task.y_test),
        images=np.asarray(backdoor_images[:n_images]),
        X_images=X_backdoor[:n_images],
        y_images=np.asarray(y_backdoor[:n_images]),
        X_backdoor=X_backdoor,
        y_backdoor=np.asarray(y_backdoor),
        mask=np.asarray(built.mask),
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
        model, problem.X_train, problem.y_train, weight, problem.X_images, problem.y_images
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
    n_images = len(problem.images)
    if not ranked.any():
        poisons = np.full(1, np.nan)
    return {
        "clean_acc": accuracy(problem.y_test, model.predict(problem.X_test)),
        "backdoor_acc": accuracy(problem.y_backdoor, model.predict(problem.X_backdoor)),
        "trigger_share": float(np.nanmean(shares)) if np.isfinite(shares).any() else np.nan,
        "trigger_share_median": (
            float(np.nanmedian(shares)) if np.isfinite(shares).any() else np.nan
        ),
        "area_share": float(np.mean(problem.mask)),
        "poison_share": float(np.mean(poisons)),
        "poison_share_median": float(np.median(poisons)),
        "n_images_ranked": int(ranked.sum()),
        "positive_share": float(np.mean(picked[ranked] > 0)) if ranked.any() else np.nan,
        "solves_per_image": explanation.n_solves / n_images,
        "damping": explanation.damping,
        "condition_number": explanation.condition_number,
        "status": status,
    }


def _fit(model: BinaryClassifier, problem: ExplainedProblem, weight: np.ndarray) -> None:
    model.fit(problem.X_train, problem.y_train, weight)


def run_explain_task(
    task: ExplainTask,
    *,
    data_dir: str | None = None,
    make_features: FeatureFactory = pixel_features,
    device: str = "auto",
) -> list[dict[str, object]]:
    """Compute one grid task (see the module docstring); rows follow ``EXPLAIN_COLUMNS``."""
    pair_task = load_pair_cached(task.data, data_dir)
    feature_map = make_features(task.features, device)
    problem = explained_problem(
        pair_task, task.trigger, task.poison_fraction, task.seed, task.n_images, feature_map
    )
    identity = {
        "dataset": task.data.dataset,
        "data_source": pair_task.source,
        "pair": task.data.pair,
        "n_train": pair_task.n_train,
        "n_test": pair_task.n_test,
        **trigger_columns(task.trigger),
        "clf": task.clf.value,
        "gamma": task.gamma,
        "seed": task.seed,
        "poison_fraction": task.poison_fraction,
        "n_poison": int(problem.is_poison.sum()),
        "n_images": task.n_images,
        "k": task.k,
        "poison_fraction_train": float(problem.is_poison.mean()),
    }
    weights = {0.0: (~problem.is_poison).astype(np.float64), 1.0: np.ones(len(problem.y_train))}
    models = {
        beta: make_classifier(task.clf, task.C_values[0], task.gamma, warm_start=True)
        for beta in weights
    }
    rows = []
    for C in sorted(task.C_values):
        for beta, weight in weights.items():
            start = time.perf_counter()
            model = models[beta]
            model.C = C
            _fit(model, problem, weight)
            explanation = explain(model, problem, weight, task.k, feature_map)
            row = {**identity, "C": C, "beta": beta, **_measure_row(explanation, problem, model)}
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
    return rows


# --- F7 examples ------------------------------------------------------------------------------
def write_examples(
    path: Path,
    task: ExplainTask,
    pair_task: PairTask,
    feature_map: FeatureMap,
    n_show: int,
) -> None:
    """Explain ``n_show`` images in full at the smallest and largest ``C`` of ``task``.

    Writes (atomically) an ``.npz`` with, per regularisation ``r`` in {0: strongest,
    1: weakest} and ``beta`` in {0, 1}: ``gradient`` (2, 2, n_show, C, H, W), ``top``
    (2, 2, n_show, k), ``top_influence`` (2, 2, n_show, k); and ``images``, ``mask``,
    ``train_images[top]`` as ``top_images`` (2, 2, n_show, k, C, H, W), ``top_labels``,
    ``top_is_poison``, ``C`` (2,), ``backdoor_acc`` (2, 2), the labels of the pair.
    """
    problem = explained_problem(
        pair_task, task.trigger, task.poison_fraction, task.seed, n_show, feature_map
    )
    weights = ((~problem.is_poison).astype(np.float64), np.ones(len(problem.y_train)))
    C_pair = (min(task.C_values), max(task.C_values))
    arrays: dict[str, list[list[np.ndarray]]] = {
        name: [[], []] for name in ("gradient", "top", "top_influence", "backdoor_acc")
    }
    for r, C in enumerate(C_pair):
        for weight in weights:
            model = make_classifier(task.clf, C, task.gamma)
            _fit(model, problem, weight)
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
        "C": np.asarray(C_pair),
        "clf": np.asarray(task.clf.value),
        "pair": np.asarray(task.data.pair),
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
    """Parser of the explanation script of ``dataset``."""
    parser = DriverParser(
        prog=prog or f"python src/test/explain_{dataset}.py",
        description=f"Explain backdoored predictions on {dataset}: input gradients (share "
        "inside the trigger) and top-k influential training points (share of poisons), "
        "clean vs poisoned models, over the regularisation grid; figure F7 and a summary.",
    )
    parser.set_defaults(dataset=dataset)
    parser.add_argument(
        "--profile",
        choices=("paper", "smoke"),
        default="paper",
        help="paper grids (default) or a tiny smoke grid",
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
        default=50,
        help="triggered test images explained per seed (default 50)",
    )
    parser.add_argument(
        "--n-show", type=int, default=3, help="images shown in figure F7 (default 3)"
    )
    parser.add_argument(
        "--C", dest="C_values", type=float_list, default=None, help="override the C grid"
    )
    parser.add_argument(
        "--gamma",
        type=float,
        default=None,
        help="RBF gamma (default: the middle of the dataset's gamma grid)",
    )
    parser.add_argument(
        "--no-figures",
        action="store_true",
        help="skip drawing (python -m backdoor_curves.plots.explanations RUN_DIR draws later)",
    )
    add_common_arguments(parser, default_out=f"results/<dataset>/explanations ({dataset})")
    return parser


def _classifiers(text: str | None) -> tuple[ClassifierName, ...]:
    names = name_list(text, "classifiers")
    return DEFAULT_CLASSIFIERS if names is None else tuple(map(parse_classifier, names))


def _gamma(args: argparse.Namespace, config: DatasetConfig) -> float:
    if args.gamma is not None:
        if not (np.isfinite(args.gamma) and args.gamma > 0):
            raise ValueError(f"--gamma must be a positive finite number, got {args.gamma}")
        return float(args.gamma)
    grid = config.slope_grid.rbf_gamma
    return float(grid[len(grid) // 2])


def _validate(args: argparse.Namespace) -> None:
    if args.k < 1:
        raise ValueError(f"--k must be >= 1, got {args.k}")
    if args.n_images < 1:
        raise ValueError(f"--n-images must be >= 1, got {args.n_images}")
    if not 1 <= args.n_show <= args.n_images:
        raise ValueError(f"--n-show must be in [1, --n-images={args.n_images}], got {args.n_show}")
    if args.C_values is not None and not all(np.isfinite(c) and c > 0 for c in args.C_values):
        raise ValueError(f"--C values must be positive finite numbers, got {list(args.C_values)}")


def _tasks(
    args: argparse.Namespace, config: DatasetConfig, request: DataRequest, gamma: float
) -> list[ExplainTask]:
    seeds = tuple(args.seeds) if args.seeds else config.seeds
    return [
        ExplainTask(
            data=request,
            features=config.features,
            trigger=config.main_trigger,
            poison_fraction=config.poison_fraction,
            clf=clf,
            gamma=gamma if clf.uses_gamma else None,
            C_values=tuple(args.C_values or config.slope_grid.C_values(clf)),
            seed=seed,
            k=args.k,
            n_images=args.n_images,
        )
        for clf in _classifiers(args.clf)
        for seed in seeds
    ]


def main(
    argv: Sequence[str] | None = None,
    *,
    dataset: str = "mnist",
    make_features: FeatureFactory = pixel_features,
) -> int:
    """Run the explanation grid of ``dataset`` and draw its figures; return the exit status.

    ``make_features(features, device)`` builds the feature map of the dataset's
    configuration (pixels here; the deep-feature scripts pass their extractor's factory).
    Bad input is one line on stderr and exit status 2, with nothing written.
    """

    @report_errors
    def checked(arguments: Sequence[str] | None) -> int:
        return _run(arguments, dataset, make_features)

    return checked(argv)


def _run(argv: Sequence[str] | None, dataset: str, make_features: FeatureFactory) -> int:
    args = build_parser(dataset).parse_args(argv)
    _validate(args)
    execution = execution_config_from_args(args)
    config = config_from_args(args)
    gamma = _gamma(args, config)
    classifiers = _classifiers(args.clf)
    feature_map = make_features(config.features, args.device)
    out_dir = Path(args.out_dir or f"{config.results_dir}/explanations")
    runs = []
    for pair in pairs_from_args(args.pair, config):
        request = data_request(args, config, pair)
        pair_task = load_pair_cached(request, args.data_dir, verbose=True)
        if args.k > pair_task.n_train:
            raise ValueError(
                f"--k {args.k} is larger than the training set ({pair_task.n_train} points)"
            )
        first_seed = (args.seeds or config.seeds)[0]
        explained_problem(  # validates trigger, fraction, n_images and the features
            pair_task, config.main_trigger, config.poison_fraction, first_seed, args.n_images,
            feature_map,
        )  # fmt: skip
        run_dir = out_dir / run_folder_name(request, config.main_trigger, config, args.profile)
        check_same_data(run_dir, pair_task.source)
        check_writable(run_dir)
        runs.append((request, pair_task, run_dir))
    worker = functools.partial(run_explain_task, make_features=make_features, device=args.device)
    for request, pair_task, run_dir in runs:
        tasks = _tasks(args, config, request, gamma)
        print(
            f"[explain] {config.dataset} {request.pair} {config.main_trigger.label}: data "
            f"{pair_task.source}, {pair_task.n_train} train / {pair_task.n_test} test, "
            f"{[c.value for c in classifiers]}, k={args.k}, {args.n_images} images -> {run_dir}"
        )
        store = ResultStore(run_dir, EXPLAIN_COLUMNS)
        report, _ = record_run(
            "explain", tasks, worker, store, args, execution, pair_task.source,
            description=f"explain {request.pair}",
        )  # fmt: skip
        for clf in classifiers:
            example_task = next(task for task in tasks if task.clf is clf)
            write_examples(
                run_dir / f"examples_{clf.value}.npz", example_task, pair_task, feature_map,
                args.n_show,
            )  # fmt: skip
        figures = [] if args.no_figures else draw_explanation_figures(run_dir)
        print(
            f"[explain] {report.n_computed} task(s) computed, {report.n_skipped} skipped, "
            f"{report.seconds:.1f} s -> {store.results_path}; {len(figures)} figure(s)"
        )
    return 0
