"""Learning-curve figures (F2): test losses against the poison weight beta.

Inside: :func:`plot_curve_figures`, drawn from the ``curves`` tables, one figure per (dataset,
pair, model); :func:`tangent_beta_range`, the part of the influence tangent that stays inside a
panel; :data:`CURVES_COLUMNS`, the columns a curves table must have.

The tangent at beta = 0 is ``backdoor_loss(0) + slope_if * beta``: the backdoor test loss of the
clean model plus the influence-function slope times beta (``docs/method.md``, "The backdoor
learning slope").

See ``docs/drivers.md``, section "Learning curves".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from backdoor_curves.naming import BREAKPOINT, format_value, model_label
from backdoor_curves.plots.layout import PanelGrid, ytick_label_width
from backdoor_curves.plots.registry import register_figures
from backdoor_curves.plots.style import P_CMAP, figure_plotter, model_loss
from backdoor_curves.plots.tables import (
    PAIR_COLUMNS,
    groups,
    optional_part,
    seed_means,
    seed_note,
)

__all__ = ["CURVES_COLUMNS", "plot_curve_figures", "tangent_beta_range"]

CROSSING = "tangent_crossing"
"""The optional column of a curves table: where the loss leaves the tangent (10%)."""
_VALIDITY_MARK: dict[str, Any] = {"ls": "", "marker": "D", "ms": 4.0, "mew": 0.6, "mec": "0.1"}

CURVES_COLUMNS = (
    *("dataset", "pair", "trigger", "trigger_size", "trigger_eps", "clf", "C", "gamma"),
    *("lambda", "poison_fraction", "seed", "beta", "clean_loss", "backdoor_loss", "slope_if"),
)
"""Columns of a ``curves`` table that its figures read."""


def tangent_beta_range(
    intercept: float, slope: float, beta_max: float, y_low: float, y_high: float
) -> tuple[float, float] | None:
    """Return the beta interval in ``[0, beta_max]`` where the tangent stays in ``[y_low, y_high]``.

    The tangent is ``y(beta) = intercept + slope * beta`` (backdoor loss at beta = 0 plus the
    influence slope times beta).

    Returns
    -------
    tuple of float or None
        ``(beta_start, beta_end)`` with ``beta_start < beta_end``, or None when the tangent is
        outside the band on the whole interval (or an input is not finite).
    """
    if not all(np.isfinite([intercept, slope, beta_max, y_low, y_high])):
        return None
    start, end = 0.0, beta_max
    if slope != 0:
        crossings = sorted(((y_low - intercept) / slope, (y_high - intercept) / slope))
        start, end = max(start, crossings[0]), min(end, crossings[1])
    elif not y_low <= intercept <= y_high:
        return None
    return (start, end) if end > start else None


def _breakpoints(rows: pd.DataFrame) -> pd.DataFrame:
    """Return the breakpoint rows of exact SVM paths (none in other tables)."""
    return rows.iloc[:0] if "point" not in rows else rows[rows["point"] == BREAKPOINT]


def _curve_means(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per (lambda, p, beta) of the curve columns, over every row of a curve.

    The losses, the influence slope and, when the table has it, the tangent's validity range,
    at every beta of the grid and of the rows between (breakpoints of the exact SVM paths,
    refined steps of the followed ones), where a curve is linear or within its tolerance of it
    (:func:`~backdoor_curves.plots.tables.seed_means`).
    """
    columns = ["clean_loss", "backdoor_loss", "slope_if"]
    columns += [CROSSING] if CROSSING in rows else []
    return seed_means(rows, ["lambda", "poison_fraction"], columns)


def _p_colours(table: pd.DataFrame) -> dict[float, tuple]:
    """One colour per poison fraction, shared by every figure drawn from ``table`` (one pair).

    The colours follow the rank of ``p`` among the pair's fractions; the pairs of one run share
    their fractions, hence their colours.
    """
    fractions = sorted(table["poison_fraction"].unique())
    cmap = mpl.colormaps[P_CMAP]
    positions = np.linspace(0.05, 0.75, len(fractions)) if len(fractions) > 1 else [0.4]
    return {p: cmap(x) for p, x in zip(fractions, positions, strict=True)}


