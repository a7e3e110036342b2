r"""One cell of the explanation grid: a classifier swept over ``C`` for one seed, explained.

A cell (:class:`ExplainTask`) poisons the pair's training set with the seed's poisons
(:func:`explained_problem`, the same poisons as the slope and curve tables), and for every
``C`` of its grid, in increasing order along a warm-started ``C`` path
(:meth:`~backdoor_curves.classifiers.base.BinaryClassifier.C_path`), fits the clean model
(``beta = 0``: poisons weighted 0) and the poisoned one (``beta = 1``), explains both on the
first ``n_images`` triggered test images
(:func:`~backdoor_curves.analyses.explanation.explain`) and records their measures
(:func:`~backdoor_curves.analyses.explanation.measure_explanation`) with clean and backdoor
accuracy: one row per (``C``, beta), the columns :data:`EXPLAIN_COLUMNS`. The input gradients
go through the task's feature map, which the group's :class:`ExplainWorkspace` builds once
and keeps for the group's other tasks (:func:`explain_group`: the classifiers of one seed).
The driver (:mod:`backdoor_curves.experiments.explain.run`) plans the cells and records them.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from backdoor_curves.analyses.explanation import (
    ExplainedProblem,
    explain,
    measure_explanation,
)
from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.explain.gradients import GradientMaps
from backdoor_curves.experiments.feature_extraction import FeatureSettings
from backdoor_curves.experiments.feature_stage import CachedFeatures
from backdoor_curves.experiments.problem import (
    DataRequest,
    FeatureStage,
    poisoned_images,
    problem_from_images,
    trigger_columns,
)
from backdoor_curves.experiments.workspace import Workspace, WorkspaceFactory
from backdoor_curves.utilities.data import PairTask
from backdoor_curves.utilities.metrics import accuracy

__all__ = [
    "EXPLAIN_COLUMNS",
    "ExplainTask",
    "ExplainWorkspace",
    "ExplainWorkspaces",
    "explain_group",
    "explained_problem",
    "run_explain_task",
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

    ``pair_task``, ``trigger``, ``fraction``, ``seed`` and ``features`` are those of
    :func:`~backdoor_curves.experiments.problem.poisoned_problem` (deep features are read from
    the driver's cache); ``n_images`` is the number of triggered test images to explain.

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
    problem = problem_from_images(pair_task, images, features)
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


def _identity_columns(
    task: ExplainTask, pair_task: PairTask, problem: ExplainedProblem, features: str
) -> dict[str, object]:
    """Return the columns every row of a task shares."""
    return {
        "dataset": task.data.dataset,
        "data_source": pair_task.source,
        "features": features,
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


@dataclass(frozen=True)
class ExplainWorkspace:
    """What the tasks of one group share in their worker.

    Attributes
    ----------
    workspace : Workspace
        Holds the pair the driver loaded and reads the deep-feature cache it filled.
    gradient_maps : GradientMaps
        The maps the input gradients are taken through, built on first use and dropped with
        the group (a network loads once per group, not once per task).
    """

    workspace: Workspace
    gradient_maps: GradientMaps


@dataclass(frozen=True)
class ExplainWorkspaces:
    """Makes the :class:`ExplainWorkspace` of a group of tasks: the grid engine's ``context``.

    Attributes
    ----------
    workspaces : WorkspaceFactory
        Makes the group's workspace (the pairs the driver loaded, the feature cache).
    features : FeatureSettings
        Weights file, device and download permission of the deep extractor of the workers.
    """

    workspaces: WorkspaceFactory
    features: FeatureSettings = field(default_factory=FeatureSettings)

    def __call__(self, tasks: Sequence[ExplainTask]) -> ExplainWorkspace:
        """Return a new workspace for ``tasks``, with no gradient map built yet."""
        return ExplainWorkspace(self.workspaces(tasks), GradientMaps(self.features))


def explain_group(task: ExplainTask) -> Hashable:
    """Return the key of the tasks that share a problem and a gradient map (the ``group_by``).

    The classifiers of one (pair, features, seed) read the same poisoned problem and take
    their input gradients through the same network.
    """
    return (task.data, task.features, task.seed)


def run_explain_task(task: ExplainTask, context: ExplainWorkspace) -> list[dict[str, object]]:
    """Compute one grid task (see the module docstring); rows follow ``EXPLAIN_COLUMNS``.

    Parameters
    ----------
    task : ExplainTask
        The cell.
    context : ExplainWorkspace
        What the task's group shares: the pair, the feature cache and the gradient maps.
    """
    workspace = context.workspace
    pair_task = workspace.pair(task.data)
    problem = explained_problem(
        pair_task,
        task.trigger,
        task.poison_fraction,
        task.seed,
        task.n_images,
        workspace.feature_stage(task.features),
    )
    feature_map = context.gradient_maps.get(task.features)
    identity = _identity_columns(task, pair_task, problem, feature_map.name)
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
            rows.append(
                {
                    **identity,
                    "C": C,
                    "beta": beta,
                    "clean_acc": accuracy(problem.y_test, model.predict(problem.X_test)),
                    "backdoor_acc": accuracy(problem.y_backdoor, model.predict(problem.X_backdoor)),
                    **asdict(measure_explanation(explanation, problem)),
                    "seconds": time.perf_counter() - start,
                }
            )
    return rows
