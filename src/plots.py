"""Figures from the result tables (the separate plotting step of SPEC section 6).

Run as ``python -m backdoor_curves.plots RESULTS_DIR [--only KIND] [--format pdf png]``.
The step reads the tidy CSV tables that the experiment drivers wrote under ``RESULTS_DIR`` and
never recomputes an experiment: every plotted number is a table value, a mean over seeds of table
values, or a rank correlation of table columns. Figures are written, as PDF and PNG, to
``RESULTS_DIR/figures/``.

Table locations (each run folder holds ``results.csv`` and ``manifest.json``):

- ``slope/**/results.csv``: learning-slope sweeps (SPEC 5.1) -> F3/F5 accuracy vs normalised slope
  ``slope_<dataset>_<pair>_<trigger>``, F4 RBF heat maps ``rbf_heatmap_<dataset>_<pair>_<trigger>``
  and one overview per dataset and trigger ``slope_overview_<dataset>_<trigger>``.
- ``curves/**/results.csv``: learning curves (SPEC 5.2) -> F2 ``curves_<dataset>_<pair>_<model>``.
- ``deviation/**/results.csv``: parameter deviation (SPEC 5.3) -> F6 ``deviation_<dataset>_<pair>``.

A stem gains a ``_<trigger>`` part (curves, deviation) or a ``_p<p>`` part (slope figures) only when
the table holds several triggers or poison fractions for it, so that no figure overwrites another.

Matplotlib is used headless: figures are ``matplotlib.figure.Figure`` objects on an Agg canvas
(never registered with pyplot, so nothing stays open), styled inside ``matplotlib.rc_context``.
Importing this module changes no global matplotlib state.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator
from scipy.stats import spearmanr

if TYPE_CHECKING:  # matplotlib.typing.RcKeyType only exists in recent matplotlib versions.
    from matplotlib.typing import RcKeyType

__all__ = [
    "FORMATS",
    "TABLE_KINDS",
    "build_parser",
    "draw_figures",
    "format_value",
    "load_requested_tables",
    "load_tables",
    "main",
    "make_figures",
    "model_tag",
    "plot_curve_figures",
    "plot_deviation_figures",
    "plot_rbf_heatmaps",
    "plot_slope_figures",
    "plot_slope_overview",
    "save_figure",
    "tangent_beta_range",
    "trigger_label",
]

TABLE_KINDS = ("slope", "curves", "deviation")
FORMATS = ("pdf", "png")
CLASSIFIERS = ("svm", "logistic", "ridge", "svm-rbf")
TRIGGERS = ("badnet", "invisible")

CLASSIFIER_NAMES = MappingProxyType(
    {
        "svm": "Linear SVM",
        "logistic": "Logistic classifier",
        "ridge": "Ridge classifier",
        "svm-rbf": "RBF SVM",
    }
)
# The loss whose test mean the curves show (the model's own training loss).
CLASSIFIER_LOSSES = MappingProxyType(
    {"svm": "hinge", "logistic": "logistic", "ridge": "squared", "svm-rbf": "hinge"}
)
# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
CLASSIFIER_COLOURS = MappingProxyType(
    {"svm": "#0072B2", "logistic": "#E69F00", "ridge": "#009E73", "svm-rbf": "#D55E00"}
)
LAMBDA_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
ACCURACY_CMAP = "viridis"
C_CMAP = "viridis"
P_CMAP = "plasma"

TEXT_COLUMNS = ("dataset", "data_source", "pair", "trigger", "clf", "status")
_COMMON = ("dataset", "pair", "trigger", "trigger_size", "trigger_eps", "clf", "C", "gamma")
REQUIRED_COLUMNS = MappingProxyType(
    {
        "slope": (*_COMMON, "seed", "poison_fraction", "clean_acc", "backdoor_acc", "theta"),
        "curves": (
            *_COMMON,
            "lambda",
            "poison_fraction",
            "seed",
            "beta",
            "clean_loss",
            "backdoor_loss",
            "slope_if",
        ),
        "deviation": (
            *_COMMON,
            "lambda",
            "poison_fraction",
            "seed",
            "beta",
            "nu",
            "rho",
            "backdoor_acc",
        ),
    }
)

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
    }
)
MIN_FIGURE_WIDTH = 5.6
# x-range of a theta panel with nothing to draw (theta lies in (0, 1) when drawable).
_EMPTY_THETA_RANGE = (1e-3, 1.0)
# Drop the creation date from PDFs so that the same tables give the same bytes.
_SAVE_METADATA = MappingProxyType({"pdf": {"CreationDate": None}, "png": {}})


# ----------------------------------------------------------------------------------- tables


def load_tables(results_dir: Path | str) -> dict[str, pd.DataFrame]:
    """Read and concatenate every result table under ``results_dir``.

    Parameters
    ----------
    results_dir : path
        Folder holding ``slope/``, ``curves/`` and/or ``deviation/`` with one ``results.csv`` per
        run folder at any depth.

    Returns
    -------
    dict of str to pandas.DataFrame
        One concatenated table per kind in ``TABLE_KINDS`` that has at least one row; kinds
        without tables are absent. Text columns (``dataset``, ``pair``, ``trigger``, ``clf``,
        ``status``...) are read as strings, so a pair such as ``"7-1"`` stays text.

    Raises
    ------
    FileNotFoundError
        If ``results_dir`` is not a directory.
    ValueError
        If a table is unreadable or lacks a column the figures need.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(
            f"results directory {str(results_dir)!r} does not exist; pass the folder that holds "
            f"the {', '.join(TABLE_KINDS)} result tables (e.g. results/mnist)"
        )
    tables = {}
    for kind in TABLE_KINDS:
        paths = sorted((results_dir / kind).glob("**/results.csv"))
        frames = [frame for frame in (_read_table(p, kind) for p in paths) if not frame.empty]
        if frames:
            tables[kind] = pd.concat(frames, ignore_index=True)
    return tables


