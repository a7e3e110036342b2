r"""The safe region and the slope-only choice for a user's own model, grid and data.

:func:`safe_hyperparameters` takes an unfitted
:class:`~backdoor_curves.classifiers.base.BinaryClassifier`, a grid of its hyper-parameters and
arrays: a training set in which the defender has planted **surrogate poisons** (their own
trigger, flagged by ``is_poison``), a clean test set and the surrogate backdoor test set. For
every cell of the grid it

1. fits the model on the clean points (``sample_weight = ~is_poison``), reads the clean test
   accuracy ``A_c`` and the exact learning slope ``s`` towards the surrogate backdoor
   (:func:`~backdoor_curves.attacks.influence.learning_slope`), ``theta = -(2/pi) arctan(s)``:
   all the slope-only rule needs;
2. fits the model on the poisoned set (every weight 1) and reads its clean and backdoor test
   accuracy ``CA`` and ``BA``: what the safe region needs (the surrogate attack made real).

It returns the cell table (one row per cell, the slope table's columns), the safe region of
:func:`~backdoor_curves.analyses.safe_region.safe_region` and the rule's selection and choice
(:func:`~backdoor_curves.analyses.slope_rule.select_cells`). On MNIST the rule holds for the
trigger it was tuned with and does not transfer to a larger trigger
(``docs/safe_hyperparameters.md``): the choice is as safe as the surrogate is close to the
attacker's trigger.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from backdoor_curves.analyses.safe_region import SafetyCriteria, safe_region
from backdoor_curves.analyses.slope_rule import MNIST_THRESHOLD, SlopeRule, select_cells
from backdoor_curves.attacks.influence import learning_slope
from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.utilities.metrics import accuracy

__all__ = ["SafeSearch", "grid_cells", "measure_cell", "safe_hyperparameters"]


@dataclass(frozen=True)
class SafeSearch:
    """What :func:`safe_hyperparameters` found.

    Attributes
    ----------
    cells : pandas.DataFrame
        One row per grid cell: ``clf``, ``C``, ``gamma`` (NaN without a kernel width), ``seed``
        (0), ``clean_acc_clean_model``, ``slope``, ``theta``, ``slope_status``, ``clean_acc`` and
        ``backdoor_acc`` (poisoned model), and the rule's ``selected`` and ``chosen`` flags.
    region : pandas.DataFrame
        The safe region of the cells (one seed: the spreads are NaN).
    rule : SlopeRule
        The rule applied.
    """

    cells: pd.DataFrame
    region: pd.DataFrame
    rule: SlopeRule

    @property
    def choice(self) -> dict | None:
        """The chosen cell's hyper-parameters, or None when the rule selects nothing."""
        chosen = self.cells[self.cells["chosen"]]
        if chosen.empty:
            return None
        row = chosen.iloc[0]
        return {name: row[name] for name in ("C", "gamma") if np.isfinite(row[name])}


def grid_cells(param_grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Return the cells of a grid: the product of its values, in the order of its names.

    Raises
    ------
    ValueError
        If the grid has no name or a name has no value.
    """
    if not param_grid or any(len(values) == 0 for values in param_grid.values()):
        raise ValueError(
            f"the parameter grid is empty ({dict(param_grid)!r}); give at least one value per "
            "hyper-parameter, e.g. {'C': [0.01, 1, 100]}"
        )
    names = list(param_grid)
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(param_grid[name] for name in names))
    ]


def measure_cell(
    model: BinaryClassifier,
    X_train: np.ndarray,
    y_train: np.ndarray,
    is_poison: np.ndarray,
    test: tuple[np.ndarray, np.ndarray],
    backdoor: tuple[np.ndarray, np.ndarray],
) -> dict:
    """Measure one cell: clean fit (accuracy, slope) then poisoned fit (CA, BA).

    Parameters
    ----------
    model : BinaryClassifier
        The cell's model, unfitted (it is not changed: copies are fitted).
    X_train, y_train, is_poison : ndarray
        As for :func:`safe_hyperparameters`.
    test, backdoor : tuple of ndarray
        ``(X_test, y_test)`` and ``(X_backdoor, y_backdoor)``, labels in {0, 1}.

    Returns
    -------
    dict
        ``clean_acc_clean_model``, ``slope`` (``s``), ``theta``, ``slope_status`` (clean
        model), ``clean_acc`` and ``backdoor_acc`` (model fitted with every weight 1).
    """
    clean = model.with_params().fit(X_train, y_train, (~is_poison).astype(np.float64))
    slope = learning_slope(clean, X_train, y_train, is_poison, *backdoor)
    poisoned = model.with_params().fit(X_train, y_train)
    return {
        "clean_acc_clean_model": accuracy(test[1], clean.predict(test[0])),
        "slope": slope.slope,
        "theta": slope.theta,
        "slope_status": slope.status,
        "clean_acc": accuracy(test[1], poisoned.predict(test[0])),
        "backdoor_acc": accuracy(backdoor[1], poisoned.predict(backdoor[0])),
    }


def safe_hyperparameters(
    model: BinaryClassifier,
    param_grid: Mapping[str, Sequence[float]],
    X_train: np.ndarray,
    y_train: np.ndarray,
    is_poison: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    X_backdoor: np.ndarray,
    y_backdoor: np.ndarray,
    *,
    criteria: SafetyCriteria | None = None,
    threshold: float = MNIST_THRESHOLD,
) -> SafeSearch:
    """Safe region and slope-only choice over a hyper-parameter grid (module docstring).

    Parameters
    ----------
    model : BinaryClassifier
        Unfitted template; each cell is ``model.with_params(**cell)``.
    param_grid : mapping of str to sequence of float
        Hyper-parameter values, e.g. ``{"C": [0.01, 1, 100], "gamma": [0.001, 0.01]}``; the
        cells are their Cartesian product.
    X_train : ndarray of shape (n_train, n_features)
        Training set with the surrogate poisons at the rows flagged by ``is_poison``.
    y_train : ndarray of shape (n_train,)
        Labels in {0, 1} (poisons carry the target label).
    is_poison : ndarray of shape (n_train,), bool
        Surrogate poison mask (at least one).
    X_test, y_test : ndarray
        Clean test set, labels in {0, 1}.
    X_backdoor, y_backdoor : ndarray
        Surrogate backdoor test set (triggered test points, target labels).
    criteria : SafetyCriteria, optional
        Margin and level of the safe region (defaults of :class:`SafetyCriteria`).
    threshold : float, default MNIST_THRESHOLD
        The rule's ``tau`` in [0, 1]; its margin is ``criteria.margin``.

    Returns
    -------
    SafeSearch

    Raises
    ------
    ValueError
        If the grid is empty, a name is not a hyper-parameter of ``model``, a value is
        refused by the model, or the criteria or threshold are outside [0, 1].
    """
    criteria = SafetyCriteria() if criteria is None else criteria
    rule = SlopeRule(threshold, criteria.margin)
    is_poison = np.asarray(is_poison, dtype=bool)
    rows = []
    for cell in grid_cells(param_grid):
        cell_model = model.with_params(**cell)
        params = cell_model.get_params()
        rows.append(
            {
                "clf": type(model).__name__,
                "C": float(params["C"]),
                "gamma": float(params.get("gamma") or np.nan),
                "seed": 0,
                **measure_cell(
                    cell_model,
                    X_train,
                    y_train,
                    is_poison,
                    (X_test, y_test),
                    (X_backdoor, y_backdoor),
                ),  # fmt: skip
            }
        )
    table = pd.DataFrame(rows)
    return SafeSearch(select_cells(table, rule), safe_region(table, criteria), rule)
