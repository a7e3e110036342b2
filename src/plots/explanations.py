"""Figures of the explanation runs (``docs/method.md``, "Explanations"), drawn from their files.

- F7 (``f7_<clf>``): for a few triggered test images, at a strong and a weak regularisation
  (the two ``C`` of the examples file): the image, the input gradient of the clean
  (``beta = 0``) and of the poisoned (``beta = 1``) model, and the poisoned model's top-k
  influential training points, poisons framed in red. Read from ``examples_<clf>.npz``.
- Summary (``explanation_shares``): the trigger share of ``|gradient|`` and the poison share of
  the top-k against ``C``, clean vs poisoned (mean over seeds, per-seed points), with the
  trigger's area share and the poison fraction as reference lines, and the poisoned model's
  backdoor accuracy. Read from ``results.csv``.

The summary is registered with the figure registry for the table kind ``explanations``
(:func:`plot_explanation_shares`), so ``python -m backdoor_curves.plots RESULTS_DIR`` draws one
``explanation_shares_<dataset>_<pair>_<trigger>`` per run of ``RESULTS_DIR/explanations/``.
F7 is drawn from the examples files, not from a table: the explanation scripts call
:func:`draw_explanation_figures` after their grid (F7 and the summary into ``RUN_DIR/figures``),
and redraw them without computing with ``--figures-only``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

from backdoor_curves.naming import format_value, model_label, trigger_tag
from backdoor_curves.plots.registry import register_figures
from backdoor_curves.plots.style import FORMATS, figure_style, new_figure, save_figure

__all__ = [
    "EXPLANATION_COLUMNS",
    "GRADIENT_PERCENTILE",
    "draw_explanation_figures",
    "examples_figure",
    "plot_examples",
    "plot_explanation_shares",
    "plot_shares",
    "shares_figure",
]

EXPLANATION_COLUMNS: tuple[str, ...] = (
    "dataset", "data_source", "pair", "n_train", "n_test", "trigger", "trigger_size",
    "trigger_eps", "clf", "C", "gamma", "seed", "beta", "n_images", "k", "backdoor_acc",
    "trigger_share", "area_share", "poison_share", "poison_fraction_train",
)  # fmt: skip
"""Columns the summary figure reads from an explanation table."""

GRADIENT_PERCENTILE = 99.0
"""Percentile of the absolute gradient at which F7's colour scale of a row ends (clipped)."""

_BETA_COLOURS = {0.0: "#0072B2", 1.0: "#D55E00"}
_BETA_NAMES = {0.0: "clean (beta=0)", 1.0: "poisoned (beta=1)"}
_REGULARISATION = ("stronger", "weaker")
# Reference levels of the summary's rows: (column, legend label, line style).
_AREA_LEVEL = ("area_share", "trigger area (share of pixels, top)", ":")
_POISON_LEVEL = ("poison_fraction_train", "poison fraction (of training set, bottom)", "-.")


def _image_grid_figure(width: float, height: float) -> Figure:
    """Return an Agg figure without a layout engine (image grids are placed by hand)."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _bare(ax: Axes) -> None:
    """No ticks, grid or frame: the panel is a picture."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _show_image(ax: Axes, image: np.ndarray) -> None:
    """Draw a (C, H, W) image in [0, 1] (grey for one channel)."""
    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        ax.imshow(np.clip(np.moveaxis(image, 0, -1), 0.0, 1.0))
    _bare(ax)


def _gradient_limit(heats: Sequence[np.ndarray]) -> float:
    """Symmetric colour limit shared by a row's gradient maps.

    The :data:`GRADIENT_PERCENTILE` percentile of ``|heat|`` over all the maps: a few trigger
    pixels with a gradient ten times the rest would otherwise leave every other pixel white.
    Falls back to the largest ``|heat|``, then to 1 for all-zero maps.
    """
    magnitudes = np.abs(np.concatenate([np.ravel(heat) for heat in heats]))
    for limit in (np.percentile(magnitudes, GRADIENT_PERCENTILE), magnitudes.max()):
        if np.isfinite(limit) and limit > 0:
            return float(limit)
    return 1.0


def _show_gradient(ax: Axes, heat: np.ndarray, mask: np.ndarray, limit: float) -> AxesImage:
    """Draw a channel-summed gradient (H, W) on the symmetric scale ``[-limit, limit]``."""
    image = ax.imshow(heat, cmap="RdBu_r", vmin=-limit, vmax=limit)
    _outline_trigger(ax, mask)
    _bare(ax)
    return image


def _gradient_colorbar(fig: Figure, cax: Axes, image: AxesImage, clipped: bool) -> None:
    """Colour bar of a row's gradient maps; arrows when values beyond the scale were clipped."""
    bar = fig.colorbar(image, cax=cax, extend="both" if clipped else "neither")
    bar.ax.tick_params(labelsize=5, length=2, pad=1)
    bar.ax.yaxis.get_offset_text().set_fontsize(5)


