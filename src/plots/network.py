"""Figure F8: backdoor learning curves of the networks, from the tables.

Run as ``python -m backdoor_curves.plots.network RESULTS_DIR`` (the network driver calls
:func:`plot_network_curves` after its grid). Reads ``RESULTS_DIR/results.csv`` and, when
present, ``head_slope.csv``; writes ``RESULTS_DIR/figures/nn_curves_<arch>.{pdf,png}``.

Layout per architecture: one column per epoch count. Top row: backdoor CE (solid) and clean
CE (dotted) against beta, one colour per poison fraction p, mean over seeds; the dashed line
from beta = 0 is the head's influence-slope tangent ``L_bt(0) + s_if * beta`` (drawn up to the
first positive beta, or to zero loss), and the text gives it next to the first step of the
measured curve, ``(L_bt(beta_1) - L_bt(0)) / beta_1``. Bottom row: BA (solid) and CA
(dotted). The beta axis is symmetric-log (linear below 1e-2) so that beta = 0 is shown.
Headless: a ``Figure`` on an Agg canvas, styled inside ``matplotlib.rc_context``;
importing changes no global state.

See ``docs/method.md``, section "Networks: beta-weighted training and the head slope".
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

from backdoor_curves.plots.style import FORMATS, STYLE, new_figure, save_figure

__all__ = ["main", "plot_network_curves"]

_LINEAR_BELOW = 1e-2


def _draw_arch(table: pd.DataFrame, heads: pd.DataFrame | None, arch: str) -> Figure:
    """One F8 figure for ``arch``."""
    epochs = sorted(table["epochs"].unique())
    fractions = sorted(table["poison_fraction"].unique())
    fig = new_figure(3.4 * len(epochs), 5.2)
    axes = fig.subplots(2, len(epochs), squeeze=False, sharex=True)
    colours = mpl.colormaps["tab10"]  # distinct, readable as text colours too
    for column, n_epochs in enumerate(epochs):
        loss_ax, acc_ax = axes[0, column], axes[1, column]
        for index, fraction in enumerate(fractions):
            rows = table[(table["epochs"] == n_epochs) & (table["poison_fraction"] == fraction)]
            mean = rows.groupby("beta")[
                ["backdoor_ce", "clean_ce", "backdoor_acc", "clean_acc"]
            ].mean()
            colour = colours(index)
            label = f"p={fraction:g}"
            loss_ax.plot(mean.index, mean["backdoor_ce"], "-o", ms=3, color=colour, label=label)
            loss_ax.plot(mean.index, mean["clean_ce"], ":", color=colour)
            acc_ax.plot(mean.index, mean["backdoor_acc"], "-o", ms=3, color=colour, label=label)
            acc_ax.plot(mean.index, mean["clean_acc"], ":", color=colour)
            _draw_tangent(loss_ax, heads, arch, n_epochs, fraction, mean, colour)
        loss_ax.set_title(f"{arch}, {n_epochs} epoch{'' if n_epochs == 1 else 's'}")
        acc_ax.set_xlabel("beta (poison weight)")
        acc_ax.set_ylim(-0.02, 1.02)
        for ax in (loss_ax, acc_ax):
            ax.set_xscale("symlog", linthresh=_LINEAR_BELOW)
            ax.set_xlim(left=0)
    axes[0, 0].set_ylabel("cross-entropy\n(solid: backdoor, dotted: clean)")
    axes[1, 0].set_ylabel("accuracy\n(solid: BA, dotted: CA)")
    axes[0, 0].legend(title="dashed: head slope", title_fontsize=7)
    axes[1, 0].legend()
    return fig


def _draw_tangent(
    ax: object,
    heads: pd.DataFrame | None,
    arch: str,
    n_epochs: int,
    fraction: float,
    mean: pd.DataFrame,
    colour: object,
) -> None:
    """Dashed tangent ``L_bt(0) + s_if beta`` of the head slope (mean over seeds)."""
    if heads is None or 0.0 not in mean.index:
        return
    rows = heads[
        (heads["arch"] == arch)
        & (heads["epochs"] == n_epochs)
        & (heads["poison_fraction"] == fraction)
    ]
    positive = mean.index[mean.index > 0]
    if rows.empty or len(positive) == 0:
        return
    slope = float(rows["head_slope_if"].mean())
    start_loss = float(mean.loc[0.0, "backdoor_ce"])
    end = float(positive.min())
    if slope < 0:  # stop where the tangent reaches zero loss (it cannot go below)
        end = min(end, start_loss / -slope)
    ax.plot([0.0, end], [start_loss, start_loss + slope * end], "--", color=colour, lw=1)  # type: ignore[attr-defined]
    curve = float(rows["curve_slope"].mean())
    ax.annotate(  # type: ignore[attr-defined]
        f"p={fraction:g}: head slope {slope:.3g}, curve step {curve:.3g}",
        xy=(0.03, 0.97 - 0.08 * len(ax.texts)),  # type: ignore[attr-defined]
        xycoords="axes fraction",
        va="top",
        fontsize=6.5,
        color=colour,
    )


def plot_network_curves(results_dir: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Draw F8 for every architecture of ``results_dir/results.csv``.

    Parameters
    ----------
    results_dir : str or Path
        Folder written by the network driver.
    formats : sequence of str, default=("pdf", "png")

    Returns
    -------
    list of Path
        Files written.
    """
    results_dir = Path(results_dir)
    table_path = results_dir / "results.csv"
    if not table_path.is_file():
        raise FileNotFoundError(f"no network results table at {table_path}")
    table = pd.read_csv(table_path)
    heads_path = results_dir / "head_slope.csv"
    heads = pd.read_csv(heads_path) if heads_path.is_file() else None
    out_dir = results_dir / "figures"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with mpl.rc_context(rc=dict(STYLE)):
        for arch in sorted(table["arch"].unique()):
            fig = _draw_arch(table[table["arch"] == arch], heads, arch)
            written += save_figure(fig, out_dir / f"nn_curves_{arch}", formats)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: draw F8 from a results folder."""
    parser = argparse.ArgumentParser(
        prog="python -m backdoor_curves.plots.network", description="Draw figure F8."
    )
    parser.add_argument("results_dir", help="folder holding the network driver's results.csv")
    args = parser.parse_args(argv)
    try:
        for path in plot_network_curves(args.results_dir):
            print(path)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from backdoor_curves.utilities.commands import exit_process

    exit_process(main())
