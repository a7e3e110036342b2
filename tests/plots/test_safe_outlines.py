"""Safe cells read from safe_region.csv and outlined on the F4 heat maps and slope figures."""

from __future__ import annotations

from pathlib import Path

import matplotlib.patches
import numpy as np
import pandas as pd
from generated_data import SLOPE_CELLS, slope_rows
from matplotlib.colors import to_rgba

from backdoor_curves.analyses.safe_region import SafetyCriteria
from backdoor_curves.experiments.binary.safe_step import write_safe_regions
from backdoor_curves.plots import heatmap, read_table, slope, with_labels


def run_folder(tmp_path: Path) -> Path:
    rows = slope_rows("svm", SLOPE_CELLS)
    rows += slope_rows("svm-rbf", SLOPE_CELLS, gamma=0.01)
    folder = tmp_path / "7-1_badnet3"
    folder.mkdir()
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    return folder


def test_the_table_carries_the_region_flags(tmp_path: Path) -> None:
    folder = run_folder(tmp_path)
    assert "safe" not in read_table(folder / "results.csv", "slope").columns
    write_safe_regions([folder], SafetyCriteria(0.02, 0.1))
    table = read_table(folder / "results.csv", "slope")
    assert len(table) == 16
    # C = 0.1 and 1 are safe (two seeds each, two models).
    assert sorted(table.loc[table["safe"], "C"]) == [0.1] * 4 + [1.0] * 4
    assert set(table["safe_margin"]) == {0.02} and set(table["safe_level"]) == {0.1}


def outlines(figure) -> list:
    return [
        patch
        for ax in figure.axes
        for patch in ax.patches
        if isinstance(patch, matplotlib.patches.Rectangle) and patch.get_edgecolor()[0] > 0.5
    ]


def test_heat_maps_outline_the_safe_cells_on_both_maps(tmp_path: Path) -> None:
    folder = run_folder(tmp_path)
    write_safe_regions([folder], SafetyCriteria(0.02, 0.1))
    rows = with_labels(read_table(folder / "results.csv", "slope"))
    rbf = rows[rows["clf"] == "svm-rbf"]
    figure = heatmap._heatmap_figure(rbf, "title")
    assert len(outlines(figure)) == 2 * 2  # two safe cells, on the CA and the BA map
    assert "CA ≥ best − 0.02, BA ≤ 0.1" in figure.texts[-1].get_text()
    assert outlines(heatmap._heatmap_figure(rbf.drop(columns="safe"), "title")) == []


def test_slope_figures_mark_the_safe_cells(tmp_path: Path) -> None:
    folder = run_folder(tmp_path)
    write_safe_regions([folder], SafetyCriteria(0.02, 0.1))
    rows = with_labels(read_table(folder / "results.csv", "slope"))
    figure = slope._slope_figure(rows, "title")
    diamonds = [
        collection
        for ax in figure.axes
        for collection in ax.collections
        if len(collection.get_edgecolor())
        and np.allclose(collection.get_edgecolor()[0], to_rgba(slope.SAFE_COLOUR))
    ]
    assert sum(len(c.get_offsets()) for c in diamonds) == 8
