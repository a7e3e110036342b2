"""Learning-slope figures: accuracy against the normalised slope theta.

Inside:

- :func:`plot_slope_figures` (F3/F5): one figure per (dataset, pair, trigger, p), one panel per
  model (one per gamma for kernel models), markers coloured by log10 C;
- :func:`plot_slope_overview`: one figure per (dataset, trigger), rows = pairs, columns =
  models, pooling C, seeds and gammas;
- :data:`SLOPE_COLUMNS`: the columns a slope table must have.

Both read the ``slope`` tables only. theta = (2 / pi) arctan(-slope) lies in (0, 1) when
poisons help the backdoor; rows with theta NaN or <= 0 cannot be drawn on the log axis and are
counted under their panel.

See ``docs/method.md``, section "The normalised slope".
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from backdoor_curves.naming import format_value, model_label, model_order
from backdoor_curves.plots.layout import PanelGrid, set_panel_title
from backdoor_curves.plots.registry import register_figures
from backdoor_curves.plots.style import (
    C_CMAP,
    figure_plotter,
    model_colour,
)
from backdoor_curves.plots.tables import groups, models_in_order, optional_part

__all__ = [
    "FIGURE_SPLIT",
    "SLOPE_COLUMNS",
    "model_panels",
    "plot_slope_figures",
    "plot_slope_overview",
    "slope_groups",
    "spearman_theta_ba",
]

SLOPE_COLUMNS = (
    *("dataset", "pair", "trigger", "trigger_size", "trigger_eps", "clf", "C", "gamma"),
    *("seed", "poison_fraction", "clean_acc", "backdoor_acc", "theta"),
)
"""Columns of a ``slope`` table that its figures read."""

# Every slope figure depends on the rows of one (dataset, pair, trigger) only, every overview
# on those of one (dataset, trigger): the figure step may draw them in parallel.
_TRIGGER_COLUMNS = ("trigger", "trigger_size", "trigger_eps")
FIGURE_SPLIT = ("dataset", "pair", *_TRIGGER_COLUMNS)
OVERVIEW_SPLIT = ("dataset", *_TRIGGER_COLUMNS)

# x-range of a theta panel with nothing to draw (theta lies in (0, 1) when drawable).
EMPTY_THETA_RANGE = (1e-3, 1.0)


class InViewLogLocator(LogLocator):
    """Log-axis tick locator that returns only the ticks inside the view.

    ``LogLocator`` also returns ticks up to a decade beyond each end of the view; matplotlib
    builds a tick (lines and label) for each of them and then leaves them out of the drawing.
    Dropping them here draws exactly the same ticks and saves building and updating the others
    at every draw (the slope figures have about 20 minor ticks per theta axis).
    """

    # Looser than matplotlib's own inclusion test (relative 1e-10 of the log span), so every
    # tick it would draw is kept.
    _SLACK = 1e-6

    def tick_values(self, vmin: float, vmax: float) -> Sequence[float]:
        """Return ``LogLocator.tick_values`` restricted to ``[vmin, vmax]`` (with slack)."""
        ticks = np.asarray(super().tick_values(vmin, vmax))
        low, high = sorted((vmin, vmax))
        inside = (ticks >= low * (1 - self._SLACK)) & (ticks <= high * (1 + self._SLACK))
        return ticks[inside]  # type: ignore[return-value]  # an array, as LogLocator returns


def set_log_theta_scale(ax) -> None:
    """Put the theta (x) axis of ``ax`` on a log scale with unlabelled, in-view minor ticks.

    Decades are labelled as plain numbers (0.01, 0.1, 1): theta lies in (0, 1), and plain text
    needs neither the mathtext parser nor a second embedded font subset in every PDF.
    """
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_decade_label))
    # Minor ticks at 2 and 5 times each power of ten (every integer multiple, the log
    # scale's default, builds four times as many tick artists for little more reading help).
    ax.xaxis.set_minor_locator(InViewLogLocator(10.0, subs=(2.0, 5.0)))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _decade_label(value: float, _position: int | None = None) -> str:
    """Label of a power of ten: ``0.01``, ``1``, and ``1e-6`` below ``0.0001``."""
    exponent = round(math.log10(value)) if value > 0 else 0
    return f"{value:g}" if -4 <= exponent <= 3 else f"1e{exponent}"


def model_panels(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Split labelled rows into one ``(title, rows)`` panel per model tag.

    Models come in :func:`backdoor_curves.naming.model_order` (the paper's models first, a
    kernel model once per gamma, ascending); titles are :func:`~backdoor_curves.naming.model_label`.
    """
    return [
        (model_label(clf, gamma), rows[rows["model"] == tag])
        for tag, clf, gamma in models_in_order(rows)
    ]