def _read_table(path: Path, kind: str) -> pd.DataFrame:
    """Read one ``results.csv`` of the given kind and check its columns."""
    try:
        header = pd.read_csv(path, nrows=0).columns
        dtypes = {name: "str" for name in TEXT_COLUMNS if name in header}
        table = pd.read_csv(path, dtype=dtypes)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read result table {str(path)!r}: {error}") from error
    missing = [name for name in REQUIRED_COLUMNS[kind] if name not in table.columns]
    if missing:
        raise ValueError(
            f"{kind} table {str(path)!r} lacks the columns {missing}; "
            f"the {kind} figures need {list(REQUIRED_COLUMNS[kind])}"
        )
    if table.empty:
        # A header-only table (a run that has not finished a cell yet) holds nothing to check.
        return table
    required = table[list(REQUIRED_COLUMNS[kind])]
    not_numeric = [
        name
        for name in required.columns
        if name not in TEXT_COLUMNS and not pd.api.types.is_numeric_dtype(required[name])
    ]
    if not_numeric:
        raise ValueError(f"{kind} table {str(path)!r} has non-numeric values in {not_numeric}")
    try:
        _with_labels(
            required.drop_duplicates(["trigger", "trigger_size", "trigger_eps", "clf", "gamma"])
        )
    except ValueError as error:
        raise ValueError(f"{kind} table {str(path)!r}: {error}") from error
    return table


# ----------------------------------------------------------------------------------- labels


def format_value(value: float, digits: int = 3) -> str:
    """Format a grid value compactly: ``0.0005``, ``2.15``, ``100``, ``1e3``, ``5e-5``."""
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def trigger_label(trigger: str, size: float, eps: float) -> tuple[str, str]:
    """Return the title label and the file-name part of a trigger.

    Parameters
    ----------
    trigger : {"badnet", "invisible"}
        Trigger kind.
    size : float
        Side of the square BadNet patch in pixels (ignored, may be NaN, for ``"invisible"``).
    eps : float
        L-infinity amplitude of the invisible trigger in [0, 1] pixel units (ignored, may be NaN,
        for ``"badnet"``); shown as ``round(eps * 255)/255``.

    Returns
    -------
    label, tag : str
        For example ``("badnet 3x3", "badnet3")`` or ``("invisible 75/255", "invisible75")``.

    Raises
    ------
    ValueError
        If ``trigger`` is unknown or its size/amplitude is missing.
    """
    if trigger == "badnet":
        if not np.isfinite(size):
            raise ValueError(f"badnet trigger rows need a finite trigger_size, got {size!r}")
        side = int(round(size))
        return f"badnet {side}x{side}", f"badnet{side}"
    if trigger == "invisible":
        if not np.isfinite(eps):
            raise ValueError(f"invisible trigger rows need a finite trigger_eps, got {eps!r}")
        level = int(round(eps * 255))
        return f"invisible {level}/255", f"invisible{level}"
    raise ValueError(f"unknown trigger {trigger!r}; valid triggers are {list(TRIGGERS)}")