def _draw_tangent(ax, curve: pd.DataFrame, colour) -> None:
    """Thin line for ``backdoor_loss(0) + slope_if * beta``, only where it stays in the panel.

    Where the tangent stops predicting the loss drop within 10% (``tangent_crossing``,
    before the last beta), a small diamond on it marks the spot.
    """
    at_zero = curve[curve["beta"] == 0]
    if at_zero.empty:
        return
    intercept, slope = at_zero["backdoor_loss"].iloc[0], at_zero["slope_if"].iloc[0]
    y_low, y_high = ax.get_ylim()
    span = tangent_beta_range(intercept, slope, curve["beta"].max(), y_low, y_high)
    if span is None:
        return
    betas = np.array(span)
    ax.plot(betas, intercept + slope * betas, color=colour, lw=0.8, alpha=0.9)
    valid = at_zero[CROSSING].iloc[0] if CROSSING in at_zero else np.nan
    if span[0] <= valid <= span[1] and valid < curve["beta"].max():
        ax.plot([valid], [intercept + slope * valid], **_VALIDITY_MARK, color=colour)


def _draw_curve_panel(
    ax, means: pd.DataFrame, breakpoints: pd.DataFrame, colours: dict[float, tuple]
) -> None:
    _draw_curves(ax, means, breakpoints, colours)
    ax.set_xlabel("β (poison weight)")
    end = _zoom_end(means)
    box = None if end is None else _inset_box(ax, means)
    if end is None or box is None:
        return
    inset = ax.inset_axes(box)
    # The rows up to the zoom's end and the next one, so that the lines reach its edge.
    shown = means[means["beta"] <= means.loc[means["beta"] > end, "beta"].min()]
    _draw_curves(inset, shown, breakpoints[breakpoints["beta"] <= end], colours, ms=2.0)
    inset.set_xlim(0.0, end)
    inset.tick_params(labelsize=6, length=2, pad=1.5)
    for axis in (inset.xaxis, inset.yaxis):
        axis.set_major_locator(MaxNLocator(nbins=3))
    inset.spines[["top", "right"]].set_visible(True)
    # The zoomed region, outlined in the panel (no connectors: they would cross the curves).
    y_low, y_high = inset.get_ylim()
    ax.add_patch(Rectangle((0.0, y_low), end, y_high - y_low, fill=False, ec="0.45", lw=0.6))


def _draw_curves(
    ax,
    means: pd.DataFrame,
    breakpoints: pd.DataFrame,
    colours: dict[float, tuple],
    *,
    ms: float = 2.5,
) -> None:
    """Draw the curves, tangents and breakpoint ticks of one panel (or of its inset)."""
    for p, curve in means.groupby("poison_fraction", sort=True):
        # The lines pass through every row; the dots mark the grid betas.
        grid = np.flatnonzero(curve["on_grid"]).tolist()
        ax.plot(curve["beta"], curve["backdoor_loss"], color=colours[p], lw=1.8, marker="o",
                ms=ms, markevery=grid)  # fmt: skip
        ax.plot(curve["beta"], curve["clean_loss"], color=colours[p], lw=1.4, ls=":")
    # Fix the y-range from the curves so that the tangents are clipped to it, not widen it,
    # with room above them for the breakpoint ticks.
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + (0.08 * (high - low) if not breakpoints.empty else 0.0))
    for p, curve in means.groupby("poison_fraction", sort=True):
        _draw_tangent(ax, curve, colours[p])
    # Breakpoints of the exact paths (every seed): short ticks along the top of the panel.
    for p, points in breakpoints.groupby("poison_fraction", sort=True):
        ax.plot(
            points["beta"], np.full(len(points), 0.97), ls="", marker="|", ms=5, mew=0.5,
            color=colours[p], alpha=0.6, transform=ax.get_xaxis_transform(),
        )  # fmt: skip


# A panel whose backdoor losses all make half their drop within this share of the beta axis
# gets an inset on that start; curves that drop less than a tenth of the largest drop do not
# count. The inset shows twice the range where they are 90% done, at most ten times the range
# of the half drop and a quarter of the axis.
_ZOOM_SHARE = 0.03
_ZOOM_NEGLIGIBLE = 0.1


