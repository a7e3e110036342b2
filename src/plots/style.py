"""One figure style and one atomic save, shared by every figure family.

Inside:

- :data:`STYLE`, applied with :func:`figure_style` (a ``matplotlib.rc_context``: nothing global
  changes), and the colours every family uses (Okabe-Ito per model, one colour map per
  quantity); :func:`model_colour` gives a model never seen a colour of its own;
- :func:`new_figure`: a constrained-layout ``Figure`` on an Agg canvas, never registered with
  pyplot, so nothing stays open;
- :func:`save_figure`: writes ``<stem>.pdf`` / ``<stem>.png``, each through a temporary file
  renamed into place, so an interrupted run never leaves a broken figure.

Speed (the ten slope figures of ``./run_mnist.sh all`` are drawn on every run): matplotlib
draws a figure once per format, and before each ``savefig`` of a figure that still has a
layout engine it draws it once more only to lay it out. :func:`save_figure` lays the figure out
in the first save and then removes the engine, so every further format costs one draw.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:  # matplotlib.typing.RcKeyType only exists in recent matplotlib versions.
    from matplotlib.typing import RcKeyType

__all__ = [
    "ACCURACY_CMAP",
    "C_CMAP",
    "FORMATS",
    "LAMBDA_COLOURS",
    "MIN_FIGURE_WIDTH",
    "P_CMAP",
    "STYLE",
    "figure_style",
    "model_colour",
    "model_loss",
    "new_figure",
    "save_figure",
]

FORMATS = ("pdf", "png")
"""File formats a figure can be written in."""

STYLE: Mapping[RcKeyType, Any] = MappingProxyType(
    {
        "font.size": 9,
        "axes.titlesize": 9,
        "axes.labelsize": 9,
        "figure.titlesize": 10,
        "legend.fontsize": 8,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "grid.linewidth": 0.5,
        "legend.frameon": False,
        "savefig.dpi": 150,
        # TrueType fonts keep the PDF text editable in papers.
        "pdf.fonttype": 42,
        # Layout is chosen per figure (new_figure); a user's matplotlibrc must not add one.
        "figure.autolayout": False,
        "figure.constrained_layout.use": False,
    }
)
"""rc parameters of every figure (applied inside :func:`figure_style` only)."""

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies. The paper's
# models keep fixed colours; any other model takes the next unused one (model_colour).
_MODEL_COLOURS = MappingProxyType(
    {"svm": "#0072B2", "logistic": "#E69F00", "ridge": "#009E73", "svm-rbf": "#D55E00"}
)
_SPARE_COLOURS = ("#CC79A7", "#56B4E9", "#F0E442", "#000000")
# The loss whose test mean the learning curves show (the model's own training loss).
_MODEL_LOSSES = MappingProxyType(
    {"svm": "hinge", "logistic": "logistic", "ridge": "squared", "svm-rbf": "hinge"}
)
LAMBDA_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
"""Colours of the lambda paths of the deviation figure, in order."""
ACCURACY_CMAP = "viridis"
C_CMAP = "viridis"
P_CMAP = "plasma"
MIN_FIGURE_WIDTH = 5.6
"""Narrowest figure, in inches: titles and the figure legend of one panel still fit."""

# Drop the creation date from PDFs so that the same tables give the same bytes.
_SAVE_METADATA = MappingProxyType({"pdf": {"CreationDate": None}, "png": {}})


def model_colour(name: str, others: Sequence[str] = ()) -> str:
    """Return the colour of the model called ``name``.

    Parameters
    ----------
    name : str
        Model name (the ``clf`` column).
    others : sequence of str
        Every model name of the figure, in drawing order: a model without a fixed colour takes
        the spare colour of its rank among those models, so colours within a figure differ.

    Returns
    -------
    str
        A hex colour.
    """
    if name in _MODEL_COLOURS:
        return _MODEL_COLOURS[name]
    unfixed = [other for other in dict.fromkeys(others) if other not in _MODEL_COLOURS]
    rank = unfixed.index(name) if name in unfixed else 0
    return _SPARE_COLOURS[rank % len(_SPARE_COLOURS)]


def model_loss(name: str) -> str | None:
    """Name of the training loss of a model (``"hinge"`` for ``"svm"``), or None if unknown."""
    return _MODEL_LOSSES.get(name)


@contextmanager
def figure_style() -> Iterator[None]:
    """Apply :data:`STYLE` for the duration of the block only."""
    with mpl.rc_context(rc=dict(STYLE)):
        yield


def new_figure(width: float, height: float, min_width: float = MIN_FIGURE_WIDTH) -> Figure:
    """Return a constrained-layout figure on an Agg canvas (not registered with pyplot).

    Parameters
    ----------
    width, height : float
        Size in inches; the width is raised to ``min_width`` when smaller.
    min_width : float
        Narrowest width in inches (default :data:`MIN_FIGURE_WIDTH`, for figures with a
        title and a figure legend).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(max(width, min_width), height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``fig`` as ``<stem>.<format>`` for every format, each file atomically.

    The figure is laid out during the first save; the layout engine is then removed (axes
    positions are figure fractions, valid for every format), so each further format is one
    draw. The figure is cleared afterwards.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to save (drawn under :func:`figure_style`).
    stem : pathlib.Path
        Output path without extension (dots in the name are kept, e.g. ``..._g0.0005``).
    formats : sequence of {"pdf", "png"}
        File formats to write.

    Returns
    -------
    list of pathlib.Path
        The written files, in the order of ``formats``.

    Raises
    ------
    ValueError
        If a format is not one of :data:`FORMATS`.
    """
    unknown = [fmt for fmt in formats if fmt not in FORMATS]
    if unknown:
        raise ValueError(f"unknown figure formats {unknown}; valid formats are {list(FORMATS)}")
    written = []
    for fmt in formats:
        path = stem.parent / f"{stem.name}.{fmt}"
        partial = stem.parent / f".{stem.name}.{fmt}.partial"
        # Write beside the target and rename, so an interrupted run leaves no broken figure.
        fig.savefig(partial, format=fmt, metadata=dict(_SAVE_METADATA[fmt]))
        os.replace(partial, path)
        written.append(path)
        # None, not "none": "none" keeps a placeholder engine, and savefig draws a figure
        # with any engine an extra time before printing it.
        with mpl.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
            fig.set_layout_engine(None)
    fig.clear()
    return written
