"""Figure F8: backdoor learning curves of the networks, and each head slope on its own curve.

Run as ``python -m backdoor_curves.plots.network RESULTS_DIR`` (the network driver calls
:func:`plot_network_curves` after its grid). Reads the tables the driver derives from
``results.csv``: ``summary.csv`` (means and standard deviations over seeds),
``head_curve.csv`` (each network head's exact curve at small beta and its tangent) and,
when present, ``head_slope_rank.csv``; writes ``RESULTS_DIR/figures/nn_curves_<arch>.{pdf,png}``.

Layout per architecture: one column per epoch count, one colour per poison fraction p.

1. The networks' backdoor CE (solid) and clean CE (dotted) against beta, mean over seeds
   with a band of one standard deviation; symmetric-log beta axis (linear below 1e-2) so
   that beta = 0 shows.
2. BA (solid) and CA (dotted), likewise.
3. The head slope on its own model: the exact backdoor CE of each network's proximal last
   layer (mean over seeds, band of one standard deviation) against beta on a log axis from
   1e-5, with the tangent ``L(0) + s beta`` dashed (stopped where it reaches zero loss) and
   ``L(0)`` as a dotted level.

The suptitle gives the seeds and Spearman's rho of the head-slope ranking. Every line is in
the legend. Headless: a ``Figure`` on an Agg canvas, styled inside ``matplotlib.rc_context``;
importing changes no global state.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from backdoor_curves.plots.style import FORMATS, STYLE, new_figure, save_figure

__all__ = ["main", "plot_network_curves"]

_LINEAR_BELOW = 1e-2
_TABLES = ("summary.csv", "head_curve.csv")


def _band(ax: Axes, x: np.ndarray, mean: np.ndarray, sd: np.ndarray, colour: object) -> None:
    """Shade ``mean +- sd`` (nothing where the spread is unknown, e.g. one seed)."""
    if np.isfinite(sd).any():
        ax.fill_between(x, mean - sd, mean + sd, color=colour, alpha=0.15, lw=0)


def _network_panels(
    loss_ax: Axes, acc_ax: Axes, rows: pd.DataFrame, fraction: float, colour: object
) -> None:
    """Rows 1 and 2: the networks' curves for one p (mean and sd over seeds)."""
    rows = rows.sort_values("beta")
    beta = rows["beta"].to_numpy(dtype=float)
    for ax, solid, dotted in (
        (loss_ax, ("backdoor_ce", "backdoor CE"), ("clean_ce", "clean CE")),
        (acc_ax, ("backdoor_acc", "BA"), ("clean_acc", "CA")),
    ):
        for (column, label), style in ((solid, "-o"), (dotted, ":")):
            mean = rows[f"{column}_mean"].to_numpy(dtype=float)
            sd = rows[f"{column}_sd"].to_numpy(dtype=float)
            ax.plot(beta, mean, style, ms=3, color=colour, label=f"{label}, p={fraction:g}")
            _band(ax, beta, mean, sd, colour)


def _head_panel(ax: Axes, curves: pd.DataFrame, fraction: float, colour: object) -> None:
    """Row 3: the heads' exact curve at small beta with its tangent (mean over seeds)."""
    by_beta = curves.groupby("beta")[["head_backdoor_ce", "tangent_ce"]]
    mean, sd = by_beta.mean(), by_beta.std(ddof=1)
    positive = mean.index > 0
    beta = mean.index[positive].to_numpy(dtype=float)
    curve = mean["head_backdoor_ce"].to_numpy(dtype=float)[positive]
    ax.plot(beta, curve, "-o", ms=3, color=colour, label=f"head's exact CE, p={fraction:g}")
    _band(ax, beta, curve, sd["head_backdoor_ce"].to_numpy(dtype=float)[positive], colour)
    dense = np.geomspace(beta.min(), beta.max(), 200)
    start = float(mean.loc[0.0, "head_backdoor_ce"]) if 0.0 in mean.index else np.nan
    slope = (mean["tangent_ce"].iloc[-1] - start) / mean.index[-1] if mean.index[-1] else np.nan
    tangent = start + slope * dense
    ax.plot(
        dense,
        np.where(tangent >= 0, tangent, np.nan),
        "--",
        lw=1.2,
        color=colour,
        label=f"tangent L(0) + s beta, p={fraction:g}",
    )
    ax.axhline(start, color=colour, ls=":", lw=0.8, label=f"L(0) (beta = 0), p={fraction:g}")