def model_tag(clf: str, gamma: float) -> str:
    """Return the file-name part of a model: the classifier, plus ``_g<gamma>`` for ``svm-rbf``.

    Raises
    ------
    ValueError
        If ``clf`` is unknown, or it is ``"svm-rbf"`` and ``gamma`` is not finite and positive.
    """
    _check_classifier(clf)
    if clf == "svm-rbf" and not (np.isfinite(gamma) and gamma > 0):
        raise ValueError(f"svm-rbf rows need a finite positive gamma, got {gamma!r}")
    return f"{clf}_g{gamma:g}" if clf == "svm-rbf" else clf


def _model_label(clf: str, gamma: float) -> str:
    """Return the title label of a model, e.g. ``"RBF SVM, γ = 0.0005"``."""
    _check_classifier(clf)
    name = CLASSIFIER_NAMES[clf]
    return f"{name}, γ = {format_value(gamma)}" if clf == "svm-rbf" else name


def _check_classifier(clf: str) -> None:
    if clf not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {clf!r}; valid classifiers are {list(CLASSIFIERS)}")


def _with_labels(table: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``table`` with ``trigger_label``, ``trigger_tag`` and ``model`` columns."""
    labels = [
        trigger_label(t, s, e)
        for t, s, e in zip(
            table["trigger"], table["trigger_size"], table["trigger_eps"], strict=True
        )
    ]
    out = table.copy()
    out["trigger_label"] = [label for label, _ in labels]
    out["trigger_tag"] = [tag for _, tag in labels]
    out["model"] = [model_tag(c, g) for c, g in zip(table["clf"], table["gamma"], strict=True)]
    return out


def _groups(table: pd.DataFrame, keys: list[str]) -> Iterator[tuple[tuple, pd.DataFrame]]:
    """Yield ``(key values, rows)`` for each combination of ``keys`` (sorted, NaN-free keys)."""
    for values, rows in table.groupby(keys, sort=True):
        yield tuple(values), rows


def _optional_part(rows: pd.DataFrame, column: str, part: str) -> str:
    """Return ``"_" + part`` when ``rows`` hold several values of ``column``, else ``""``."""
    return f"_{part}" if rows[column].nunique() > 1 else ""


def _seed_note(rows: pd.DataFrame) -> str:
    n_seeds = rows["seed"].nunique()
    return "1 seed" if n_seeds == 1 else f"mean over {n_seeds} seeds"


# ----------------------------------------------------------------------------------- saving


@contextmanager
def _style() -> Iterator[None]:
    """Apply the figure style for the duration of the block only."""
    with mpl.rc_context(rc=dict(STYLE)):
        yield


def _new_figure(width: float, height: float) -> Figure:
    """Return a constrained-layout figure on an Agg canvas (not registered with pyplot).

    The width is at least ``MIN_FIGURE_WIDTH`` inches so that titles and the figure legend of a
    one-panel figure still fit.
    """
    fig = Figure(figsize=(max(width, MIN_FIGURE_WIDTH), height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``fig`` as ``<stem>.<format>`` for every format, each file atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to save.
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
        If a format is not one of ``FORMATS``.
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
        # The first save placed the axes (positions are in figure fractions, so they hold for
        # every format); keeping them skips the costly constrained-layout pass next time.
        fig.set_layout_engine("none")
    fig.clear()
    return written


# ----------------------------------------------------------------------------------- slope (F3)


def _slope_panels(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Split slope rows into panels: linear classifiers first, then RBF SVM per gamma."""
    panels = []
    for clf in CLASSIFIERS:
        clf_rows = rows[rows["clf"] == clf]
        if clf_rows.empty:
            continue
        if clf == "svm-rbf":
            for gamma, gamma_rows in clf_rows.groupby("gamma", sort=True):
                panels.append((_model_label(clf, gamma), gamma_rows))
        else:
            panels.append((_model_label(clf, np.nan), clf_rows))
    return panels


def _drawable_theta(rows: pd.DataFrame) -> pd.Series:
    """Mask of rows whose theta can be drawn on a log axis (finite and positive)."""
    return np.isfinite(rows["theta"]) & (rows["theta"] > 0)


def _spearman_text(rows: pd.DataFrame) -> str:
    """Spearman correlation between theta and BA over the rows where both are finite."""
    usable = rows[np.isfinite(rows["theta"]) & np.isfinite(rows["backdoor_acc"])]
    if len(usable) < 3 or usable["theta"].nunique() < 2 or usable["backdoor_acc"].nunique() < 2:
        return "Spearman(θ, BA) n/a"
    rho = spearmanr(usable["theta"], usable["backdoor_acc"]).statistic
    return f"Spearman(θ, BA) = {rho:.2f}"


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
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    if theta.empty:
        # A log axis needs positive limits even when there is nothing to draw.
        ax.set_xlim(*_EMPTY_THETA_RANGE)
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
    _set_log_theta_axis(ax, drawn["theta"])
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(f"{title}\n{_spearman_text(rows)}")
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


def _accuracy_legend_handles(*, flagged: bool = False) -> list[Line2D]:
    """Legend of the CA/BA markers (and of the red ring of flagged cells if ``flagged``)."""
    handles = [
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            color="0.4",
            markeredgecolor="0.15",
            label="BA (backdoor test accuracy)",
        ),
        Line2D(
            [],
            [],
            ls="",
            marker="s",
            color="0.4",
            markerfacecolor="none",
            label="CA (clean test accuracy)",
        ),
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            markersize=8,
            markerfacecolor="none",
            markeredgecolor="tab:red",
            label='status not "ok" (see the status column)',
        ),
    ]
    return handles if flagged else handles[:2]


