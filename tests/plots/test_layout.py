"""The hand layout of the F2 and F6 figures: panels fitted to their tick labels, no engine."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from backdoor_curves import plots
from backdoor_curves.plots import curves, deviation
from backdoor_curves.plots.layout import PanelGrid, set_panel_title, ytick_label_width
from backdoor_curves.plots.registry import split_columns


def test_ytick_label_width_counts_the_widest_visible_label() -> None:
    grid = PanelGrid(n_rows=1, n_cols=2, panel=(2.0, 1.5), inner_yticks=True)
    _, axes = grid.figure()
    axes[0, 0].set_ylim(0, 1)  # 0.0, 0.2, ..., 1.0: three characters
    axes[0, 1].set_ylim(0, 20000)  # 0, 5000, ..., 20000: five characters
    assert ytick_label_width(axes[0, :1]) == pytest.approx(3 * 0.075)
    assert ytick_label_width(axes.flat) == pytest.approx(5 * 0.075)
    axes[0, 1].set_visible(False)
    assert ytick_label_width(axes.flat) == pytest.approx(3 * 0.075)


def test_fit_places_the_panels_as_a_grid_made_with_those_margins() -> None:
    guess = PanelGrid(n_rows=2, n_cols=3, panel=(2.0, 1.5), title_lines=2, inner_yticks=True)
    fitted = replace(guess, ytick_width=0.6)
    fig, axes = guess.figure()
    fitted.fit(fig, axes)
    reference, reference_axes = fitted.figure()
    np.testing.assert_allclose(fig.get_size_inches(), fitted.size)
    assert fitted.size[0] > guess.size[0]
    for ax, expected in zip(axes.flat, reference_axes.flat, strict=True):
        np.testing.assert_allclose(ax.get_position().bounds, expected.get_position().bounds)
    # Panels keep their size in inches.
    width, height = fig.get_size_inches()
    bounds = axes[0, 0].get_position().bounds
    assert (bounds[2] * width, bounds[3] * height) == pytest.approx(guess.panel)


def labelled(kind: str) -> pd.DataFrame:
    """A curves or deviation table of one linear SVM: two lambdas, two p, two seeds."""
    rows = []
    for lam, p, seed, beta in itertools.product((10.0, 0.1), (0.1, 0.2), (1, 2), (0.0, 0.5, 1.0)):
        rows.append(
            {
                **{"dataset": "mnist", "pair": "7-1", "trigger": "badnet", "trigger_size": 3.0},
                **{"trigger_eps": np.nan, "clf": "svm", "C": 1 / lam, "gamma": np.nan},
                **{"lambda": lam, "poison_fraction": p, "seed": seed, "beta": beta},
                **{"clean_loss": 0.1, "backdoor_loss": 1 - p * beta, "slope_if": -p},
                **{"nu": 0.1 * beta, "rho": (1 + beta) * 1e4 / lam, "backdoor_acc": p * beta},
            }
        )
    return plots.with_labels(pd.DataFrame(rows))


def test_curve_and_deviation_figures_have_no_layout_engine_and_keep_their_margins() -> None:
    rows = labelled("curves")
    figures = [
        curves._curve_figure(rows, curves._p_colours(rows), "title\nsecond line"),
        deviation._deviation_figure(labelled("deviation"), "title\nsecond line"),
    ]
    for figure in figures:
        assert figure.get_layout_engine() is None
        width, _ = figure.get_size_inches()
        lefts = [ax.get_position().x0 * width for ax in figure.axes if ax.get_visible()]
        # Room left of each panel for its tick labels (and the y label of the first).
        widest = ytick_label_width(figure.axes)
        assert min(lefts) > widest + 0.1
    # F2: the legend and the breakpoint key below the panels, the title above them.
    assert len(figures[0].legends) == 1
    assert [text.get_text() for text in figures[0].texts] == ["second line", "title"]


def _line_centres(fig) -> list[float]:
    """Row of the ink centre of each line of text above the panels, drawn on the Agg canvas."""
    fig.canvas.draw()
    ink = 255.0 - np.asarray(fig.canvas.buffer_rgba())[..., :3].mean(axis=-1)
    top = int(fig.bbox.height - fig.axes[0].get_window_extent().y1) - 2
    rows = ink[:top].sum(axis=1)
    centres, band = [], []
    for row, weight in enumerate(rows):
        if weight > 0:
            band.append(row)
        elif band:
            centres.append(float(np.average(band, weights=rows[band])))
            band = []
    return centres


def test_titles_of_several_lines_are_one_text_per_line_where_matplotlib_puts_the_lines(
    tmp_path,
) -> None:
    grid = PanelGrid(n_rows=1, n_cols=1, panel=(2.0, 1.5), title_lines=2, panel_title_lines=2)
    with plots.figure_style():
        fig, axes = grid.figure()
        set_panel_title(axes[0, 0], "Linear SVM\nSpearman = 0.9")
        grid.add_title(fig, "RBF SVM\nmnist 7-1")
        ax = axes[0, 0]
        assert ax.get_title() == "Spearman = 0.9"
        assert [text.get_text() for text in ax.texts] == ["Linear SVM"]
        assert [text.get_text() for text in fig.texts] == ["mnist 7-1", "RBF SVM"]
        # Reference: the same titles as texts of two lines, laid out by matplotlib.
        reference, reference_axes = grid.figure()
        reference_axes[0, 0].set_title("Linear SVM\nSpearman = 0.9")
        reference.suptitle("RBF SVM\nmnist 7-1", y=1 - 0.08 / grid.size[1], va="top")
        # The four lines where matplotlib puts them, to under a pixel at 150 dpi.
        ours, theirs = _line_centres(fig), _line_centres(reference)
        assert len(ours) == len(theirs) == 4
        np.testing.assert_allclose(ours, theirs, atol=0.75)
        fig, axes = grid.figure()
        set_panel_title(axes[0, 0], "Logistic classifier\nSpearman = 0.9")
        grid.add_title(fig, "Ridge classifier\nmnist 7-1")
        pdf = plots.save_figure(fig, tmp_path / "titles", ["pdf"])[0]
    # Every line is drawn without ligatures ("fi"): one font subset.
    assert pdf.read_bytes().count(b"/Subtype /Type0") == 1


def test_curve_and_deviation_figures_are_drawn_per_pair() -> None:
    # Each pair's figures are one task of draw_figures, so the pairs share the cores.
    assert split_columns(plots.plot_curve_figures) == ("dataset", "pair")
    assert split_columns(plots.plot_deviation_figures) == ("dataset", "pair")