def _outline_trigger(ax: Axes, mask: np.ndarray) -> None:
    """Frame a rectangular (patch) trigger; a spread-out trigger (invisible grid) is not framed."""
    rows, cols = np.nonzero(mask.any(axis=0))
    if rows.size == 0:
        return
    height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    if height * width != rows.size or rows.size == mask.shape[1] * mask.shape[2]:
        return
    ax.add_patch(
        Rectangle(
            (cols.min() - 0.5, rows.min() - 0.5), width, height,
            fill=False, edgecolor="black", linewidth=0.8, linestyle="--",
        )
    )  # fmt: skip


def _show_top_point(ax: Axes, ex: Mapping[str, np.ndarray], r: int, i: int, j: int) -> None:
    """Draw the ``j``-th most influential training point of image ``i`` (poisoned model)."""
    influence = ex["top_influence"][r, 1, i, j]
    if not (np.isfinite(influence) and influence != 0):
        # Padding of a ranking with fewer than k influential points (an SVM without error
        # vectors), or an undefined influence: nothing to show.
        _bare(ax)
        ax.text(0.5, 0.5, "no\ninfluence", ha="center", va="center", fontsize=6)
        return
    _show_image(ax, ex["top_images"][r, 1, i, j])
    poison = bool(ex["top_is_poison"][r, 1, i, j])
    for spine in ax.spines.values():
        spine.set_visible(poison)
        spine.set_edgecolor("red")
        spine.set_linewidth(2.0)
    tag = "P" if poison else ""
    ax.set_title(f"{tag} y={ex['top_labels'][r, 1, i, j]}", fontsize=7, pad=2)


def _examples_title(ex: Mapping[str, np.ndarray], k: int) -> str:
    gamma = float(ex["gamma"]) if "gamma" in ex else None
    model = model_label(str(ex["clf"]), gamma)
    where = f"{ex['dataset']} " if "dataset" in ex else ""
    return (
        f"F7 {model}, {where}{ex['pair']}, seed {int(ex['seed'])}: gradients (trigger dashed) "
        f"and the poisoned model's top-{k} training points (red: poisons)"
    )


