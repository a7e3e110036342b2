"""What the experiment drivers share: cached data, poisoned problems, features, fitting.

A :class:`PoisonedProblem` is one (pair, trigger, poison fraction, seed) instance as the binary
models see it: 2-D float64 feature matrices of the poisoned training set, the clean test
set and the backdoor test set, with the explicit poison mask.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backdoor_curves.attacks.poisoning import backdoor_test_set, poison_training_set
from backdoor_curves.attacks.triggers import TriggerKind, TriggerSpec
from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.registry import ClassifierName, make_classifier
from backdoor_curves.classifiers.svm import KernelSVM, LinearSVM
from backdoor_curves.experiments.config import DatasetConfig, get_config
from backdoor_curves.utilities.cli import name_list
from backdoor_curves.utilities.data import (
    DATASETS,
    PairTask,
    dataset_info,
    load_pair_task,
    parse_pair,
)
from backdoor_curves.utilities.grid import ExecutionConfig, GridReport, run_grid
from backdoor_curves.utilities.results import ResultStore

__all__ = [
    "DataRequest",
    "add_dataset_arguments",
    "check_same_data",
    "config_from_args",
    "data_request",
    "pairs_from_args",
    "Evaluator",
    "PoisonedProblem",
    "load_pair_cached",
    "model_gram",
    "poisoned_problem",
    "record_run",
    "run_folder_name",
    "to_features",
    "trigger_columns",
    "trigger_slug",
]


@dataclass(frozen=True)
class DataRequest:
    """Which binary task to load: dataset, pair ``"a-b"``, subset sizes, data seed."""

    dataset: str
    pair: str
    n_train: int | None
    n_test: int | None
    data_seed: int


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--dataset`` and ``--profile`` (the configuration a driver runs)."""
    parser.add_argument("--dataset", default="mnist", choices=sorted(DATASETS), help="dataset")
    parser.add_argument(
        "--profile",
        choices=("paper", "smoke"),
        default="paper",
        help="paper grids (default) or a tiny smoke grid (MNIST only)",
    )


def config_from_args(args: argparse.Namespace) -> DatasetConfig:
    """Return the configuration chosen by ``--dataset`` and ``--profile``."""
    if args.profile == "smoke":
        if args.dataset != "mnist":
            raise ValueError("--profile smoke exists for mnist only")
        return get_config("smoke")
    return get_config(args.dataset)


def pairs_from_args(text: str | None, config: DatasetConfig) -> tuple[str, ...]:
    """Return the pairs of a comma-separated flag, validated (default: the config's pairs)."""
    pairs = name_list(text, "pairs") or config.pairs
    n_classes = dataset_info(config.dataset).n_classes
    for pair in pairs:
        parse_pair(pair, n_classes)
    return tuple(pairs)


def data_request(args: argparse.Namespace, config: DatasetConfig, pair: str) -> DataRequest:
    """Return the data request of ``pair`` (``--n-train``, ``--n-test``, ``--data-seed``)."""
    return DataRequest(
        config.dataset,
        pair,
        config.n_train if args.n_train is None else args.n_train,
        config.n_test if args.n_test is None else args.n_test,
        config.data_seed if args.data_seed is None else args.data_seed,
    )


@functools.lru_cache(maxsize=4)
def load_pair_cached(
    request: DataRequest, data_dir: str | None, *, verbose: bool = False
) -> PairTask:
    """Load (once per process) the pair task of ``request`` from ``data_dir``."""
    info = dataset_info(request.dataset)
    return load_pair_task(
        request.dataset,
        parse_pair(request.pair, info.n_classes),
        n_train=request.n_train,
        n_test=request.n_test,
        data_seed=request.data_seed,
        data_dir=data_dir,
        notify=None if not verbose else functools.partial(print, "notice:"),
    )


def to_features(images: np.ndarray, features: str) -> np.ndarray:
    """Map images (n, C, H, W) to the models' 2-D float64 inputs.

    ``"pixels"`` flattens the images. Deep features (``"alexnet"``) are computed by the
    feature extractor, which is not part of this release yet.
    """
    if features == "pixels":
        return np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    raise ValueError(
        f"features {features!r} are not available yet; this release supports 'pixels' (MNIST)"
    )


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


def poisoned_problem(
    task: PairTask, trigger: TriggerSpec, fraction: float, seed: int, features: str
) -> PoisonedProblem:
    """Build the trigger and the poisoned training set of ``seed``, and the test sets.

    The trigger patterns and the poison choice come, in that order, from
    ``np.random.default_rng(seed)``, so a seed fixes both.
    """
    rng = np.random.default_rng(seed)
    built = trigger.build(task.image_shape, 2, rng)
    poisoned = poison_training_set(task.X_train, task.y_train, built, fraction, rng, n_classes=2)
    X_backdoor, y_backdoor = backdoor_test_set(task.X_test, task.y_test, built, n_classes=2)
    return PoisonedProblem(
        X_train=to_features(poisoned.X, features),
        y_train=np.asarray(poisoned.y),
        is_poison=np.asarray(poisoned.is_poison),
        X_test=to_features(task.X_test, features),
        y_test=np.asarray(task.y_test),
        X_backdoor=to_features(X_backdoor, features),
        y_backdoor=np.asarray(y_backdoor),
    )


def model_gram(
    clf: ClassifierName, gamma: float | None, A: np.ndarray, B: np.ndarray | None = None
) -> np.ndarray:
    """Kernel matrix ``k(A, B)`` of a classifier (linear ``A B^T`` except for svm-rbf)."""
    kernel = make_classifier(clf, 1.0, gamma).kernel
    return kernel(A, A if B is None else B)


