"""A grid of equal panels placed by hand, in inches, with no layout engine.

Inside: :class:`PanelGrid`, for the figures drawn on every run (the slope step's F3/F4/F5
figures, the learning curves' F2 and F6), and :func:`ytick_label_width`, the width of the y
tick labels of drawn panels, read from their formatters without drawing.

Speed: a constrained layout measures every text and tick of a figure twice (it runs its
algorithm twice) before the first save, about as much work as drawing the figure. A
:class:`PanelGrid` figure has no engine: its margins are computed from the number of text lines
around the panels (font sizes are fixed by :data:`~backdoor_curves.plots.style.STYLE`) and,
where tick labels vary, from their number of characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import findfont, get_font
from matplotlib.text import Text
from matplotlib.transforms import ScaledTranslation

from backdoor_curves.plots.style import MIN_FIGURE_WIDTH, STYLE

__all__ = ["PanelGrid", "set_panel_title", "ytick_label_width"]

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
    size = STYLE[rc_size]
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

    def _gridspec_params(self) -> dict[str, float]:
        """Return the panels' placement as gridspec parameters (figure fractions)."""
        width, height = self.size
        m = self.margins
        return {
            "left": m["left"] / width,
            "right": 1 - m["right"] / width,
            "top": 1 - m["top"] / height,
            "bottom": m["bottom"] / height,
            "wspace": m["wspace"] / self.panel[0],
            "hspace": m["hspace"] / self.panel[1],
        }

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
        fig = Figure(figsize=self.size)
        FigureCanvasAgg(fig)
        axes = fig.subplots(
            self.n_rows,
            self.n_cols,
            squeeze=False,
            sharex=sharex,
            sharey=sharey,
            gridspec_kw=self._gridspec_params(),
        )
        return fig, axes

    def fit(self, fig: Figure, axes: np.ndarray) -> None:
        """Resize ``fig`` to this grid and move into place the panels another grid made.

        For a grid whose margins are known only once the panels are drawn (the width of the
        y tick labels, :func:`ytick_label_width`): make the figure with a first guess, draw,
        then fit the grid of the measured margins. The panels keep their size in inches, so
        their ticks stay; the title, colour bar and legend are added after fitting.
        """
        fig.set_size_inches(self.size)
        axes.flat[0].get_subplotspec().get_gridspec().update(**self._gridspec_params())
        # The grid moves the panels of pyplot's figures only.
        for ax in axes.flat:
            ax.set_position(ax.get_subplotspec().get_position(fig))

    def add_title(self, fig: Figure, text: str) -> None:
        """Put the figure title in the top margin, one text per line (see set_panel_title)."""
        top = 1 - _EDGE_INCHES / self.size[1]
        if "\n" not in text:
            fig.suptitle(text, y=top, va="top")
            return
        *above, last = text.split("\n")
        title = fig.suptitle(last, y=top, va="baseline")
        first, pitch = _line_spacing(title)
        title.set_y(top - (first + len(above) * pitch) / 72 / self.size[1])
        _add_lines_above(fig, title, above[::-1], pitch)

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


# Tick labels at 8 pt: about 0.075 inch per character (DejaVu Sans digits are 0.64 em wide).
_TICK_CHARACTER_INCHES = 0.075


def ytick_label_width(axes: Sequence[Any]) -> float:
    """Width in inches of the widest y tick label of the visible ``axes``, as now drawn.

    The labels are those the axes' locators and formatters give for their current view limits
    (no text is measured, so nothing is drawn); at least one character wide.
    """
    widest = 1
    for ax in axes:
        if not ax.get_visible():
            continue
        low, high = sorted(ax.get_ylim())
        locations = [v for v in ax.yaxis.get_majorticklocs() if low <= v <= high]
        labels = ax.yaxis.get_major_formatter().format_ticks(locations)
        widest = max(widest, *(len(label) for label in labels))
    return _TICK_CHARACTER_INCHES * widest


def _line_spacing(text: Text) -> tuple[float, float]:
    """Where matplotlib puts the lines of a text of several lines on the Agg canvas, in points.

    Returns ``(first, pitch)``: the first baseline lies ``first`` below the top of the text and
    every further one ``pitch`` below the one above, from the font's OS/2 metrics: ascender plus
    half the line gap, and ascender + descender + line gap (for glyphs within those metrics, as
    the letters and digits of the titles are).
    """
    font = get_font(findfont(text.get_fontproperties()))
    metrics, head = font.get_sfnt_table("OS/2"), font.get_sfnt_table("head")
    size = float(text.get_fontsize())
    if metrics is None or head is None:  # matplotlib's spacing without those tables
        return 0.9 * size, 1.2 * size
    scale = size / float(head["unitsPerEm"])
    ascender, descender = float(metrics["sTypoAscender"]), float(metrics["sTypoDescender"])
    gap = float(metrics["sTypoLineGap"])
    return (ascender + gap / 2) * scale, (ascender - descender + gap) * scale


def _add_lines_above(
    container: Axes | Figure, text: Text, lines: Sequence[str], pitch: float
) -> None:
    """Draw ``lines`` above the one-line ``text`` of ``container``, ``pitch`` points apart.

    The first of ``lines`` goes right above ``text``, the next above it, and so on.
    """
    inches = container.figure.dpi_scale_trans
    for k, line in enumerate(lines, start=1):
        offset = ScaledTranslation(0, k * pitch / 72, inches)
        container.text(
            *text.get_position(), line, transform=text.get_transform() + offset,
            ha=text.get_horizontalalignment(), va="baseline",
            fontproperties=text.get_fontproperties(), color=text.get_color(),
        )  # fmt: skip


def set_panel_title(ax: Axes, text: str) -> None:
    """Title ``ax`` with ``text``, one text per line, the last line where a one-line title goes.

    Matplotlib draws a text of several lines line by line without the text's font features, so
    a title of several lines would keep its ligatures, and a PDF a second font subset (see
    :func:`~backdoor_curves.plots.style.save_figure`); here every line is a text of its own,
    spaced as matplotlib spaces the lines of one text on the PNG canvas.
    """
    *above, last = text.split("\n")
    title = ax.set_title(last)
    _add_lines_above(ax, title, above[::-1], _line_spacing(title)[1])
