"""Kernel-model heat maps (F4): clean and backdoor accuracy over (lambda, gamma).

Inside: :func:`plot_rbf_heatmaps`, drawn from the ``slope`` tables. Every model with a kernel
width (rows with a finite ``gamma``, the RBF SVM in the paper) gets one figure per (dataset,
pair, trigger, p): two annotated heat maps, mean over seeds, on a fixed [0, 1] colour scale.
When the table carries the ``safe`` flags of its ``safe_region.csv``, the safe cells are
outlined on both maps (``docs/safe_hyperparameters.md``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from backdoor_curves.naming import format_value, model_label, model_order
from backdoor_curves.plots.layout import PanelGrid
from backdoor_curves.plots.registry import register_figures
from backdoor_curves.plots.slope import FIGURE_SPLIT, slope_groups
from backdoor_curves.plots.style import (
    ACCURACY_CMAP,
    figure_plotter,
)
from backdoor_curves.plots.tables import seed_note

__all__ = ["plot_rbf_heatmaps"]

SAFE_COLOUR = "tab:red"
"""Edge colour of the outline around safe cells (visible on every viridis shade)."""

# Height of the lambda tick labels, rotated by 45 degrees, in lines of tick-label text.
_ROTATED_TICK_LINES = 3.0


def _accuracy_grid(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean of ``column`` over seeds on the (gamma rows, lambda columns) grid, both ascending."""
    grid = rows.assign(lam=1.0 / rows["C"]).pivot_table(
        index="gamma", columns="lam", values=column, aggfunc="mean"
    )
    return grid.sort_index(axis=0).sort_index(axis=1)


def _draw_heatmap(ax, grid: pd.DataFrame, title: str):
    """Draw one annotated accuracy heat map on a fixed [0, 1] colour scale."""
    values = grid.to_numpy(dtype=float)
    image = ax.imshow(values, origin="lower", aspect="auto", cmap=ACCURACY_CMAP, vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            # Dark cells (low accuracy on viridis) get white text.
            colour = "white" if value < 0.55 else "black"
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(grid.shape[1]), [format_value(v) for v in grid.columns], rotation=45)
    ax.set_yticks(range(grid.shape[0]), [format_value(v) for v in grid.index])
    ax.set_xlabel("λ = 1/C")
    ax.set_ylabel("RBF kernel γ")
    ax.set_title(title)
    ax.grid(False)
    ax.spines[:].set_visible(False)
    return image


def _outline_safe_cells(ax, safe: pd.DataFrame) -> None:
    """Draw a thick outline around every cell whose ``safe`` flag is set."""
    for (i, j), value in np.ndenumerate(safe.to_numpy(dtype=float)):
        if value > 0.5:
            ax.add_patch(
                Rectangle(
                    (j - 0.5, i - 0.5), 1.0, 1.0, fill=False, edgecolor=SAFE_COLOUR,
                    linewidth=2.0, zorder=3,
                )
            )  # fmt: skip


def _safe_grid(rows: pd.DataFrame) -> pd.DataFrame | None:
    """Return the (gamma, lambda) grid of safe flags, or None when the table has none."""
    if "safe" not in rows.columns or not rows["safe"].notna().any():
        return None
    return _accuracy_grid(rows.assign(safe=rows["safe"].eq(True).astype(float)), "safe")


def _heatmap_figure(rows: pd.DataFrame, title: str) -> Figure:
    clean, backdoor = _accuracy_grid(rows, "clean_acc"), _accuracy_grid(rows, "backdoor_acc")
    safe = _safe_grid(rows)
    if safe is not None:
        title = f"{title}; red outline: safe cells ({_criteria_text(rows)})"
    gamma_text = max((format_value(v) for v in clean.index), key=len, default="")
    grid = PanelGrid(
        n_rows=1,
        n_cols=2,
        panel=(0.55 * clean.shape[1] + 0.3, 0.42 * clean.shape[0] + 0.3),
        title_lines=title.count("\n") + 1,
        # Tick labels at 8 pt: about 0.075 inch per character.
        ytick_width=0.075 * len(gamma_text),
        inner_yticks=True,
        xtick_lines=_ROTATED_TICK_LINES,
        colorbar=True,
    )
    fig, axes = grid.figure()
    _draw_heatmap(axes[0, 0], clean, "clean accuracy (CA)")
    image = _draw_heatmap(axes[0, 1], backdoor, "backdoor accuracy (BA)")
    if safe is not None:
        for ax in axes[0]:
            _outline_safe_cells(ax, safe)
    grid.add_colorbar(fig, image, "accuracy")
    grid.add_title(fig, title)
    return fig


def _criteria_text(rows: pd.DataFrame) -> str:
    """``"CA ≥ best − m, BA ≤ l"`` from the region's margin and level, when recorded."""
    if {"safe_margin", "safe_level"} <= set(rows.columns):
        margin, level = rows["safe_margin"].dropna(), rows["safe_level"].dropna()
        if not margin.empty and not level.empty:
            return f"CA ≥ best − {margin.iloc[0]:g}, BA ≤ {level.iloc[0]:g}"
    return "see safe_region.csv"


@register_figures("slope", split_by=FIGURE_SPLIT)
@figure_plotter
def plot_rbf_heatmaps(table: pd.DataFrame) -> Iterator[tuple[str, Figure]]:
    """F4: kernel-model clean and backdoor accuracy over (lambda, gamma), mean over seeds.

    Only rows with a finite ``gamma`` are used (no figure if there are none). Files
    ``rbf_heatmap_<dataset>_<pair>_<trigger>[_p<p>]``, with a ``_<model>`` part when several
    models of that pair, trigger and p have a gamma (a plotter, see
    :func:`~backdoor_curves.plots.style.figure_plotter`).
    """
    for (dataset, pair, tag, p), p_part, rows in slope_groups(table[np.isfinite(table["gamma"])]):
        clfs = sorted(rows["clf"].unique(), key=model_order)
        for clf in clfs:
            model_rows = rows[rows["clf"] == clf]
            title = (
                f"{model_label(clf)}, {dataset} {pair}, {rows['trigger_label'].iloc[0]}, "
                f"p = {format_value(p)}\n{seed_note(model_rows)}"
            )
            model_part = f"_{clf}" if len(clfs) > 1 else ""
            stem = f"rbf_heatmap_{dataset}_{pair}_{tag}{p_part}{model_part}"
            yield stem, _heatmap_figure(model_rows, title)