def _drawable_theta(rows: pd.DataFrame) -> pd.Series:
    """Mask of rows whose theta can be drawn on a log axis (finite and positive)."""
    return np.isfinite(rows["theta"]) & (rows["theta"] > 0)


def spearman_theta_ba(rows: pd.DataFrame) -> float:
    """Spearman correlation of ``theta`` and ``backdoor_acc`` over the rows where both are finite.

    The Pearson correlation of the ranks (ties get their mean rank), as ``scipy.stats.spearmanr``
    computes it, without importing scipy.stats (a slow import). NaN with fewer than 3 usable
    rows or when either column is constant.
    """
    usable = rows[np.isfinite(rows["theta"]) & np.isfinite(rows["backdoor_acc"])]
    if len(usable) < 3 or usable["theta"].nunique() < 2 or usable["backdoor_acc"].nunique() < 2:
        return float("nan")
    return float(usable["theta"].rank().corr(usable["backdoor_acc"].rank()))


def _spearman_text(rows: pd.DataFrame) -> str:
    """``Spearman(θ, BA) = 0.88`` (``n/a`` when undefined, see :func:`spearman_theta_ba`)."""
    rho = spearman_theta_ba(rows)
    return "Spearman(θ, BA) n/a" if np.isnan(rho) else f"Spearman(θ, BA) = {rho:.2f}"


def _dropped_note(rows: pd.DataFrame) -> str:
    n_dropped = int((~_drawable_theta(rows)).sum())
    if n_dropped == 0:
        return ""
    return f"\n{n_dropped} of {len(rows)} not drawn (θ ≤ 0 or NaN)"


def _set_log_theta_axis(ax, theta: pd.Series) -> None:
    """Log x-axis over the drawn theta values that always shows at least one labelled decade.

    Matplotlib labels minor ticks (and they collide) when the view spans less than a decade, so
    the view is widened down to the power of ten below the smallest value when needed.
    """
    set_log_theta_scale(ax)
    if theta.empty:
        # A log axis needs positive limits even when there is nothing to draw.
        ax.set_xlim(*EMPTY_THETA_RANGE)
        return
    low, high = np.log10(theta.min()) - 0.1, np.log10(theta.max()) + 0.1
    if math.floor(high) < math.ceil(low):
        low = math.floor(low) - 0.1
    ax.set_xlim(10**low, 10**high)


def _scatter_accuracies(
    ax,
    drawn: pd.DataFrame,
    colours,
    *,
    size: float,
    clean: tuple[float, float],
    backdoor_alpha: float,
) -> None:
    """CA as hollow squares and BA as filled circles against theta.

    ``colours`` is one colour or one per row; ``clean`` is the (edge width, alpha) of the CA
    markers.
    """
    width, alpha = clean
    ax.scatter(
        drawn["theta"], drawn["clean_acc"], marker="s", s=size, facecolors="none",
        edgecolors=colours, linewidths=width, alpha=alpha,
    )  # fmt: skip
    ax.scatter(
        drawn["theta"], drawn["backdoor_acc"], marker="o", s=size, color=colours,
        edgecolors="0.15", linewidths=0.3, alpha=backdoor_alpha,
    )  # fmt: skip


def _draw_slope_panel(ax, rows: pd.DataFrame, title: str, cmap, norm: Normalize) -> None:
    """Scatter CA (hollow squares) and BA (filled circles) against theta, coloured by log10 C."""
    drawn = rows[_drawable_theta(rows)].sort_values("C")
    colours = cmap(norm(np.log10(drawn["C"].to_numpy())))
    _scatter_accuracies(ax, drawn, colours, size=22, clean=(0.9, 1.0), backdoor_alpha=0.9)
    _mark_flagged(ax, drawn)
    _mark_safe(ax, drawn)
    _set_log_theta_axis(ax, drawn["theta"])
    ax.set_ylim(-0.03, 1.03)
    set_panel_title(ax, f"{title}\n{_spearman_text(rows)}")
    ax.set_xlabel(f"θ (normalised slope, log scale){_dropped_note(rows)}")
    if drawn.empty:
        ax.text(0.5, 0.5, "no positive θ to draw", transform=ax.transAxes, ha="center")


def _flagged(rows: pd.DataFrame) -> pd.Series:
    """Rows whose slope status is not ``"ok"`` (one-sided, damped, ill-conditioned ...)."""
    if "status" not in rows:
        return pd.Series(False, index=rows.index)
    return rows["status"].fillna("") != "ok"