class Evaluator:
    """Scores of fitted models on fixed point sets, reusing kernel matrices.

    For kernel models (the RBF SVM) the kernels between each set and the training set are
    computed once and every model's scores come from them; the linear models score
    directly (``X w + b`` is cheaper than any kernel). The training set itself is the set
    ``"train"``, scored from the training Gram matrix.

    Parameters
    ----------
    model : BinaryClassifier
        Any model of the kind that will be evaluated (decides whether kernels pay off).
    X_train : ndarray of shape (n_train, n_features)
        Training inputs.
    gram : ndarray of shape (n_train, n_train)
        ``model.kernel(X_train, X_train)``.
    **sets : ndarray
        Named evaluation sets, e.g. ``test=X_test``.
    """

    def __init__(
        self, model: BinaryClassifier, X_train: np.ndarray, gram: np.ndarray, **sets: np.ndarray
    ) -> None:
        self._sets = {"train": X_train, **sets}
        self._kernels: dict[str, np.ndarray] = {}
        if isinstance(model, KernelSVM) and not isinstance(model, LinearSVM):
            self._kernels = {"train": gram}
            self._kernels |= {name: model.kernel(X, X_train) for name, X in sets.items()}

    def decision(self, model: BinaryClassifier, name: str) -> np.ndarray:
        """Scores ``f(x)`` of ``model`` on the set called ``name``."""
        if name in self._kernels:
            return model.decision_from_gram(self._kernels[name])
        return model.decision_function(self._sets[name])

    def predict(self, model: BinaryClassifier, name: str) -> np.ndarray:
        """Predicted labels in {0, 1} on the set called ``name``."""
        return (self.decision(model, name) > 0).astype(np.int64)

    def sensitivity_options(self, name: str) -> dict[str, np.ndarray]:
        """``eval_gram`` for ``weight_sensitivity`` on set ``name`` (kernel models only)."""
        return {"eval_gram": self._kernels[name]} if name in self._kernels else {}


def run_folder_name(
    request: DataRequest, trigger: TriggerSpec, config: DatasetConfig, profile: str
) -> str:
    """Results sub-folder of one pair: ``<pair>_<trigger>``, e.g. ``7-1_badnet3``.

    Runs on other data than the configuration's get their own folder, so tables never mix
    data: ``_smoke`` for the smoke profile, ``_n<train>-<test>`` for other subset sizes and
    ``_ds<seed>`` for another data seed.
    """
    parts = [request.pair, trigger_slug(trigger)]
    if profile != "paper":
        parts.append(profile)
    if (request.n_train, request.n_test) != (config.n_train, config.n_test):
        sizes = ["default" if n is None else str(n) for n in (request.n_train, request.n_test)]
        parts.append("n" + "-".join(sizes))
    if request.data_seed != config.data_seed:
        parts.append(f"ds{request.data_seed}")
    return "_".join(parts)


def check_same_data(results_dir: Path, source: str) -> None:
    """Refuse to add rows computed on other data to an existing table.

    Raises
    ------
    ValueError
        If ``results_dir/results.csv`` holds rows whose ``data_source`` differs from
        ``source`` (e.g. the embedded digits, then full MNIST).
    """
    table = results_dir / "results.csv"
    if not table.exists():
        return
    try:
        sources = set(pd.read_csv(table, usecols=["data_source"])["data_source"].dropna())
    except (ValueError, pd.errors.EmptyDataError):
        return  # header-only or foreign table: the result store reports real problems
    others = sorted(sources - {source})
    if others:
        raise ValueError(
            f"{results_dir} holds results computed on {others[0]!r}, but this run uses "
            f"{source!r}; choose another --out-dir or --run-name"
        )


def record_run(
    driver: str,
    tasks: Sequence[Any],
    worker: Callable[..., list[dict[str, Any]]],
    store: ResultStore,
    args: argparse.Namespace,
    execution: ExecutionConfig,
    source: str,
    description: str,
) -> tuple[GridReport, dict[str, Any]]:
    """Run a driver's grid into ``store`` and write its manifest.

    ``worker(task, data_dir=...)`` computes one task. Returns the grid report and the
    manifest's ``config`` part (drivers that derive further tables reuse it).
    """
    report = run_grid(
        tasks,
        functools.partial(worker, data_dir=args.data_dir),
        store,
        execution,
        description=description,
    )
    manifest = {
        "driver": driver,
        "profile": args.profile,
        "device": args.device,
        "execution": asdict(execution),
        "tasks": [asdict(task) for task in tasks],
    }
    store.write_manifest(config=manifest, data_source=source, timings=report.timings())
    return report, manifest


def trigger_slug(trigger: TriggerSpec) -> str:
    """Short file-name label: ``badnet3`` or ``invisible75`` (eps in 1/255 units)."""
    if trigger.kind is TriggerKind.BADNET:
        return f"badnet{trigger.size}"
    return f"invisible{round(float(trigger.eps) * 255)}"


def trigger_columns(trigger: TriggerSpec) -> dict[str, object]:
    """Return the ``trigger``, ``trigger_size``, ``trigger_eps`` columns (None if undefined)."""
    return {
        "trigger": trigger.kind.value,
        "trigger_size": trigger.size if trigger.kind is TriggerKind.BADNET else None,
        "trigger_eps": trigger.eps if trigger.kind is TriggerKind.INVISIBLE else None,
    }
