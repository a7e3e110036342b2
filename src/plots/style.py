"""One figure style and one atomic save, shared by every figure family.

Inside:

- :data:`STYLE`, applied with :func:`figure_style` (a ``matplotlib.rc_context``: nothing global
  changes), and the colours every family uses (Okabe-Ito per model, one colour map per
  quantity); :func:`model_colour` gives a model never seen a colour of its own;
- :func:`new_figure`: a constrained-layout ``Figure`` on an Agg canvas, never registered with
  pyplot, so nothing stays open;
- :class:`PanelGrid`: a grid of equal panels placed by hand, in inches, with no layout engine,
  for the figures drawn on every run (the slope step's);
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
draw; :class:`PanelGrid` figures have no engine at all: their margins are computed from the
number of text lines around the panels (font sizes are fixed by :data:`STYLE`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
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
    "PanelGrid",
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


# Inches of one line of text per point of font size (matplotlib's line spacing is 1.2).
_LINE_INCHES_PER_POINT = 1.2 / 72
# Inches from a panel's edge to the far side of its tick labels (tick, pad, one label line,
# with room for a mathtext power of ten such as 10^-1).
_TICK_LABEL_INCHES = 0.26
# Inches between a panel's title and its top edge (matplotlib's axes.titlepad, 6 pt) and
# between the tick labels and the axis label (axes.labelpad, 4 pt), with a little air.
_TITLE_PAD_INCHES = 0.1
_LABEL_PAD_INCHES = 0.07
# Outer margin of the figure, and the colour bar's gap, width and tick labels plus label.
_EDGE_INCHES = 0.08
_COLORBAR_INCHES = (0.22, 0.13, 0.62)


def _text_inches(lines: int, rc_size: str) -> float:
    """Height of ``lines`` lines of text at the font size of rc parameter ``rc_size``."""
    size = STYLE[rc_size]  # type: ignore[index]  # every size key used here is in STYLE
    return lines * size * _LINE_INCHES_PER_POINT


@dataclass(frozen=True)
class PanelGrid:
    """A grid of equal panels with the text around them, laid out without a layout engine.

    Lengths are inches; text is given as numbers of lines, from which the margins follow
    (font sizes come from :data:`STYLE`).

    Attributes
    ----------
    n_rows, n_cols : int
        Panels per column and per row.
    panel : tuple of float
        Width and height of one panel.
    title_lines : int
        Lines of the figure title (0: none).
    panel_title_lines : int
        Lines of the tallest panel title (0: none).
    xlabel_lines : int
        Lines of the tallest x-axis label (0: none); tick labels are always counted.
    ytick_width : float
        Width of the widest y tick label of the first column (inner columns share its y axis
        or carry their own labels, see ``inner_yticks``).
    ylabel : bool
        Whether the first column has a y-axis label.
    colorbar : bool
        Whether a colour bar stands right of the panels (:meth:`add_colorbar`).
    legend_rows : int
        Rows of the figure legend below the panels (0: none).
    xtick_lines : float
        Height of the x tick labels in lines (rotated labels are taller).
    inner_yticks : bool
        Whether inner columns carry their own y tick labels (no shared y axis).
    inner_xticks : bool
        Whether inner rows carry x tick labels and x labels (False with a shared x axis
        labelled on the bottom row only).
    min_width : float
        Narrowest figure width (default :data:`MIN_FIGURE_WIDTH`); a narrower grid is centred.
    """

    n_rows: int
    n_cols: int
    panel: tuple[float, float]
    title_lines: int = 0
    panel_title_lines: int = 1
    xlabel_lines: int = 1
    ytick_width: float = 0.22
    ylabel: bool = True
    colorbar: bool = False
    legend_rows: int = 0
    xtick_lines: float = 1.0
    inner_yticks: bool = False
    inner_xticks: bool = True
    min_width: float = MIN_FIGURE_WIDTH

    def _above_panel(self) -> float:
        if not self.panel_title_lines:
            return _EDGE_INCHES
        return _text_inches(self.panel_title_lines, "axes.titlesize") + _TITLE_PAD_INCHES

    def _below_panel(self) -> float:
        ticks = _TICK_LABEL_INCHES + (self.xtick_lines - 1) * _text_inches(1, "xtick.labelsize")
        if not self.xlabel_lines:
            return ticks
        return ticks + _LABEL_PAD_INCHES + _text_inches(self.xlabel_lines, "axes.labelsize")

    def _left_of_panel(self) -> float:
        label = _text_inches(1, "axes.labelsize") + _LABEL_PAD_INCHES if self.ylabel else 0.0
        return 0.1 + self.ytick_width + label

    @property
    def margins(self) -> dict[str, float]:
        """Outer margins and gaps in inches: left, right, top, bottom, wspace, hspace."""
        title = _text_inches(self.title_lines, "figure.titlesize") + 0.06 if self.title_lines else 0
        legend = _text_inches(self.legend_rows, "legend.fontsize") * 1.5 if self.legend_rows else 0
        gap = 0.22 + (self._left_of_panel() - _EDGE_INCHES if self.inner_yticks else 0.0)
        left = _EDGE_INCHES + self._left_of_panel()
        right = _EDGE_INCHES + (sum(_COLORBAR_INCHES) if self.colorbar else 0.12)
        # A narrow grid is centred in a figure wide enough for the title and the legend.
        panels = self.n_cols * self.panel[0] + (self.n_cols - 1) * gap
        widen = max(0.0, self.min_width - (left + panels + right)) / 2
        return {
            "left": left + widen,
            "right": right + widen,
            "top": _EDGE_INCHES + title + self._above_panel(),
            "bottom": _EDGE_INCHES + legend + self._below_panel(),
            "wspace": gap,
            "hspace": (self._below_panel() if self.inner_xticks else 0.0)
            + self._above_panel()
            + 0.06,
        }

    @property
    def size(self) -> tuple[float, float]:
        """Width and height of the figure in inches."""
        m, (width, height) = self.margins, self.panel
        return (
            m["left"] + self.n_cols * width + (self.n_cols - 1) * m["wspace"] + m["right"],
            m["top"] + self.n_rows * height + (self.n_rows - 1) * m["hspace"] + m["bottom"],
        )

    def figure(self, *, sharex: bool = False, sharey: bool = False) -> tuple[Figure, np.ndarray]:
        """Return a figure without a layout engine and its panels, placed by this grid.

        The figure title (:meth:`add_title`), the colour bar (:meth:`add_colorbar`) and the
        figure legend (:meth:`add_legend`) go into the margins reserved for them.

        Returns
        -------
        fig : matplotlib.figure.Figure
            On an Agg canvas, not registered with pyplot.
        axes : ndarray of Axes, shape (n_rows, n_cols)
        """
        width, height = self.size
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        m = self.margins
        axes = fig.subplots(
            self.n_rows,
            self.n_cols,
            squeeze=False,
            sharex=sharex,
            sharey=sharey,
            gridspec_kw={
                "left": m["left"] / width,
                "right": 1 - m["right"] / width,
                "top": 1 - m["top"] / height,
                "bottom": m["bottom"] / height,
                "wspace": m["wspace"] / self.panel[0],
                "hspace": m["hspace"] / self.panel[1],
            },
        )
        return fig, axes

    def add_title(self, fig: Figure, text: str) -> None:
        """Put the figure title in the top margin."""
        fig.suptitle(text, y=1 - _EDGE_INCHES / self.size[1], va="top")

    def add_colorbar(self, fig: Figure, mappable: Any, label: str) -> None:
        """Draw a colour bar for ``mappable`` in the right margin, 90% of the panels' height."""
        width, height = self.size
        m = self.margins
        gap, bar, _ = _COLORBAR_INCHES
        span = height - m["top"] - m["bottom"]
        bottom = m["bottom"] + 0.05 * span
        cax = fig.add_axes(
            ((width - m["right"] + gap) / width, bottom / height, bar / width, 0.9 * span / height)
        )
        fig.colorbar(mappable, cax=cax, label=label)

    def add_legend(self, fig: Figure, handles: Sequence[Any], ncols: int) -> None:
        """Put a figure legend of ``handles`` in the bottom margin, centred under the panels."""
        width, height = self.size
        m = self.margins
        fig.legend(
            handles=handles,
            loc="lower center",
            bbox_to_anchor=((m["left"] + width - m["right"]) / 2 / width, _EDGE_INCHES / height),
            ncols=ncols,
            borderaxespad=0.0,
        )


# OpenType features turned off in every text of a saved figure: matplotlib shapes text with
# HarfBuzz, whose default "liga" feature draws "fi" and "fl" (influence, classifier) as one
# ligature glyph. A ligature has no character code of its own, so the PDF backend embeds it in a
# second subset of the font, and each subset parses the whole font file again: about as costly
# as drawing the figure. Without the feature the two letters are drawn side by side.
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
