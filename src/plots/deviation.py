"""Parameter-deviation figures (F6): the (nu, rho) path of each model as beta grows.

Inside: :func:`plot_deviation_figures`, drawn from the ``deviation`` tables, one figure per
(dataset, pair); :data:`DEVIATION_COLUMNS`, the columns a deviation table must have.

``nu = (1 - cos(w(0), w(beta))) / 2`` in [0, 1] is the change of direction of the parameters and
``rho = ||w(beta)||`` their size (RKHS norm for kernel models); the tables hold both.

See ``docs/method.md``, section "Parameter deviation".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from backdoor_curves.naming import format_value, model_label
from backdoor_curves.plots.layout import PanelGrid, ytick_label_width
from backdoor_curves.plots.registry import register_figures
from backdoor_curves.plots.style import LAMBDA_COLOURS, figure_plotter
from backdoor_curves.plots.tables import (
    PAIR_COLUMNS,
    groups,
    models_in_order,
    optional_part,
    seed_means,
    seed_note,
)

__all__ = ["DEVIATION_COLUMNS", "plot_deviation_figures"]

DEVIATION_COLUMNS = (
    *("dataset", "pair", "trigger", "trigger_size", "trigger_eps", "clf", "C", "gamma"),
    *("lambda", "poison_fraction", "seed", "beta", "nu", "rho", "backdoor_acc"),
)
"""Columns of a ``deviation`` table that its figures read."""


def _draw_deviation_panel(ax, rows: pd.DataFrame) -> None:
    """One nu-rho path per lambda (means over seeds) through every row, markers at the grid."""
    means = seed_means(rows, ["lambda"], ["nu", "rho", "backdoor_acc"])
    lambdas = sorted(means["lambda"].unique(), reverse=True)
    for k, lam in enumerate(lambdas):
        path = means[means["lambda"] == lam]
        final_ba = path["backdoor_acc"].iloc[-1]
        colour = LAMBDA_COLOURS[k % len(LAMBDA_COLOURS)]
        ax.plot(
            path["nu"],
            path["rho"],
            color=colour,
            lw=1.2,
            marker="o",
            ms=3,
            markevery=np.flatnonzero(path["on_grid"]).tolist(),
            label=f"λ = {format_value(lam)}, BA = {final_ba:.2f}",
        )
    rho = means["rho"].to_numpy()
    rho = rho[np.isfinite(rho) & (rho > 0)]
    # Norms of differently regularised models can differ by orders of magnitude.
    if rho.size and rho.max() / rho.min() > 10:
        ax.set_yscale("log")
        # Ticks at 1, 2, 5 x 10^k in plain numbers: a span of one or two decades stays labelled.
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: format_value(value)))
        ax.yaxis.set_minor_locator(NullLocator())
    ax.legend(loc="best")


# Width and height of one F6 panel, in inches.
_DEVIATION_PANEL = (2.5, 2.4)


def _deviation_figure(rows: pd.DataFrame, title: str) -> Figure:
    models = [tag for tag, _, _ in models_in_order(rows)]
    fractions = sorted(rows["poison_fraction"].unique())
    grid = PanelGrid(
        n_rows=len(fractions),
        n_cols=len(models),
        panel=_DEVIATION_PANEL,
        title_lines=title.count("\n") + 1,
        inner_yticks=True,
    )
    fig, axes = grid.figure()
    for i, p in enumerate(fractions):
        for j, model in enumerate(models):
            cell = rows[(rows["poison_fraction"] == p) & (rows["model"] == model)]
            ax = axes[i, j]
            if cell.empty:
                ax.set_visible(False)
                continue
            _draw_deviation_panel(ax, cell)
            label = model_label(cell["clf"].iloc[0], cell["gamma"].iloc[0])
            ax.set_title(f"{label}, p = {p:g}")
            ax.set_xlabel("ν = (1 − cos(w(0), w(β))) / 2")
        axes[i, 0].set_ylabel("ρ = ‖w(β)‖")
    # Every panel has its own norm axis: the margins follow its widest tick label.
    grid = replace(grid, ytick_width=ytick_label_width(axes.flat))
    grid.fit(fig, axes)
    grid.add_title(fig, title)
    return fig


@register_figures("deviation", required_columns=DEVIATION_COLUMNS, split_by=PAIR_COLUMNS)
@figure_plotter
def plot_deviation_figures(table: pd.DataFrame) -> Iterator[tuple[str, Figure]]:
    """F6: parameter-deviation paths (nu, rho), one figure per (dataset, pair).

    One panel per model (rows per poison fraction when several), one path per lambda drawn
    through every row of the table (the breakpoints of the exact SVM paths and the refined
    steps too) with a marker at each grid beta; the legend gives lambda and the backdoor
    accuracy at the largest beta (means over seeds).

    Files ``deviation_<dataset>_<pair>[_<trigger>]`` (a plotter, see
    :func:`~backdoor_curves.plots.style.figure_plotter`).
    """
    for (dataset, pair), pair_rows in groups(table, list(PAIR_COLUMNS)):
        for (tag,), rows in groups(pair_rows, ["trigger_tag"]):
            title = (
                f"Parameter deviation\n{dataset} {pair}, {rows['trigger_label'].iloc[0]}, "
                f"{seed_note(rows)}"
            )
            trigger_part = optional_part(pair_rows, "trigger_tag", tag)
            yield f"deviation_{dataset}_{pair}{trigger_part}", _deviation_figure(rows, title)