def _slope_figure(rows: pd.DataFrame, title: str) -> Figure:
    panels = _slope_panels(rows)
    n_cols = min(4, len(panels))
    n_rows = math.ceil(len(panels) / n_cols)
    fig = _new_figure(2.7 * n_cols + 1.0, 2.7 * n_rows + 0.9)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharey=True).ravel()
    log_c = np.log10(rows["C"].to_numpy())
    norm = Normalize(vmin=log_c.min(), vmax=log_c.max())
    cmap = mpl.colormaps[C_CMAP]
    for ax, (panel_title, panel_rows) in zip(axes, panels, strict=False):
        _draw_slope_panel(ax, panel_rows, panel_title, cmap, norm)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    for ax in axes[::n_cols]:
        ax.set_ylabel("accuracy")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), label="log10 C", shrink=0.9)
    fig.legend(handles=_accuracy_legend_handles(flagged=True), loc="outside lower center", ncols=3)
    fig.suptitle(title)
    return fig


def _slope_title(values: tuple, rows: pd.DataFrame) -> str:
    dataset, pair, _, p = values
    trigger = rows["trigger_label"].iloc[0]
    return f"{dataset} {pair}, {trigger}, p = {format_value(p)}\naccuracy vs normalised slope θ"


def plot_slope_figures(
    table: pd.DataFrame, out_dir: Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Draw F3/F5: accuracy vs normalised learning slope, one figure per (pair, trigger).

    One panel per classifier (RBF SVM: one per gamma); x = theta on a log axis (rows with theta
    NaN or <= 0 cannot be drawn and are counted under the panel), y = clean accuracy (hollow
    squares) and backdoor accuracy (filled circles), one marker per (C, seed), coloured by
    log10 C. Panel titles give the Spearman correlation between theta and BA.

    Parameters
    ----------
    table : pandas.DataFrame
        Slope table (columns of ``REQUIRED_COLUMNS["slope"]``).
    out_dir : pathlib.Path
        Existing folder for the figures.
    formats : sequence of {"pdf", "png"}
        File formats to write.

    Returns
    -------
    list of pathlib.Path
        The written files.
    """
    table = _with_labels(table)
    written = []
    with _style():
        for values, p_part, rows in _slope_groups(table):
            dataset, pair, tag, _ = values
            stem = f"slope_{dataset}_{pair}_{tag}{p_part}"
            fig = _slope_figure(rows, _slope_title(values, rows))
            written += save_figure(fig, out_dir / stem, formats)
    return written


def _slope_groups(table: pd.DataFrame) -> Iterator[tuple[tuple, str, pd.DataFrame]]:
    """Yield ``((dataset, pair, trigger tag, p), stem suffix, rows)`` of a labelled slope table.

    The stem suffix is ``_p<p>`` when the (dataset, pair, trigger) holds several poison
    fractions, else empty.
    """
    for values, rows in _groups(table, ["dataset", "pair", "trigger_tag"]):
        for (p,), p_rows in _groups(rows, ["poison_fraction"]):
            yield (*values, p), _optional_part(rows, "poison_fraction", f"p{p:g}"), p_rows


# ----------------------------------------------------------------------------------- heat maps (F4)


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


def plot_rbf_heatmaps(
    table: pd.DataFrame, out_dir: Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Draw F4: RBF-SVM clean and backdoor accuracy over (lambda, gamma), mean over seeds.

    Parameters
    ----------
    table : pandas.DataFrame
        Slope table; only ``clf == "svm-rbf"`` rows are used (no figure if there are none).
    out_dir : pathlib.Path
        Existing folder for the figures.
    formats : sequence of {"pdf", "png"}
        File formats to write.

    Returns
    -------
    list of pathlib.Path
        The written files.
    """
    rbf = table[table["clf"] == "svm-rbf"]
    if rbf.empty:
        return []
    written = []
    with _style():
        for (dataset, pair, tag, p), p_part, rows in _slope_groups(_with_labels(rbf)):
            clean, backdoor = (
                _accuracy_grid(rows, "clean_acc"),
                _accuracy_grid(rows, "backdoor_acc"),
            )
            fig = _new_figure(2 * (0.55 * clean.shape[1] + 1.2) + 0.8, 0.42 * clean.shape[0] + 2.2)
            axes = fig.subplots(1, 2)
            _draw_heatmap(axes[0], clean, "clean accuracy (CA)")
            image = _draw_heatmap(axes[1], backdoor, "backdoor accuracy (BA)")
            fig.colorbar(image, ax=list(axes), label="accuracy", shrink=0.9)
            fig.suptitle(
                f"RBF SVM, {dataset} {pair}, {rows['trigger_label'].iloc[0]}, "
                f"p = {format_value(p)}\n{_seed_note(rows)}"
            )
            stem = f"rbf_heatmap_{dataset}_{pair}_{tag}{p_part}"
            written += save_figure(fig, out_dir / stem, formats)
    return written


# ----------------------------------------------------------------------------------- overview


def _draw_overview_panel(ax, rows: pd.DataFrame, clf: str) -> None:
    """BA (classifier colour) and CA (light) against theta on a log axis."""
    drawn = rows[_drawable_theta(rows)]
    colour = CLASSIFIER_COLOURS[clf]
    _scatter_accuracies(ax, drawn, colour, size=14, clean=(0.6, 0.35), backdoor_alpha=1.0)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-0.03, 1.03)