def plot_examples(
    examples_path: Path, out_dir: Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Draw F7 from one ``examples_<clf>.npz`` into ``out_dir``; return the written files.

    Per row (one image at one ``C``): the triggered image titled with its own target label,
    the clean and the poisoned model's input gradient (summed over channels) on one symmetric
    colour scale with its colour bar (:func:`_gradient_limit`), and the poisoned model's
    top-k training points.
    """
    with np.load(examples_path) as data:
        ex = {name: data[name] for name in data.files}
    return save_figure(examples_figure(ex), out_dir / f"f7_{ex['clf']}", formats)


def examples_figure(ex: Mapping[str, np.ndarray]) -> Figure:
    """Return F7 drawn from the arrays of an examples file (see :func:`plot_examples`)."""
    n_show, k = ex["top"].shape[2], ex["top"].shape[3]
    widths = [1.0, 1.0, 1.0, 0.12, 0.5] + [1.0] * k
    fig = _image_grid_figure(0.85 * sum(widths) + 0.6, 1.0 * 2 * n_show + 0.9)
    axes = fig.subplots(
        2 * n_show,
        len(widths),
        squeeze=False,
        gridspec_kw={
            "left": 0.07, "right": 0.99, "bottom": 0.02, "top": 0.86, "hspace": 0.5,
            "width_ratios": widths,
        },
    )  # fmt: skip
    first_top = len(widths) - k
    for r in range(2):
        for i in range(n_show):
            row = axes[r * n_show + i]
            _show_image(row[0], ex["images"][i])
            heats = [ex["gradient"][r, beta, i].sum(axis=0) for beta in (0, 1)]
            limit = _gradient_limit(heats)
            for column, heat in zip((1, 2), heats, strict=True):
                image = _show_gradient(row[column], heat, ex["mask"], limit)
            clipped = max(float(np.abs(heat).max()) for heat in heats) > limit
            _gradient_colorbar(fig, row[3], image, clipped)
            row[4].set_axis_off()
            for j in range(k):
                _show_top_point(row[first_top + j], ex, r, i, j)
            c, ba = ex["C"][r], ex["backdoor_acc"][r]
            row[0].set_ylabel(f"C={format_value(c)}\n({_REGULARISATION[r]})", fontsize=7)
            row[0].set_title(f"triggered, target {ex['target_labels'][i]}", fontsize=7)
            if i == 0:
                row[1].set_title(f"grad clean\nBA={ba[0]:.2f}", fontsize=7)
                row[2].set_title(f"grad poisoned\nBA={ba[1]:.2f}", fontsize=7)
    fig.suptitle(_examples_title(ex, k), fontsize=9)
    return fig


def _draw_share_panel(
    ax: Axes, rows: pd.DataFrame, column: str, reference: tuple[str, str, str]
) -> None:
    """One panel: ``column`` against C per beta, the level ``(column, label, style)``, BA."""
    for beta, colour in _BETA_COLOURS.items():
        part = rows[rows["beta"] == beta]
        ax.scatter(part["C"], part[column], s=6, color=colour, alpha=0.35, linewidths=0)
        means = part.groupby("C")[column].mean()
        ax.plot(means.index, means.to_numpy(), "-o", ms=3, color=colour, label=_BETA_NAMES[beta])
    level, level_label, level_style = reference
    ax.axhline(rows[level].mean(), color="black", linestyle=level_style, label=level_label)
    poisoned = rows[rows["beta"] == 1.0].groupby("C")["backdoor_acc"].mean()
    ax.plot(poisoned.index, poisoned.to_numpy(), "--", color="grey", lw=0.8, label="BA poisoned")
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)


def shares_figure(table: pd.DataFrame) -> Figure:
    """Draw the summary of one run's rows: both shares against ``C``, one column per model."""
    # NaN gamma (linear models) would make every row a distinct key: compare filled values.
    gamma_key = table["gamma"].fillna(-1.0)
    models = list(dict.fromkeys(zip(table["clf"], gamma_key, strict=True)))
    fig = new_figure(2.6 * len(models) + 0.4, 4.8)
    axes = fig.subplots(2, len(models), squeeze=False, sharey=True)
    for col, (clf, gamma) in enumerate(models):
        rows = table[(table["clf"] == clf) & (gamma_key == gamma)]
        title = model_label(str(clf), None if gamma < 0 else float(gamma))
        _draw_share_panel(axes[0, col], rows, "trigger_share", _AREA_LEVEL)
        axes[0, col].set_title(title)
        _draw_share_panel(axes[1, col], rows, "poison_share", _POISON_LEVEL)
        axes[1, col].set_xlabel("C (= 1 / lambda)")
    axes[0, 0].set_ylabel("|gradient| share in trigger")
    axes[1, 0].set_ylabel(f"poisons in top-{int(table['k'].iloc[0])}")
    named: dict[str, Any] = {}
    for ax in axes[:, 0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            named.setdefault(label, handle)
    fig.legend(list(named.values()), list(named), loc="outside lower center", ncol=3)
    first = table.iloc[0]
    fig.suptitle(
        f"Explanations, {first['dataset']} {first['pair']} ({first['data_source']}): "
        f"{int(first['n_images'])} triggered images per seed, {table['seed'].nunique()} seed(s)"
    )
    return fig


def plot_shares(results_path: Path, out_dir: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Draw the summary of one run's ``results.csv`` as ``out_dir/explanation_shares``."""
    table = pd.read_csv(results_path, dtype={"pair": "str"})
    if table.empty:
        raise ValueError(f"{results_path} has no rows to draw")
    return save_figure(shares_figure(table), out_dir / "explanation_shares", formats)


@register_figures("explanations", required_columns=EXPLANATION_COLUMNS)
def plot_explanation_shares(
    table: pd.DataFrame, out_dir: Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Draw one summary per run of the concatenated explanation tables (registered plotter).

    A run is a (dataset, pair, trigger, data source, subset sizes) group; the figure is
    ``explanation_shares_<dataset>_<pair>_<trigger tag>``, with ``_n<train>-<test>`` added when
    runs of other subset sizes share that name.
    """
    keys = ["dataset", "pair", "trigger", "trigger_size", "trigger_eps", "data_source"]
    keys += ["n_train", "n_test"]
    runs = list(table.groupby(keys, dropna=False, sort=True))
    stems = [_shares_stem(rows.iloc[0]) for _, rows in runs]
    written: list[Path] = []
    with figure_style():
        for (_, rows), stem in zip(runs, stems, strict=True):
            if stems.count(stem) > 1:
                stem += f"_n{int(rows['n_train'].iloc[0])}-{int(rows['n_test'].iloc[0])}"
            written += save_figure(shares_figure(rows), out_dir / stem, formats)
    return written


def _shares_stem(first: pd.Series) -> str:
    tag = trigger_tag(first["trigger"], first["trigger_size"], first["trigger_eps"])
    return f"explanation_shares_{first['dataset']}_{first['pair']}_{tag}"


def draw_explanation_figures(run_dir: Path | str, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Draw F7 for every ``examples_*.npz`` and the summary of ``results.csv`` in ``run_dir``.

    The figures go to ``run_dir/figures``.

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` holds neither a table nor examples.
    """
    run_dir = Path(run_dir)
    out_dir = run_dir / "figures"
    examples = sorted(run_dir.glob("examples_*.npz"))
    results = run_dir / "results.csv"
    if not examples and not results.exists():
        raise FileNotFoundError(f"{run_dir} holds no results.csv and no examples_*.npz")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with figure_style():
        for path in examples:
            written += plot_examples(path, out_dir, formats)
        if results.exists():
            written += plot_shares(results, out_dir, formats)
    return written
