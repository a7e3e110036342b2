"""One figure style and one atomic save, shared by every figure family.

Inside:

- :data:`STYLE`, applied with :func:`figure_style` (a ``matplotlib.rc_context``: nothing global
  changes), and the colours every family uses (Okabe-Ito per model, one colour map per
  quantity); :func:`model_colour` gives a model never seen a colour of its own;
- :func:`new_figure`: a constrained-layout ``Figure`` on an Agg canvas, never registered with
  pyplot, so nothing stays open (the figures drawn on every run use
  :class:`~backdoor_curves.plots.layout.PanelGrid` instead);
- :func:`save_figure`: writes ``<stem>.pdf`` / ``<stem>.png``, each through a temporary file
  renamed into place, so an interrupted run never leaves a broken figure;
- :func:`figure_plotter`: turns a function yielding ``(file stem, figure)`` for a labelled table
  into a registered plotter (label, style, save, collect the files), so that a figure family
  writes only how its figures look and what they are called.

Speed (the ten slope figures of ``./run_mnist.sh all`` are drawn on every run): matplotlib
draws a figure once per format, and before each ``savefig`` of a figure that still has a
layout engine it lays it out, which measures every text and tick twice (the constrained layout
runs its algorithm twice), about as much work as the draw itself. :func:`save_figure` lays the
figure out in the first save and then removes the engine, so every further format costs one
draw; :class:`~backdoor_curves.plots.layout.PanelGrid` figures have no engine at all. Texts are
drawn without ligatures, so that a PDF embeds one subset of its font (see ``_FONT_FEATURES``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from backdoor_curves.plots.tables import with_labels
from backdoor_curves.utilities import atomic

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
    "figure_plotter",
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
        # Titles sit at the top of their panel: no panel has ticks on top, so matplotlib's
        # search for a free spot (a tick-label extent at every draw) finds nothing to avoid.
        "axes.titley": 1.0,
        # TrueType fonts keep the PDF text editable in papers. matplotlib sizes the PDF font
        # subsets by ps.fonttype: with 42 the Greek letters join the Latin ones in the first
        # subset instead of a second one (each subset parses the font file again).
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
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

# Drop the creation date from PDFs so that the same tables give the same bytes. PNGs are
# compressed at zlib level 1 rather than Pillow's 6: less CPU per figure for somewhat larger
# files (the measurement is in benchmarks/README.md).
_SAVE_OPTIONS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "pdf": {"metadata": {"CreationDate": None}},
        "png": {"pil_kwargs": {"compress_level": 1}},
    }
)


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


# OpenType features turned off in every text of a saved figure: matplotlib shapes text with
# HarfBuzz, whose default "liga" feature draws "fi" and "fl" (influence, classifier) as one
# ligature glyph. A ligature has no character code of its own, so the PDF backend embeds it in a
# second subset of the font, and each subset parses the whole font file again: about as costly
# as drawing the figure. Without the feature the two letters are drawn side by side. Matplotlib
# ignores a text's features when the text has several lines: titles of several lines are drawn
# one text per line (plots.layout.set_panel_title, PanelGrid.add_title).
_FONT_FEATURES = ("-liga",)


def _plain_letters(fig: Figure) -> None:
    """Draw every text of ``fig`` without ligatures (see ``_FONT_FEATURES``)."""
    for text in fig.findobj(Text):
        text.set_fontfeatures(_FONT_FEATURES)


def save_figure(fig: Figure, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``fig`` as ``<stem>.<format>`` for every format, each file atomically.

    The figure is laid out during the first save; the layout engine is then removed (axes
    positions are figure fractions, valid for every format), so each further format is one
    draw. Texts are drawn without ligatures, so that a PDF embeds one subset of its font.

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
    _plain_letters(fig)
    written = []
    for fmt in formats:
        path = stem.parent / f"{stem.name}.{fmt}"
        options = copy.deepcopy(dict(_SAVE_OPTIONS[fmt]))
        # Written beside the target and renamed: a failed or interrupted save (a full disk,
        # Ctrl-C) leaves the previous figure, or none, and no partial file.
        atomic.atomic_write(
            path,
            lambda handle, fmt=fmt, options=options: fig.savefig(handle, format=fmt, **options),
        )
        written.append(path)
        # None, not "none": "none" keeps a placeholder engine, and savefig draws a figure
        # with any engine an extra time before printing it.
        with mpl.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
            fig.set_layout_engine(None)
    return written


FigureSet = Callable[[pd.DataFrame], Iterable[tuple[str, Figure]]]
"""``figures(labelled_table)`` yields ``(file stem, figure)`` for every figure of the table."""


def figure_plotter(figures: FigureSet) -> Callable[..., list[Path]]:
    """Turn a figure set into a plotter ``plotter(table, out_dir, formats) -> list[Path]``.

    The plotter labels the table (:func:`~backdoor_curves.plots.tables.with_labels`), builds
    every figure of ``figures`` inside :func:`figure_style`, writes each as
    ``<out_dir>/<stem>.<format>`` with :func:`save_figure` (``formats`` defaults to
    :data:`FORMATS`) and returns the written files. It keeps the name and the docstring of
    ``figures``, which describe the figures.
    """

    def plotter(table: pd.DataFrame, out_dir: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
        written = []
        with figure_style():
            for stem, fig in figures(with_labels(table)):
                written += save_figure(fig, out_dir / stem, formats)
        return written

    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(plotter, attribute, getattr(figures, attribute))
    return plotter