def plot_slope_overview(
    table: pd.DataFrame, out_dir: Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Draw one overview per (dataset, trigger): rows = pairs, columns = classifiers.

    Each panel shows BA (filled, classifier colour) and CA (light hollow squares) against theta
    on a log axis, pooling all C, seeds and (for the RBF SVM) gammas.

    Parameters
    ----------
    table : pandas.DataFrame
        Slope table.
    out_dir : pathlib.Path
        Existing folder for the figures.
    formats : sequence of {"pdf", "png"}
        File formats to write.

    Returns
    -------
    list of pathlib.Path
        The written files.
    """
    table = _with_labels(table)
    written = []
    with _style():
        for (dataset, tag), rows in _groups(table, ["dataset", "trigger_tag"]):
            fig = _overview_figure(rows, f"{dataset}, {rows['trigger_label'].iloc[0]}")
            written += save_figure(fig, out_dir / f"slope_overview_{dataset}_{tag}", formats)
    return written


def _overview_figure(rows: pd.DataFrame, title: str) -> Figure:
    pairs = sorted(rows["pair"].unique())
    clfs = [clf for clf in CLASSIFIERS if (rows["clf"] == clf).any()]
    fig = _new_figure(2.4 * len(clfs) + 0.4, 2.0 * len(pairs) + 1.0)
    # One theta scale for the whole figure, so that pairs and classifiers compare at a glance.
    axes = fig.subplots(len(pairs), len(clfs), squeeze=False, sharex=True, sharey=True)
    for i, pair in enumerate(pairs):
        for j, clf in enumerate(clfs):
            cell = rows[(rows["pair"] == pair) & (rows["clf"] == clf)]
            _draw_overview_panel(axes[i, j], cell, clf)
            axes[i, j].set_title(f"{CLASSIFIER_NAMES[clf]}, {pair}\n{_spearman_text(cell)}")
        axes[i, 0].set_ylabel("accuracy")
    n_dropped = int((~_drawable_theta(rows)).sum())
    if n_dropped == len(rows):
        # The x-axis is shared: fixing one panel's limits fixes them all.
        axes[0, 0].set_xlim(*_EMPTY_THETA_RANGE)
    for ax in axes[-1]:
        ax.set_xlabel("θ (log scale)")
    note = f"\n{n_dropped} of {len(rows)} runs not drawn (θ ≤ 0 or NaN)" if n_dropped else ""
    fig.suptitle(f"{title}: accuracy vs normalised slope θ\n(all C, seeds and γ){note}")
    fig.legend(handles=_accuracy_legend_handles(), loc="outside lower center", ncols=2)
    return fig


# ----------------------------------------------------------------------------------- curves (F2)


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


def _curve_means(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per (lambda, p, beta) of the losses and the influence slope."""
    columns = ["clean_loss", "backdoor_loss", "slope_if"]
    keys = ["lambda", "poison_fraction", "beta"]
    return rows.groupby(keys, sort=True)[columns].mean().reset_index()


def _p_colours(table: pd.DataFrame) -> dict[float, tuple]:
    """One colour per poison fraction, shared by every figure drawn from ``table``."""
    fractions = sorted(table["poison_fraction"].unique())
    cmap = mpl.colormaps[P_CMAP]
    positions = np.linspace(0.05, 0.75, len(fractions)) if len(fractions) > 1 else [0.4]
    return {p: cmap(x) for p, x in zip(fractions, positions, strict=True)}


def _draw_tangent(ax, curve: pd.DataFrame, colour) -> None:
    """Thin line for ``backdoor_loss(0) + slope_if * beta``, only where it stays in the panel."""
    at_zero = curve[curve["beta"] == 0]
    if at_zero.empty:
        return
    intercept, slope = at_zero["backdoor_loss"].iloc[0], at_zero["slope_if"].iloc[0]
    y_low, y_high = ax.get_ylim()
    span = tangent_beta_range(intercept, slope, curve["beta"].max(), y_low, y_high)
    if span is not None:
        betas = np.array(span)
        ax.plot(betas, intercept + slope * betas, color=colour, lw=0.8, alpha=0.9)


def _draw_curve_panel(ax, means: pd.DataFrame, colours: dict[float, tuple]) -> None:
    for p, curve in means.groupby("poison_fraction", sort=True):
        ax.plot(curve["beta"], curve["backdoor_loss"], color=colours[p], lw=1.8, marker="o", ms=2.5)
        ax.plot(curve["beta"], curve["clean_loss"], color=colours[p], lw=1.4, ls=":")
    # Fix the y-range from the curves so that the tangents are clipped to it, not widen it.
    ax.set_ylim(ax.get_ylim())
    for p, curve in means.groupby("poison_fraction", sort=True):
        _draw_tangent(ax, curve, colours[p])
    ax.set_xlabel("β (poison weight)")


def _curve_legend_handles(fractions: list[float], colours: dict[float, tuple]) -> list[Line2D]:
    """Legend entries laid out as two rows: the p colours, then the line-style key.

    Matplotlib fills legend columns top to bottom, so the two rows are interleaved column by
    column (short rows padded with blank entries); use ``ncols = len(handles) // 2``.
    """
    colour_row = [Line2D([], [], color=colours[p], lw=1.8, label=f"p = {p:g}") for p in fractions]
    style_row = [
        Line2D([], [], color="0.25", lw=1.8, label="backdoor test loss"),
        Line2D([], [], color="0.25", lw=1.4, ls=":", label="clean test loss"),
        Line2D([], [], color="0.25", lw=0.8, label="tangent at β = 0 (influence)"),
    ]
    n_cols = max(len(colour_row), len(style_row))
    blank = Line2D([], [], ls="", label=" ")
    colour_row += [blank] * (n_cols - len(colour_row))
    style_row += [blank] * (n_cols - len(style_row))
    return [handle for pair in zip(colour_row, style_row, strict=True) for handle in pair]


def _curve_figure(rows: pd.DataFrame, colours: dict[float, tuple], title: str) -> Figure:
    means = _curve_means(rows)
    lambdas = sorted(means["lambda"].unique(), reverse=True)
    fig = _new_figure(3.0 * len(lambdas) + 0.4, 3.4)
    axes = fig.subplots(1, len(lambdas), squeeze=False).ravel()
    for ax, lam in zip(axes, lambdas, strict=True):
        _draw_curve_panel(ax, means[means["lambda"] == lam], colours)
        ax.set_title(f"λ = {format_value(lam)}")
    clf = rows["clf"].iloc[0]
    axes[0].set_ylabel(f"mean test loss ({CLASSIFIER_LOSSES[clf]})")
    fractions = sorted(means["poison_fraction"].unique())
    handles = _curve_legend_handles(fractions, colours)
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles) // 2)
    fig.suptitle(title)
    return fig