# The inset (axes fraction): its left edge and width, the band it may take vertically (below
# the breakpoint ticks, above the x-axis), its largest and smallest height, and its clearance
# from the curves.
_ZOOM_X = (0.36, 0.6)
_ZOOM_BAND = (0.08, 0.9)
_ZOOM_HEIGHT = (0.3, 0.5)
_ZOOM_CLEARANCE = 0.06


def _zoom_end(means: pd.DataFrame) -> float | None:
    """Return the end of the beta range an inset shows, or None when the panel needs none.

    A curve has made a share of its drop (to its lowest value) at the first beta where it is
    that share below its start; see ``_ZOOM_SHARE`` for when and how far the inset zooms.
    """
    beta_max = float(means["beta"].max())
    drops, half, most = [], [], []
    for _, curve in means.groupby("poison_fraction", sort=True):
        betas, losses = curve["beta"].to_numpy(), curve["backdoor_loss"].to_numpy()
        drop = float(losses[0] - np.nanmin(losses))
        drops.append(drop)
        half.append(float(betas[np.argmax(losses <= losses[0] - 0.5 * drop)]))
        most.append(float(betas[np.argmax(losses <= losses[0] - 0.9 * drop)]))
    largest = max(drops, default=0.0)
    if not largest > 0.0:
        return None
    counted = [drop >= _ZOOM_NEGLIGIBLE * largest for drop in drops]
    half_end = max(b for b, count in zip(half, counted, strict=True) if count)
    most_end = max(b for b, count in zip(most, counted, strict=True) if count)
    if not 0.0 < half_end <= _ZOOM_SHARE * beta_max:
        return None
    return min(2.0 * most_end, 10.0 * half_end, 0.25 * beta_max)


def _inset_box(ax, means: pd.DataFrame) -> tuple[float, float, float, float] | None:
    """Return where the inset goes (axes fraction), clear of the curves, or None.

    The curves right of the inset's left edge leave room above them (the inset's first
    choice) or below them, at least ``_ZOOM_HEIGHT[0]`` of the panel high.
    """
    low, high = ax.get_ylim()
    x_low, x_high = ax.get_xlim()
    right = means[means["beta"] >= x_low + _ZOOM_X[0] * (x_high - x_low)]
    values = np.r_[right["backdoor_loss"], right["clean_loss"]]
    values = (values[np.isfinite(values)] - low) / (high - low)
    if values.size == 0:
        return None
    above = (max(float(values.max()) + _ZOOM_CLEARANCE, _ZOOM_BAND[0]), _ZOOM_BAND[1])
    below = (_ZOOM_BAND[0], min(float(values.min()) - _ZOOM_CLEARANCE, _ZOOM_BAND[1]))
    for bottom, top in (above, below):
        height = min(top - bottom, _ZOOM_HEIGHT[1])
        if height >= _ZOOM_HEIGHT[0]:
            start = top - height if (bottom, top) == above else bottom
            return (_ZOOM_X[0], start, _ZOOM_X[1], height)
    return None


def _curve_legend_handles(
    fractions: list[float], colours: dict[float, tuple], *, breakpoints: bool, validity: bool
) -> list[list[Line2D]]:
    """Legend rows: the p colours, the line styles, then the marks (when any are drawn)."""
    rows = [
        [Line2D([], [], color=colours[p], lw=1.8, label=f"p = {p:g}") for p in fractions],
        [
            Line2D([], [], color="0.25", lw=1.8, label="backdoor test loss"),
            Line2D([], [], color="0.25", lw=1.4, ls=":", label="clean test loss"),
            Line2D([], [], color="0.25", lw=0.8, label="tangent at β = 0 (influence)"),
        ],
    ]
    marks = []
    if validity:
        marks.append(
            Line2D([], [], **_VALIDITY_MARK, color="0.25", label="tangent 10% off the drop")
        )
    if breakpoints:
        marks.append(
            Line2D([], [], color="0.25", ls="", marker="|", ms=7, label="path breakpoints")
        )
    return [*rows, marks] if marks else rows


def _interleaved(rows: list[list[Line2D]]) -> tuple[list[Line2D], int]:
    """Return the handles and the column count that lay ``rows`` out row by row.

    Matplotlib fills legend columns top to bottom, so the rows are interleaved column by column
    (short rows padded with blank entries).
    """
    n_cols = max(len(row) for row in rows)
    blank = Line2D([], [], ls="", label=" ")
    padded = [row + [blank] * (n_cols - len(row)) for row in rows]
    return [handle for column in zip(*padded, strict=True) for handle in column], n_cols