def _mark_flagged(ax, drawn: pd.DataFrame) -> None:
    """Ring the BA marker of every cell whose status is not ``"ok"`` in red."""
    flagged = drawn[_flagged(drawn)]
    ax.scatter(
        flagged["theta"], flagged["backdoor_acc"], marker="o", s=70, facecolors="none",
        edgecolors="tab:red", linewidths=1.0,
    )  # fmt: skip


SAFE_MARKER, SAFE_COLOUR, SAFE_WIDTH = "D", "tab:green", 1.4
"""The green diamond drawn around the BA marker of a cell of the safe region."""


def _has_safe_flags(rows: pd.DataFrame) -> bool:
    return "safe" in rows.columns and bool(rows["safe"].notna().any())


def _mark_safe(ax, drawn: pd.DataFrame) -> None:
    """Draw a green diamond around the BA marker of every cell of the safe region."""
    if not _has_safe_flags(drawn):
        return
    safe = drawn[drawn["safe"].eq(True)]
    ax.scatter(
        safe["theta"], safe["backdoor_acc"], marker=SAFE_MARKER, s=90,
        facecolors="none", edgecolors=SAFE_COLOUR,
        linewidths=SAFE_WIDTH,
    )  # fmt: skip


def accuracy_legend_handles(*, flagged: bool = False, safe: bool = False) -> list[Line2D]:
    """Legend entries of the BA (filled circle) and CA (hollow square) markers.

    With ``flagged``, also the red ring marking cells whose status is not ``"ok"``; with
    ``safe``, the green diamond marking the cells of the safe region.
    """
    backdoor = Line2D(
        [], [], ls="", marker="o", color="0.4", markeredgecolor="0.15",
        label="BA (backdoor test accuracy)",
    )  # fmt: skip
    clean = Line2D(
        [], [], ls="", marker="s", color="0.4", markerfacecolor="none",
        label="CA (clean test accuracy)",
    )  # fmt: skip
    handles = [backdoor, clean]
    if flagged:
        handles.append(
            Line2D(
                [], [], ls="", marker="o", markersize=8, markerfacecolor="none",
                markeredgecolor="tab:red", label='status not "ok" (see the status column)',
            )
        )  # fmt: skip
    if safe:
        handles.append(
            Line2D(
                [], [], ls="", marker=SAFE_MARKER, markersize=8,
                markerfacecolor="none", markeredgecolor=SAFE_COLOUR,
                markeredgewidth=SAFE_WIDTH, label="safe cell (safe_region.csv)",
            )
        )  # fmt: skip
    return handles


def _slope_figure(rows: pd.DataFrame, title: str) -> Figure:
    panels = model_panels(rows)
    n_cols = min(4, len(panels))
    grid = PanelGrid(
        n_rows=math.ceil(len(panels) / n_cols),
        n_cols=n_cols,
        panel=(2.55, 1.95),
        title_lines=title.count("\n") + 1,
        panel_title_lines=2,
        xlabel_lines=max(1 + bool(_dropped_note(panel_rows)) for _, panel_rows in panels),
        colorbar=True,
        legend_rows=1,
    )
    fig, axes = grid.figure(sharey=True)
    axes = axes.ravel()
    log_c = np.log10(rows["C"].to_numpy())
    norm = Normalize(vmin=log_c.min(), vmax=log_c.max())
    cmap = mpl.colormaps[C_CMAP]
    for ax, (panel_title, panel_rows) in zip(axes, panels, strict=False):
        _draw_slope_panel(ax, panel_rows, panel_title, cmap, norm)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    for ax in axes[::n_cols]:
        ax.set_ylabel("accuracy")
    grid.add_colorbar(fig, ScalarMappable(norm=norm, cmap=cmap), "log10 C")
    safe = _has_safe_flags(rows)
    grid.add_legend(fig, accuracy_legend_handles(flagged=True, safe=safe), ncols=3 + safe)
    grid.add_title(fig, title)
    return fig


def _slope_title(values: tuple, rows: pd.DataFrame) -> str:
    dataset, pair, _, p = values
    trigger = rows["trigger_label"].iloc[0]
    return f"{dataset} {pair}, {trigger}, p = {format_value(p)}\naccuracy vs normalised slope θ"


