"""F7 and the explanation summary read on their own: colour bars, per-row targets, legends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colorbar import Colorbar
from matplotlib.lines import Line2D

from backdoor_curves.plots.explanations import (
    EXPLANATION_COLUMNS,
    GRADIENT_PERCENTILE,
    examples_figure,
    shares_figure,
)
from backdoor_curves.plots.style import figure_style

N_SHOW, K, SIDE = 3, 2, 12


def examples(targets=(1, 0, 0)) -> dict[str, np.ndarray]:
    """Arrays of an examples file: 2 C x 2 betas x N_SHOW images, a 2x2 trigger."""
    rng = np.random.default_rng(0)
    mask = np.zeros((1, SIDE, SIDE), dtype=bool)
    mask[:, -2:, -2:] = True
    gradient = rng.normal(size=(2, 2, N_SHOW, 1, SIDE, SIDE))
    gradient[1, 1][..., -1, -1] = 50.0  # a trigger pixel dominates the poisoned model
    return {
        "gradient": gradient,
        "images": rng.uniform(size=(N_SHOW, 1, SIDE, SIDE)),
        "mask": mask,
        "top": np.zeros((2, 2, N_SHOW, K), dtype=int),
        "top_influence": np.ones((2, 2, N_SHOW, K)),
        "top_images": rng.uniform(size=(2, 2, N_SHOW, K, 1, SIDE, SIDE)),
        "top_labels": np.zeros((2, 2, N_SHOW, K), dtype=int),
        "top_is_poison": np.zeros((2, 2, N_SHOW, K), dtype=bool),
        "target_labels": np.array(targets),
        "backdoor_acc": np.array([[0.1, 0.2], [0.1, 0.9]]),
        "C": np.array([1e-3, 1e3]),
        "clf": np.array("logistic"),
        "pair": np.array("7-1"),
        "seed": np.array(1),
    }


def colorbars(fig) -> list[Colorbar]:
    return [ax._colorbar for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]


def gradient_images(fig):
    return [
        ax.images[0] for ax in fig.axes if ax.images and ax.images[0].get_cmap().name == "RdBu_r"
    ]


def test_f7_has_one_colour_bar_per_row_on_a_shared_symmetric_scale():
    ex = examples()
    with figure_style():
        fig = examples_figure(ex)
    bars = colorbars(fig)
    assert len(bars) == 2 * N_SHOW
    maps = gradient_images(fig)
    assert len(maps) == 2 * 2 * N_SHOW
    for row, (r, i) in enumerate((r, i) for r in range(2) for i in range(N_SHOW)):
        clean, poisoned = maps[2 * row : 2 * row + 2]
        assert clean.get_clim() == poisoned.get_clim()  # one scale per row
        low, high = clean.get_clim()
        heats = np.abs(ex["gradient"][r, :, i].sum(axis=1))
        assert high == -low == pytest.approx(np.percentile(heats, GRADIENT_PERCENTILE))
        # A bar has arrows exactly when some value of its row lies beyond the scale.
        assert bars[row].extend == ("both" if heats.max() > high else "neither")
        assert bars[row].mappable is poisoned
    # The poisoned model's dominant trigger pixels at the weak regularisation do not wash out
    # the rest of its row: the scale ends well below them.
    assert max(bar.vmax for bar in bars) < 50.0


def test_f7_image_header_follows_each_rows_target():
    with figure_style():
        fig = examples_figure(examples(targets=(1, 0, 1)))
    titles = [ax.get_title() for ax in fig.axes if ax.get_title().startswith("triggered")]
    assert titles == [f"triggered, target {t}" for t in (1, 0, 1) * 2]


def share_rows() -> pd.DataFrame:
    rows = []
    for clf in ("svm", "logistic"):
        for C in (0.01, 1.0, 100.0):
            for beta in (0.0, 1.0):
                rows.append({
                    "dataset": "mnist", "data_source": "generated", "pair": "7-1", "n_train": 10,
                    "n_test": 5, "trigger": "badnet", "trigger_size": 3, "trigger_eps": np.nan,
                    "clf": clf, "C": C, "gamma": np.nan, "seed": 1, "beta": beta,
                    "n_images": 4, "k": 7, "backdoor_acc": 0.5 * beta, "trigger_share": 0.2,
                    "area_share": 0.011, "poison_share": 0.4, "poison_fraction_train": 0.1,
                })  # fmt: skip
    return pd.DataFrame(rows, columns=list(EXPLANATION_COLUMNS))


def test_share_summary_legend_names_the_poison_fraction_line_and_every_line():
    with figure_style():
        fig = shares_figure(share_rows())
    (legend,) = fig.legends
    labels = [text.get_text() for text in legend.get_texts()]
    assert any(label.startswith("poison fraction") for label in labels)
    assert any(label.startswith("trigger area") for label in labels)
    # Every drawn line of every panel is in the legend under its own name, and the two
    # reference levels differ in style.
    styles = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            assert not line.get_label().startswith("_"), line
            assert line.get_label() in labels
            styles[line.get_label()] = line.get_linestyle()
    poison = next(label for label in labels if label.startswith("poison fraction"))
    area = next(label for label in labels if label.startswith("trigger area"))
    assert styles[poison] != styles[area]
    bottom_levels = [
        line for ax in fig.axes[len(fig.axes) // 2 :] for line in ax.get_lines()
        if isinstance(line, Line2D) and line.get_label() == poison
    ]  # fmt: skip
    assert bottom_levels and all(np.allclose(line.get_ydata(), 0.1) for line in bottom_levels)