def plot_curve_figures(
    table: pd.DataFrame, out_dir: Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Draw F2: backdoor and clean test loss vs beta, one figure per (dataset, pair, model).

    One panel per lambda, one colour per poison fraction p (the same colours in every figure);
    solid = backdoor test loss, dotted = clean test loss, both means over seeds; a thin line is
    the tangent at beta = 0, ``backdoor_loss(0) + slope_if * beta``, drawn only where it stays
    inside the panel's y-range.

    Parameters
    ----------
    table : pandas.DataFrame
        Curves table (columns of ``REQUIRED_COLUMNS["curves"]``).
    out_dir : pathlib.Path
        Existing folder for the figures.
    formats : sequence of {"pdf", "png"}
        File formats to write.

    Returns
    -------
    list of pathlib.Path
        The written files.
    """
    table = _with_labels(table)
    colours = _p_colours(table)
    written = []
    with _style():
        for (dataset, pair), pair_rows in _groups(table, ["dataset", "pair"]):
            for (tag, model), rows in _groups(pair_rows, ["trigger_tag", "model"]):
                label = _model_label(rows["clf"].iloc[0], rows["gamma"].iloc[0])
                title = (
                    f"{label}\n{dataset} {pair}, {rows['trigger_label'].iloc[0]}, "
                    f"{_seed_note(rows)}"
                )
                fig = _curve_figure(rows, colours, title)
                trigger_part = _optional_part(pair_rows, "trigger_tag", tag)
                stem = f"curves_{dataset}_{pair}_{model}{trigger_part}"
                written += save_figure(fig, out_dir / stem, formats)
    return written


# ----------------------------------------------------------------------------------- deviation (F6)


def _draw_deviation_panel(ax, rows: pd.DataFrame) -> None:
    """One nu-rho path per lambda (means over seeds), markers at the betas."""
    means = rows.groupby(["lambda", "beta"], sort=True)[["nu", "rho", "backdoor_acc"]].mean()
    lambdas = sorted(means.index.get_level_values("lambda").unique(), reverse=True)
    for k, lam in enumerate(lambdas):
        path = means.loc[lam]
        final_ba = path["backdoor_acc"].iloc[-1]
        colour = LAMBDA_COLOURS[k % len(LAMBDA_COLOURS)]
        ax.plot(
            path["nu"],
            path["rho"],
            color=colour,
            lw=1.2,
            marker="o",
            ms=3,
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


def _deviation_figure(rows: pd.DataFrame, title: str) -> Figure:
    models = sorted(rows["model"].unique(), key=_model_order)
    fractions = sorted(rows["poison_fraction"].unique())
    fig = _new_figure(3.0 * len(models) + 0.4, 2.9 * len(fractions) + 0.6)
    axes = fig.subplots(len(fractions), len(models), squeeze=False)
    for i, p in enumerate(fractions):
        for j, model in enumerate(models):
            cell = rows[(rows["poison_fraction"] == p) & (rows["model"] == model)]
            ax = axes[i, j]
            if cell.empty:
                ax.set_visible(False)
                continue
            _draw_deviation_panel(ax, cell)
            label = _model_label(cell["clf"].iloc[0], cell["gamma"].iloc[0])
            ax.set_title(f"{label}, p = {p:g}")
            ax.set_xlabel("ν = (1 − cos(w(0), w(β))) / 2")
        axes[i, 0].set_ylabel("ρ = ‖w(β)‖")
    fig.suptitle(title)
    return fig


def _model_order(model: str) -> tuple[int, float]:
    """Sort key of a model tag: the order of ``CLASSIFIERS``, then ascending RBF gamma."""
    clf, _, gamma = model.partition("_g")
    return CLASSIFIERS.index(clf), float(gamma or 0)


def plot_deviation_figures(
    table: pd.DataFrame, out_dir: Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Draw F6: parameter-deviation paths (nu, rho), one figure per (dataset, pair).

    One panel per model (rows per poison fraction when several), one path per lambda with a
    marker at each beta; the legend gives lambda and the backdoor accuracy at the largest beta
    (means over seeds).

    Parameters
    ----------
    table : pandas.DataFrame
        Deviation table (columns of ``REQUIRED_COLUMNS["deviation"]``).
    out_dir : pathlib.Path
        Existing folder for the figures.
    formats : sequence of {"pdf", "png"}
        File formats to write.

    Returns
    -------
    list of pathlib.Path
        The written files.
    """
    table = _with_labels(table)
    written = []
    with _style():
        for (dataset, pair), pair_rows in _groups(table, ["dataset", "pair"]):
            for (tag,), rows in _groups(pair_rows, ["trigger_tag"]):
                title = (
                    f"Parameter deviation\n{dataset} {pair}, {rows['trigger_label'].iloc[0]}, "
                    f"{_seed_note(rows)}"
                )
                fig = _deviation_figure(rows, title)
                trigger_part = _optional_part(pair_rows, "trigger_tag", tag)
                stem = f"deviation_{dataset}_{pair}{trigger_part}"
                written += save_figure(fig, out_dir / stem, formats)
    return written


# ----------------------------------------------------------------------------------- command line

PLOTTERS = MappingProxyType(
    {
        "slope": (plot_slope_figures, plot_rbf_heatmaps, plot_slope_overview),
        "curves": (plot_curve_figures,),
        "deviation": (plot_deviation_figures,),
    }
)


def load_requested_tables(
    results_dir: Path | str, kinds: Sequence[str] = TABLE_KINDS
) -> dict[str, pd.DataFrame]:
    """Load the tables of the requested kinds, insisting that at least one exists.

    Parameters
    ----------
    results_dir : path
        Folder holding the result tables (see ``load_tables``).
    kinds : sequence of {"slope", "curves", "deviation"}
        Table kinds wanted; kinds without tables are left out of the result.

    Returns
    -------
    dict of str to pandas.DataFrame
        The non-empty tables among ``kinds``.

    Raises
    ------
    FileNotFoundError
        If ``results_dir`` does not exist or holds no table of the requested kinds.
    ValueError
        If a kind is unknown or a table is malformed.
    """
    unknown = [kind for kind in kinds if kind not in TABLE_KINDS]
    if unknown:
        raise ValueError(f"unknown table kinds {unknown}; valid kinds are {list(TABLE_KINDS)}")
    tables = {kind: table for kind, table in load_tables(results_dir).items() if kind in kinds}
    if not tables:
        expected = ", ".join(f"{kind}/**/results.csv" for kind in kinds)
        raise FileNotFoundError(f"no result tables in {str(results_dir)!r} (looked for {expected})")
    return tables


def draw_figures(
    tables: dict[str, pd.DataFrame], out_dir: Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Draw every figure of the given tables into ``out_dir`` (created if needed).

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Tables keyed by kind, as returned by ``load_tables``.
    out_dir : pathlib.Path
        Folder for the figures.
    formats : sequence of {"pdf", "png"}
        File formats to write.

    Returns
    -------
    list of pathlib.Path
        The written files.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, table in tables.items():
        for plotter in PLOTTERS[kind]:
            written += plotter(table, out_dir, formats)
    return written


def make_figures(
    results_dir: Path | str,
    kinds: Sequence[str] = TABLE_KINDS,
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Draw every figure of the requested kinds from ``results_dir`` into ``results_dir/figures``.

    Combines ``load_requested_tables`` and ``draw_figures``; see them for the parameters and the
    errors raised. Returns the written files.
    """
    tables = load_requested_tables(results_dir, kinds)
    return draw_figures(tables, Path(results_dir) / "figures", formats)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of ``python -m backdoor_curves.plots``."""
    parser = argparse.ArgumentParser(
        prog="python -m backdoor_curves.plots",
        description="Draw the paper's figures from the result tables under RESULTS_DIR "
        "(never recomputes); writes RESULTS_DIR/figures/*.pdf and *.png.",
    )
    parser.add_argument(
        "results_dir",
        metavar="RESULTS_DIR",
        type=Path,
        help="folder with slope/, curves/ and/or deviation/ tables, e.g. results/mnist",
    )
    parser.add_argument(
        "--only", choices=TABLE_KINDS, help="draw only the figures of this table kind"
    )
    parser.add_argument(
        "--format",
        dest="formats",
        nargs="+",
        choices=FORMATS,
        default=list(FORMATS),
        help="file formats (default: pdf png)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not list the written figures")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the plotting step; return 0 on success and 2 when there is nothing valid to plot."""
    args = build_parser().parse_args(argv)
    kinds = (args.only,) if args.only else TABLE_KINDS
    try:
        tables = load_requested_tables(args.results_dir, kinds)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    formats = tuple(dict.fromkeys(args.formats))
    written = draw_figures(tables, args.results_dir / "figures", formats)
    if not args.quiet:
        for stem, suffixes in _by_stem(written).items():
            print(f"wrote {stem} [{', '.join(suffixes)}]")
    return 0


def _by_stem(paths: list[Path]) -> dict[Path, list[str]]:
    """Group written files by figure: ``{stem: [format, ...]}`` in writing order."""
    stems: dict[Path, list[str]] = {}
    for path in paths:
        stem, _, fmt = str(path).rpartition(".")
        stems.setdefault(Path(stem), []).append(fmt)
    return stems


if __name__ == "__main__":
    sys.exit(main())