def slope_groups(table: pd.DataFrame) -> Iterator[tuple[tuple, str, pd.DataFrame]]:
    """Yield ``((dataset, pair, trigger tag, p), stem suffix, rows)`` of a labelled slope table.

    The stem suffix is ``_p<p>`` when the (dataset, pair, trigger) holds several poison
    fractions, else empty.
    """
    for values, rows in groups(table, ["dataset", "pair", "trigger_tag"]):
        for (p,), p_rows in groups(rows, ["poison_fraction"]):
            yield (*values, p), optional_part(rows, "poison_fraction", f"p{p:g}"), p_rows


@register_figures("slope", required_columns=SLOPE_COLUMNS, split_by=FIGURE_SPLIT)
@figure_plotter
def plot_slope_figures(table: pd.DataFrame) -> Iterator[tuple[str, Figure]]:
    """F3/F5: accuracy vs normalised learning slope, one figure per (pair, trigger).

    One panel per model (kernel models: one per gamma); x = theta on a log axis (rows with
    theta NaN or <= 0 cannot be drawn and are counted under the panel), y = clean accuracy
    (hollow squares) and backdoor accuracy (filled circles), one marker per (C, seed), coloured
    by log10 C. Panel titles give the Spearman correlation between theta and BA. Files
    ``slope_<dataset>_<pair>_<trigger>[_p<p>]`` (a plotter, see
    :func:`~backdoor_curves.plots.style.figure_plotter`).
    """
    for values, p_part, rows in slope_groups(table):
        dataset, pair, tag, _ = values
        yield (
            f"slope_{dataset}_{pair}_{tag}{p_part}",
            _slope_figure(rows, _slope_title(values, rows)),
        )


# ----------------------------------------------------------------------------------- overview


def _draw_overview_panel(ax, rows: pd.DataFrame, colour: str) -> None:
    """BA (model colour) and CA (light) against theta on a log axis."""
    drawn = rows[_drawable_theta(rows)]
    _scatter_accuracies(ax, drawn, colour, size=14, clean=(0.6, 0.35), backdoor_alpha=1.0)
    set_log_theta_scale(ax)
    ax.set_ylim(-0.03, 1.03)


def _overview_figure(rows: pd.DataFrame, title: str) -> Figure:
    pairs = sorted(rows["pair"].unique())
    clfs = sorted(rows["clf"].unique(), key=model_order)
    n_dropped = int((~_drawable_theta(rows)).sum())
    note = f"\n{n_dropped} of {len(rows)} runs not drawn (θ ≤ 0 or NaN)" if n_dropped else ""
    title = f"{title}: accuracy vs normalised slope θ\n(all C, seeds and γ){note}"
    grid = PanelGrid(
        n_rows=len(pairs),
        n_cols=len(clfs),
        panel=(2.2, 1.5),
        title_lines=title.count("\n") + 1,
        panel_title_lines=2,
        legend_rows=1,
        inner_xticks=False,
    )
    # One theta scale for the whole figure, so that pairs and models compare at a glance.
    fig, axes = grid.figure(sharex=True, sharey=True)
    for i, pair in enumerate(pairs):
        for j, clf in enumerate(clfs):
            cell = rows[(rows["pair"] == pair) & (rows["clf"] == clf)]
            _draw_overview_panel(axes[i, j], cell, model_colour(clf, clfs))
            set_panel_title(axes[i, j], f"{model_label(clf)}, {pair}\n{_spearman_text(cell)}")
        axes[i, 0].set_ylabel("accuracy")
    if n_dropped == len(rows):
        # The x-axis is shared: fixing one panel's limits fixes them all.
        axes[0, 0].set_xlim(*EMPTY_THETA_RANGE)
    for ax in axes[-1]:
        ax.set_xlabel("θ (log scale)")
    grid.add_title(fig, title)
    grid.add_legend(fig, accuracy_legend_handles(), ncols=2)
    return fig


@register_figures("slope", split_by=OVERVIEW_SPLIT)
@figure_plotter
def plot_slope_overview(table: pd.DataFrame) -> Iterator[tuple[str, Figure]]:
    """One overview per (dataset, trigger): rows = pairs, columns = models.

    Each panel shows BA (filled, model colour) and CA (light hollow squares) against theta on
    a log axis, pooling all C, seeds and (for kernel models) gammas. Files
    ``slope_overview_<dataset>_<trigger>`` (a plotter, see
    :func:`~backdoor_curves.plots.style.figure_plotter`).
    """
    for (dataset, tag), rows in groups(table, ["dataset", "trigger_tag"]):
        title = f"{dataset}, {rows['trigger_label'].iloc[0]}"
        yield f"slope_overview_{dataset}_{tag}", _overview_figure(rows, title)
