"""Trigger figure: clean examples next to their triggered versions.

Inside: :func:`plot_trigger_examples`, drawn from images and built triggers (not from a
results table; ``python -m backdoor_curves.experiments.trigger_examples`` calls it). It uses the
shared style and atomic save of :mod:`backdoor_curves.plots.style`. Triggers are duck-typed:
anything with a ``spec`` (a ``TriggerSpec``, named with
:func:`backdoor_curves.naming.trigger_spec_label`) and ``apply(X, source)``, so this module does
not import the attacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from backdoor_curves.naming import trigger_spec_label
from backdoor_curves.plots.style import figure_style, new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from backdoor_curves.attacks.triggers import Trigger

__all__ = ["plot_trigger_examples"]

_PANEL_INCHES = 1.6
"""Side of one image panel, in inches."""


def _first_example_per_class(X: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Index of the first image of each class ``0 .. n_classes - 1``, shape ``(n_classes,)``."""
    indices = []
    for label in range(n_classes):
        hits = np.flatnonzero(y == label)
        if len(hits) == 0:
            raise ValueError(f"no example of class {label} in y (labels present: {np.unique(y)})")
        indices.append(hits[0])
    return np.asarray(indices)


def _show_image(ax: Axes, image: np.ndarray) -> None:
    """Draw one ``(C, H, W)`` image in ``[0, 1]``: grayscale for C = 1, RGB for C = 3."""
    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(np.transpose(image, (1, 2, 0)), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    # Images keep a full frame and no grid, whatever the shared style says about data axes.
    ax.grid(False)
    ax.spines[:].set_visible(True)


def _check_inputs(
    X: np.ndarray, y: np.ndarray, triggers: Sequence[Trigger], class_names: Sequence[str]
) -> None:
    """Validate the arguments of :func:`plot_trigger_examples`."""
    if X.ndim != 4 or X.shape[1] not in (1, 3):
        raise ValueError(
            f"X must have shape (n, C, H, W) with C = 1 (grayscale) or 3 (RGB); got {X.shape}"
        )
    if y.shape != (len(X),):
        raise ValueError(f"y must have shape ({len(X)},) to match X; got {y.shape}")
    if len(triggers) == 0:
        raise ValueError("at least one trigger is needed; got none")
    if len(class_names) == 0:
        raise ValueError("at least one class name is needed; got none")


def plot_trigger_examples(
    X: np.ndarray,
    y: np.ndarray,
    triggers: Sequence[Trigger],
    class_names: Sequence[str],
    path_stem: Path,
) -> list[Path]:
    """Save a grid of clean images and their triggered versions as PDF and PNG.

    Row ``k`` shows the first image of class ``k`` in ``X``: the clean image, then the image
    carrying each trigger with source class ``k`` (so a badnet row shows that class's pattern).

    Parameters
    ----------
    X : numpy.ndarray of shape (n, C, H, W), floating point
        Images with pixels in ``[0, 1]``; ``C`` is 1 (drawn grayscale) or 3 (drawn RGB).
    y : numpy.ndarray of shape (n,), integer
        Labels; every class ``0 .. len(class_names) - 1`` must occur.
    triggers : sequence of Trigger
        Triggers to show, one column each, titled with their label.
    class_names : sequence of str
        Name of each class, one row each.
    path_stem : pathlib.Path
        Output path without suffix (dots in the name are kept); parent folders are created.

    Returns
    -------
    list of pathlib.Path
        ``[path_stem.pdf, path_stem.png]``.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    _check_inputs(X, y, triggers, class_names)
    indices = _first_example_per_class(X, y, len(class_names))
    columns = ["clean", *(trigger_spec_label(trigger.spec) for trigger in triggers)]
    n_rows, n_cols = len(class_names), len(columns)
    path_stem = Path(path_stem)
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    with figure_style():
        figure = new_figure(_PANEL_INCHES * n_cols, _PANEL_INCHES * n_rows, min_width=0.0)
        axes = figure.subplots(n_rows, n_cols, squeeze=False)
        for row, (index, name) in enumerate(zip(indices, class_names, strict=True)):
            clean = X[index : index + 1]
            source = y[index : index + 1]
            images = [clean[0], *(trigger.apply(clean, source)[0] for trigger in triggers)]
            for col, image in enumerate(images):
                _show_image(axes[row, col], image)
            axes[row, 0].set_ylabel(name)
        for col, title in enumerate(columns):
            axes[0, col].set_title(title, fontsize="small")
        return save_figure(figure, path_stem)