def _suptitle(arch: str, summary: pd.DataFrame, ranking: pd.DataFrame | None) -> str:
    seeds = sorted({s for text in summary["seeds"].astype(str) for s in text.split()}, key=int)
    title = f"{arch}: mean and one standard deviation over seeds {', '.join(seeds)}"
    if ranking is not None:
        rows = ranking[ranking["arch"] == arch]
        parts = [f"{row['spearman']:.2f} vs {row['measure']}" for _, row in rows.iterrows()]
        if parts:
            title += "\nhead slope ranks the networks' backdoor learning? Spearman " + "; ".join(
                parts
            )
    return title


def _draw_arch(
    summary: pd.DataFrame, curves: pd.DataFrame, ranking: pd.DataFrame | None, arch: str
) -> Figure:
    """One F8 figure for ``arch``."""
    epochs = sorted(summary["epochs"].unique())
    fractions = sorted(summary["poison_fraction"].unique())
    fig = new_figure(3.6 * len(epochs) + 2.6, 8.0)
    axes = fig.subplots(3, len(epochs), squeeze=False)
    colours = mpl.colormaps["tab10"]
    for column, n_epochs in enumerate(epochs):
        loss_ax, acc_ax, head_ax = axes[:, column]
        for index, fraction in enumerate(fractions):
            colour = colours(index)
            cell = (summary["epochs"] == n_epochs) & (summary["poison_fraction"] == fraction)
            _network_panels(loss_ax, acc_ax, summary[cell], fraction, colour)
            heads = curves[(curves["epochs"] == n_epochs) & (curves["poison_fraction"] == fraction)]
            if not heads.empty:
                _head_panel(head_ax, heads, fraction, colour)
        loss_ax.set_title(f"networks, {n_epochs} epoch{'' if n_epochs == 1 else 's'}")
        head_ax.set_title(
            f"each network's last layer, {n_epochs} epoch{'' if n_epochs == 1 else 's'}"
        )
        for ax in (loss_ax, acc_ax):
            ax.set_xscale("symlog", linthresh=_LINEAR_BELOW)
            ax.set_xlim(left=0)
            ax.set_xlabel("beta (poison weight)")
        acc_ax.set_ylim(-0.02, 1.02)
        head_ax.set_xscale("log")
        head_ax.set_ylim(bottom=0)
        head_ax.set_xlabel("beta (poison weight), log scale")
    axes[0, 0].set_ylabel("network cross-entropy")
    axes[1, 0].set_ylabel("network accuracy")
    axes[2, 0].set_ylabel("head backdoor cross-entropy")
    for row in range(3):
        axes[row, -1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=6.5)
    fig.suptitle(_suptitle(arch, summary, ranking), fontsize=8)
    return fig


def _read(results_dir: Path, name: str) -> pd.DataFrame:
    path = results_dir / name
    if not path.is_file():
        raise FileNotFoundError(
            f"no {name} in {results_dir} (the network driver writes it after its grid)"
        )
    return pd.read_csv(path)


def plot_network_curves(results_dir: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Draw F8 for every architecture of ``results_dir/summary.csv``.

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
    summary, curves = (_read(results_dir, name) for name in _TABLES)
    rank_path = results_dir / "head_slope_rank.csv"
    ranking = pd.read_csv(rank_path) if rank_path.is_file() else None
    out_dir = results_dir / "figures"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with mpl.rc_context(rc=dict(STYLE)):
        for arch in sorted(summary["arch"].unique()):
            fig = _draw_arch(
                summary[summary["arch"] == arch], curves[curves["arch"] == arch], ranking, arch
            )
            written += save_figure(fig, out_dir / f"nn_curves_{arch}", formats)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: draw F8 from a results folder."""
    parser = argparse.ArgumentParser(
        prog="python -m backdoor_curves.plots.network", description="Draw figure F8."
    )
    parser.add_argument("results_dir", help="folder written by the network driver")
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
