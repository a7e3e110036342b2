"""The examples of figure F7: which two ``C`` it shows, the explanations, the ``.npz`` file.

After a run folder's grid, the driver explains a few images of the first seed of each
classifier in full, at two values of ``C`` (:func:`example_C`: ``--example-C``, else
:func:`choose_example_C` on the poisoned model's rows), and writes them with
:func:`write_examples` to ``examples_<clf>.npz`` (atomically), the file figure F7 is drawn from
(:mod:`backdoor_curves.plots.explanations`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from backdoor_curves.analyses.explanation import explain
from backdoor_curves.attacks.explanations import FeatureMap
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.explain.cell import ExplainTask, explained_problem
from backdoor_curves.experiments.problem import FeatureStage
from backdoor_curves.utilities.atomic import atomic_write
from backdoor_curves.utilities.data import PairTask
from backdoor_curves.utilities.metrics import accuracy

__all__ = ["choose_example_C", "example_C", "write_examples"]


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


def example_C(
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
    input gradients are taken through (the driver's, see
    :func:`~backdoor_curves.experiments.explain.gradients.stage_gradient_map`).

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
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, functools.partial(_save_npz, data))


def _save_npz(data: dict[str, np.ndarray], handle: BinaryIO) -> None:
    np.savez_compressed(handle, **data)  # type: ignore[arg-type]  # named arrays
