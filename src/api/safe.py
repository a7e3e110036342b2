r"""Safe hyper-parameters for a scikit-learn estimator, with a stand-in trigger of your choice.

A defender does not know the attacker's trigger. :func:`safe_hyperparameters` plants a
**stand-in** trigger (a :class:`~backdoor_curves.attacks.triggers.TriggerSpec`, a
:class:`~backdoor_curves.api.images.MaskTrigger` or a function) in the user's own training
set with :func:`~backdoor_curves.api.images.poison` (a ``fraction`` of the eligible points,
relabelled with ``target``), triggers the clean test set with
:func:`~backdoor_curves.api.images.backdoor_test_set`, and for every point of the user's grid
and every seed measures, with the analysis of :mod:`backdoor_curves.analyses.safe_search`:

- on the model fitted to the clean points (poisons weighted 0): its clean test accuracy ``A``,
  the exact learning slope ``s`` towards the stand-in backdoor and
  ``theta = -(2/pi) arctan(s)``;
- on the model fitted to the poisoned set (every weight 1): its clean and backdoor test
  accuracies ``CA`` and ``BA``.

Each grid point is the estimator with those parameters (``clone(estimator).set_params(**p)``),
mapped onto the objective it minimises by :func:`~backdoor_curves.api.estimators.analysed_model`
on the seed's poisoned training set, as :func:`~backdoor_curves.api.learning.learning_slope`
does (``gamma="scale"`` is resolved there, as scikit-learn resolves it when fitting the
poisoned set). Over the seeds, a point is **safe**
(:func:`~backdoor_curves.analyses.safe_region.safe_region`) when

.. math::

    \overline{CA}_p \ge \max_{p'} \overline{CA}_{p'} - m \quad\text{and}\quad
    \overline{BA}_p \le l ,

and the slope-only rule (:mod:`backdoor_curves.analyses.slope_rule`), applied to the means over
the seeds of ``A`` and ``theta``, **selects** the points with
``A_p >= max_p' A_p' - m`` and ``theta_p <= tau`` and **chooses** the selected point with the
highest ``A`` (ties: lowest ``theta``, then smallest ``C`` of the objective). The rule never
looks at the poisoned model; the region does.

**The answer is only as safe as the stand-in trigger is close to the attacker's.** On MNIST a
rule tuned on a 3x3 badnet patch picked cells where a 6x6 patch is learned
(``docs/safe_hyperparameters.md``).

Images are arrays ``(n, H, W)`` or ``(n, C, H, W)`` in an explicit ``value_range``; feature
vectors ``(n, d)`` take a :class:`~backdoor_curves.api.images.MaskTrigger` over the ``d``
features or a function ``f(X, labels) -> X`` on ``(m, d)`` rows, with a ``value_range`` that
contains the features and the triggered values. Nothing given is modified.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from backdoor_curves.analyses.safe_region import (
    DEFAULT_BA_LEVEL,
    DEFAULT_CA_MARGIN,
    SafetyCriteria,
    safe_region,
)
from backdoor_curves.analyses.safe_search import grid_cells, measure_cell
from backdoor_curves.analyses.slope_rule import MNIST_THRESHOLD, SlopeRule, select_cells
from backdoor_curves.api.estimators import AnalysedModel, analysed_model, check_supported
from backdoor_curves.api.images import MaskTrigger, backdoor_test_set, poison
from backdoor_curves.api.inputs import TrainingSet, evaluation_set, training_set
from backdoor_curves.attacks.triggers import Trigger, TriggerSpec

__all__ = ["STAND_IN_CAVEAT", "SafeHyperparameters", "safe_hyperparameters"]

STAND_IN_CAVEAT = (
    "safe against the stand-in trigger only: the region and the choice hold for attacks like "
    "it, not for a larger or different trigger (docs/safe_hyperparameters.md: a rule tuned on "
    "a 3x3 patch does not transfer to a 6x6 one)"
)
"""What every :class:`SafeHyperparameters` says about its own reach."""

_MEASURED = ("clean_acc", "backdoor_acc", "slope", "theta", "clean_acc_clean_model")
_REGION_COLUMNS = (
    "n_seeds", "clean_acc_mean", "clean_acc_std", "backdoor_acc_mean", "backdoor_acc_std",
    "slope_mean", "slope_std", "theta_mean", "theta_std", "clean_model_acc_mean",
    "clean_model_acc_std", "slope_status", "best_clean_acc", "clean_acc_ok", "backdoor_ok",
    "backdoor_ok_seeds", "safe", "selected", "chosen",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class SafeHyperparameters:
    """What :func:`safe_hyperparameters` found (module docstring), and its limit.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per grid point, in grid order: the user's parameters as given, ``model``,
        ``model_C`` (``C`` of the objective) and ``model_gamma`` (kernel width, NaN without
        one; the mean over seeds when resolved from each poisoned set), then ``n_seeds`` and
        the mean and sample standard deviation over seeds (``_mean``, ``_std``; NaN std for
        one seed) of ``clean_acc`` (CA), ``backdoor_acc`` (BA), ``slope``, ``theta`` and
        ``clean_model_acc`` (``A``), ``slope_status`` (the distinct statuses, ``"ok"`` when
        exact), ``best_clean_acc``, ``clean_acc_ok``, ``backdoor_ok``, ``backdoor_ok_seeds``
        (share of seeds with BA at most the level), ``safe``, and the rule's ``selected``
        and ``chosen``.
    per_seed : pandas.DataFrame
        One row per (grid point, seed): ``cell`` (row of ``table``), ``seed``, ``clf``, ``C``,
        ``gamma`` of the objective and the measurements of
        :func:`~backdoor_curves.analyses.safe_search.measure_cell`.
    criteria : SafetyCriteria
        Margin ``m`` and level ``l`` of the safe region.
    rule : SlopeRule
        Threshold ``tau`` and margin of the slope-only rule.
    parameters : tuple of str
        The names of the grid, in its order (the first columns of ``table``).
    caveat : str
        :data:`STAND_IN_CAVEAT`.
    """

    table: pd.DataFrame
    per_seed: pd.DataFrame
    criteria: SafetyCriteria
    rule: SlopeRule
    parameters: tuple[str, ...]
    caveat: str = STAND_IN_CAVEAT

    @property
    def region(self) -> list[dict[str, Any]]:
        """The safe grid points (the user's parameters), in grid order."""
        return self._points(self.table["safe"])

    @property
    def choice(self) -> dict[str, Any] | None:
        """The rule's choice (the user's parameters), or None when it selects nothing."""
        chosen = self._points(self.table["chosen"])
        return chosen[0] if chosen else None

    def _points(self, mask: pd.Series) -> list[dict[str, Any]]:
        rows = self.table.loc[mask.to_numpy(dtype=bool), list(self.parameters)]
        return [dict(zip(self.parameters, row, strict=True)) for row in rows.itertuples(False)]

    def __str__(self) -> str:
        return (
            f"{len(self.region)} of {len(self.table)} grid points safe "
            f"({self.criteria.describe()}); the slope-only rule (theta <= "
            f"{self.rule.threshold:g}) chooses {self.choice}; {self.caveat}"
        )


def safe_hyperparameters(
    estimator: object,
    param_grid: Mapping[str, Sequence[Any]],
    X: object,
    y: object,
    trigger: TriggerSpec | Trigger | MaskTrigger | Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    X_test: object,
    y_test: object,
    value_range: tuple[float, float],
    fraction: float = 0.1,
    target: object = "next",
    seeds: int | Sequence[int] = (0,),
    margin: float = DEFAULT_CA_MARGIN,
    level: float = DEFAULT_BA_LEVEL,
    threshold: float = MNIST_THRESHOLD,
) -> SafeHyperparameters:
    """Safe region and slope-only choice of an estimator's grid (module docstring).

    Parameters
    ----------
    estimator : SVC, LogisticRegression or RidgeClassifier
        Only read: each grid point is a clone (:mod:`backdoor_curves.api.estimators`).
    param_grid : mapping of str to sequence
        Values of the estimator's own parameters, e.g. ``{"C": [0.1, 1, 10], "gamma":
        ["scale", 0.01]}`` for ``SVC()`` or ``{"alpha": [...]}`` for ``RidgeClassifier()``;
        the grid points are their Cartesian product. All points must map onto one model (no
        grid over ``kernel``) and onto distinct objectives.
    X : array-like of shape (n, H, W), (n, C, H, W) or (n, d)
        Clean training images, or feature vectors, in ``value_range``.
    y : array-like of shape (n,)
        Two classes.
    trigger : TriggerSpec, Trigger, MaskTrigger or callable
        The stand-in trigger (:func:`~backdoor_curves.api.images.poison`); feature vectors
        take a MaskTrigger or a function.
    X_test, y_test : array-like
        Clean test set of the same kind as ``X``; its eligible points, triggered, form the
        backdoor test set.
    value_range : tuple of float
        ``(low, high)``: the range of the values, triggered ones included.
    fraction : float, default 0.1
        Poisoning fraction in (0, 1) of the eligible training points.
    target : "next" or a label of y
        Target rule (``"next"`` swaps the two classes).
    seeds : int or sequence of int, default (0,)
        Distinct seeds >= 0; each draws the trigger's patterns and the poisons.
    margin, level : float
        ``m`` and ``l`` in [0, 1] of the safe region; ``margin`` is also the rule's.
    threshold : float, default MNIST_THRESHOLD
        The rule's ``tau`` in [0, 1] (tuned on MNIST with a 3x3 badnet patch).

    Returns
    -------
    SafeHyperparameters

    Raises
    ------
    ValueError
        One error naming what is wrong: an empty grid, a parameter the estimator does not
        have, a value it refuses, a grid over several models or repeating an objective,
        margin, level or threshold outside [0, 1], bad seeds, or bad arrays or trigger.
    TypeError
        For an unsupported estimator.
    """
    criteria = SafetyCriteria(margin, level)
    rule = SlopeRule(threshold, criteria.margin)
    check_supported(estimator)
    points = _grid_points(estimator, param_grid)
    cells = [clone(estimator).set_params(**point) for point in points]
    rows = []
    for seed in _check_seeds(seeds):
        training, test, backdoor = _poisoned_problem(
            X, y, X_test, y_test, trigger, value_range, fraction, target, seed
        )
        for index, model in enumerate(_analysed_models(cells, points, training)):
            measured = measure_cell(
                model.make(), training.X, training.y, training.is_poison, test, backdoor
            )
            objective = {"clf": model.model, "C": model.C, "gamma": model.gamma}
            rows.append({"cell": index, "seed": seed, **objective, **measured})
    per_seed = pd.DataFrame(rows)
    return SafeHyperparameters(
        _cell_table(per_seed, points, criteria, rule), per_seed, criteria, rule, tuple(param_grid)
    )


def _grid_points(estimator: Any, param_grid: Mapping[str, Sequence[Any]]) -> list[dict]:
    """Return the grid points, after checking the names against the estimator's parameters."""
    if not isinstance(param_grid, Mapping):
        raise ValueError(
            "param_grid must be a dict of parameter name -> list of values, got "
            f"{type(param_grid).__name__}"
        )
    known = estimator.get_params(deep=False)
    for name, values in param_grid.items():
        if name not in known:
            raise ValueError(
                f"param_grid names {name!r}, which {type(estimator).__name__} does not have; "
                f"its parameters: {sorted(known)}"
            )
        if isinstance(values, str) or not isinstance(values, Sequence | np.ndarray):
            raise ValueError(f"param_grid[{name!r}] must be a list of values, got {values!r}")
    return grid_cells(param_grid)


def _check_seeds(seeds: object) -> list[int]:
    listed = [seeds] if isinstance(seeds, numbers.Integral) else seeds
    if isinstance(listed, Sequence | np.ndarray) and all(
        isinstance(seed, numbers.Integral) and not isinstance(seed, bool) for seed in listed
    ):
        checked = [int(seed) for seed in listed]
        if checked and min(checked) >= 0 and len(set(checked)) == len(checked):
            return checked
    raise ValueError(f"seeds must be one or more distinct integers >= 0, got {seeds!r}")


def _poisoned_problem(
    X: object,
    y: object,
    X_test: object,
    y_test: object,
    trigger: object,
    value_range: tuple[float, float],
    fraction: float,
    target: object,
    seed: int,
) -> tuple[TrainingSet, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Poison the training set with ``seed`` and trigger the test set; flat, validated arrays."""
    images, test_images, image_trigger = _as_images(X, X_test, trigger)
    poisoned = poison(
        images, y, image_trigger, fraction, value_range=value_range, target=target, seed=seed
    )
    X_backdoor, y_backdoor = backdoor_test_set(
        test_images, y_test, poisoned.trigger, value_range=value_range, target=target
    )
    flat = poisoned.X.reshape(len(poisoned.X), -1)
    training = training_set(flat, poisoned.y, poisoned.is_poison)
    test = evaluation_set(test_images.reshape(len(test_images), -1), y_test, training, "X_test")
    backdoor = evaluation_set(
        X_backdoor.reshape(len(X_backdoor), -1), y_backdoor, training, "X_backdoor"
    )
    return training, test, backdoor


def _as_images(X: object, X_test: object, trigger: object) -> tuple[np.ndarray, np.ndarray, Any]:
    """Images as given; feature vectors (n, d) as one-row images (n, 1, d) and their trigger."""
    images, test_images = np.asarray(X), np.asarray(X_test)
    if images.ndim != 2:
        return images, test_images, trigger
    if isinstance(trigger, TriggerSpec | Trigger):
        raise ValueError(
            f"X holds feature vectors {images.shape}, and a {type(trigger).__name__} draws a "
            "patch on images; for features give a MaskTrigger over the d features or a "
            "function f(X, labels) -> X"
        )
    if test_images.ndim != 2:
        raise ValueError(f"X_test must be feature vectors like X, got shape {test_images.shape}")
    rows = (images[:, None, :], test_images[:, None, :])
    if isinstance(trigger, MaskTrigger) or not callable(trigger):
        return *rows, trigger

    def on_rows(batch: np.ndarray, labels: np.ndarray) -> np.ndarray:
        flat = batch.reshape(len(batch), -1)
        triggered = np.asarray(trigger(flat, labels))
        if triggered.shape != flat.shape:
            raise ValueError(
                f"the trigger function returned shape {triggered.shape} for rows of shape "
                f"{flat.shape}; it must return the same shape"
            )
        return triggered.reshape(batch.shape)

    return *rows, on_rows


def _analysed_models(
    cells: Sequence[object], points: Sequence[dict], training: TrainingSet
) -> list[AnalysedModel]:
    """Map every grid point onto its objective on this training set; one model, distinct cells."""
    models = [analysed_model(cell, training.X) for cell in cells]
    for point, model in zip(points, models, strict=True):
        if model.precomputed:
            raise ValueError(
                "kernel='precomputed' is not supported here: safe_hyperparameters poisons X "
                "itself and needs images or feature vectors, not a kernel matrix"
            )
        if model.model != models[0].model:
            raise ValueError(
                f"the grid points {points[0]} and {point} map onto different models "
                f"({models[0].model} and {model.model}); search one model at a time"
            )
    first_of: dict[tuple[float, float | None], int] = {}
    for index, model in enumerate(models):
        width = model.gamma if np.isfinite(model.gamma) else None
        first = first_of.setdefault((model.C, width), index)
        if first != index:
            raise ValueError(
                f"the grid points {points[first]} and {points[index]} give the same objective "
                f"({model.objective}); keep one of them"
            )
    return models


def _cell_table(
    per_seed: pd.DataFrame, points: Sequence[dict], criteria: SafetyCriteria, rule: SlopeRule
) -> pd.DataFrame:
    """One row per grid point: parameters, objective, statistics over seeds, region, rule."""
    region = safe_region(per_seed, criteria, cells=("cell",)).set_index("cell").sort_index()
    by_cell = per_seed.groupby("cell", sort=True)
    slope = by_cell["slope"].agg(["mean", "std"])
    region["slope_mean"], region["slope_std"] = slope["mean"], slope["std"]
    region["slope_status"] = by_cell["slope_status"].agg(lambda s: "; ".join(dict.fromkeys(s)))
    objective = by_cell.agg(model=("clf", "first"), model_C=("C", "first"),
                            model_gamma=("gamma", "mean"))  # fmt: skip
    means = pd.DataFrame(
        {
            "clf": objective["model"], "C": objective["model_C"], "seed": 0,
            "clean_acc_clean_model": region["clean_model_acc_mean"],
            "theta": region["theta_mean"],
        }
    )  # fmt: skip
    chosen = select_cells(means, rule).set_index(means.index)
    region["selected"], region["chosen"] = chosen["selected"], chosen["chosen"]
    parameters = pd.DataFrame(list(points), index=region.index)
    table = pd.concat([parameters, objective, region[list(_REGION_COLUMNS)]], axis=1)
    return table.reset_index(drop=True)