# Width and height of one F2 panel, in inches.
_CURVE_PANEL = (2.7, 1.85)


def _curve_figure(rows: pd.DataFrame, colours: dict[float, tuple], title: str) -> Figure:
    means = _curve_means(rows)
    lambdas = sorted(means["lambda"].unique(), reverse=True)
    grid = PanelGrid(
        n_rows=1,
        n_cols=len(lambdas),
        panel=_CURVE_PANEL,
        title_lines=title.count("\n") + 1,
        legend_rows=2,
        inner_yticks=True,
    )
    breakpoints = _breakpoints(rows)
    validity = CROSSING in rows and bool((rows[CROSSING] < rows["beta"].max()).any())
    legend = _curve_legend_handles(
        sorted(means["poison_fraction"].unique()),
        colours,
        breakpoints=not breakpoints.empty,
        validity=validity,
    )
    grid = replace(grid, legend_rows=len(legend))
    fig, axes = grid.figure()
    for ax, lam in zip(axes.flat, lambdas, strict=True):
        _draw_curve_panel(
            ax, means[means["lambda"] == lam], breakpoints[breakpoints["lambda"] == lam], colours
        )
        ax.set_title(f"λ = {format_value(lam)}")
    loss = model_loss(rows["clf"].iloc[0])
    axes[0, 0].set_ylabel("mean test loss" if loss is None else f"mean test loss ({loss})")
    # Every panel has its own loss axis: the margins follow its widest tick label.
    grid = replace(grid, ytick_width=ytick_label_width(axes.flat))
    grid.fit(fig, axes)
    handles, n_cols = _interleaved(legend)
    grid.add_legend(fig, handles, ncols=n_cols)
    grid.add_title(fig, title)
    return fig


@register_figures("curves", required_columns=CURVES_COLUMNS, split_by=PAIR_COLUMNS)
@figure_plotter
def plot_curve_figures(table: pd.DataFrame) -> Iterator[tuple[str, Figure]]:
    """F2: backdoor and clean test loss vs beta, one figure per (dataset, pair, model).

    One panel per lambda, one colour per poison fraction p (the same colours in every figure of
    a pair, see :func:`_p_colours`; the pairs are drawn in parallel);
    solid = backdoor test loss (dots at the grid betas), dotted = clean test loss, both means
    over seeds drawn through every row of the curves (the breakpoints of the exact SVM paths,
    between which every score is affine in beta, and the refined steps of the followed
    logistic and ridge paths, within ``REFINE_TOLERANCE`` of linear); a thin line is
    the tangent at beta = 0, ``backdoor_loss(0) + slope_if * beta``, drawn only where it stays
    inside the panel's y-range, with a small diamond where it stops predicting the drop of the
    backdoor loss within 10% (``tangent_crossing``, mean over seeds; found on the path;
    none when it holds to the last beta). For the SVMs, whose path in beta is exact, short ticks
    along the top mark its breakpoints (every seed's), where a training point changes set. A
    panel whose backdoor losses make half their drop within the first 3% of the beta axis gets
    an inset on that start (outlined in the panel), placed above or below the curves where
    they leave room (:func:`_zoom_end`).

    Files ``curves_<dataset>_<pair>_<model>[_<trigger>]`` (a plotter, see
    :func:`~backdoor_curves.plots.style.figure_plotter`).
    """
    for (dataset, pair), pair_rows in groups(table, list(PAIR_COLUMNS)):
        colours = _p_colours(pair_rows)
        for (tag, model), rows in groups(pair_rows, ["trigger_tag", "model"]):
            label = model_label(rows["clf"].iloc[0], rows["gamma"].iloc[0])
            title = f"{label}\n{dataset} {pair}, {rows['trigger_label'].iloc[0]}, {seed_note(rows)}"
            trigger_part = optional_part(pair_rows, "trigger_tag", tag)
            yield (
                f"curves_{dataset}_{pair}_{model}{trigger_part}",
                _curve_figure(rows, colours, title),
            )
