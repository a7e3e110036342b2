"""Tests of the plotting step: figures come from the CSV tables alone."""

from __future__ import annotations

import contextlib
import importlib
import io
import itertools
import sys
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text
from PIL import Image

from backdoor_curves import plots
from backdoor_curves.plots import slope as slope_figures

BETAS = (0.0, 0.1, 0.4, 0.99)
FRACTIONS = (0.01, 0.1, 0.2)
RBF_GAMMAS = (5e-4, 5e-3)
MODELS = (("svm", np.nan), *(("svm-rbf", gamma) for gamma in RBF_GAMMAS))
BADNET3 = {"trigger": "badnet", "trigger_size": 3.0, "trigger_eps": np.nan}
EXPECTED_STEMS = {
    "slope_mnist_7-1_badnet3",
    "rbf_heatmap_mnist_7-1_badnet3",
    "slope_overview_mnist_badnet3",
    "curves_mnist_7-1_svm",
    "curves_mnist_7-1_svm-rbf_g0.0005",
    "curves_mnist_7-1_svm-rbf_g0.005",
    "deviation_mnist_7-1",
}


def slope_rows(trigger: dict = BADNET3) -> pd.DataFrame:
    """Slope table: BA and theta rise with C; one undefined theta."""
    rows = []
    grid = [("svm", c, np.nan) for c in (1e-3, 1e-1, 10.0)]
    grid += [("svm-rbf", c, g) for g in RBF_GAMMAS for c in (0.1, 1.0, 10.0)]
    for (clf, c, gamma), seed in itertools.product(grid, (1, 10)):
        x = np.log10(c) + seed / 100
        theta = 10 ** (-2 + 0.5 * x)
        rows.append(
            {
                "dataset": "mnist",
                "data_source": "embedded",
                "pair": "7-1",
                "n_train": 100,
                "n_test": 50,
                **trigger,
                "clf": clf,
                "C": c,
                "gamma": gamma,
                "seed": seed,
                "poison_fraction": 0.1,
                "clean_acc_clean_model": 0.99,
                "clean_acc": 0.98,
                "backdoor_acc": 1 / (1 + np.exp(-2 * x)),
                "train_acc": 1.0,
                "slope": -np.tan(np.pi / 2 * theta),
                "theta": theta,
                "influence_mean": -0.1,
                "influence_abs_mean": 0.1,
                "backdoor_loss": 1.0,
                "damping": 0.0,
                "condition_number": 10.0,
                "status": "ok",
                "seconds": 0.01,
            }
        )
    rows[0].update(theta=np.nan, slope=np.nan, status="no margin support vectors")
    return pd.DataFrame(rows)


def path_rows(
    kind: str,
    trigger: dict = BADNET3,
    models: tuple = MODELS,
    lambdas: tuple = (10.0, 0.1),
    fractions: tuple = FRACTIONS,
) -> pd.DataFrame:
    """Curves or deviation table: backdoor loss falls with beta, faster for small lambda."""
    rows = []
    for (clf, gamma), lam, p, seed, beta in itertools.product(
        models, lambdas, fractions, (1, 10), BETAS
    ):
        rate = 10 * p / np.sqrt(lam)
        common = {
            "dataset": "mnist",
            "data_source": "embedded",
            "pair": "7-1",
            **trigger,
            "clf": clf,
            "C": 1 / lam,
            "lambda": lam,
            "gamma": gamma,
            "poison_fraction": p,
            "seed": seed,
            "beta": beta,
            "backdoor_acc": 1 - np.exp(-rate * beta),
        }
        if kind == "curves":
            common |= {
                "clean_loss": 0.1,
                "backdoor_loss": 1.2 * np.exp(-rate * beta),
                "clean_acc": 0.98,
                "slope_if": -1.2 * rate,
                "slope_fd": -1.2 * rate,
                "tangent_valid_until": 0.07,
                "tangent_crossing": 0.05,
            }
        else:
            common |= {"nu": 0.1 * (1 - np.exp(-rate * beta)), "rho": (1 + beta) / lam}
        rows.append(common)
    return pd.DataFrame(rows)


def write_table(results_dir: Path, kind: str, run: str, table: pd.DataFrame) -> Path:
    run_dir = results_dir / kind / run
    run_dir.mkdir(parents=True)
    table.to_csv(run_dir / "results.csv", index=False)
    (run_dir / "manifest.json").write_text("{}")
    return run_dir / "results.csv"


def write_results(root: Path, small: bool) -> Path:
    """Write one table of each kind; ``small`` keeps one lambda and one p (quick to draw)."""
    sizes = {"lambdas": (10.0,), "fractions": (0.1,)} if small else {}
    write_table(root, "slope", "mnist_7-1_badnet3", slope_rows())
    write_table(root, "curves", "mnist_7-1", path_rows("curves", **sizes))
    write_table(root, "deviation", "mnist_7-1", path_rows("deviation", **sizes))
    return root


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    return write_results(tmp_path / "results", small=True)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> tuple[Path, int, str]:
    """Every figure of the full synthetic tables, drawn once for the tests that inspect them."""
    root = write_results(tmp_path_factory.mktemp("full") / "results", small=False)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = plots.main([str(root)])
    return root, code, stdout.getvalue()


def figure_files(results_dir: Path) -> set[str]:
    return {path.name for path in (results_dir / "figures").iterdir()}


@pytest.mark.e2e  # the figures command over the full tables, end to end
def test_main_writes_every_figure_as_pdf_and_png(full_run):
    root, code, _ = full_run
    assert code == 0
    expected = {f"{stem}.{fmt}" for stem in EXPECTED_STEMS for fmt in ("pdf", "png")}
    assert figure_files(root) == expected
    for name in expected:
        head = (root / "figures" / name).read_bytes()[:8]
        assert head.startswith(b"%PDF" if name.endswith(".pdf") else b"\x89PNG")


@pytest.mark.e2e  # the figures command over the full tables, end to end
def test_main_prints_one_line_per_figure(full_run):
    root, _, stdout = full_run
    lines = stdout.splitlines()
    assert sorted(lines) == sorted(
        f"wrote {root / 'figures' / stem} [pdf, png]" for stem in EXPECTED_STEMS
    )


def test_quiet_prints_nothing_and_format_selects_files(results_dir, capsys):
    assert plots.main([str(results_dir), "--only", "deviation", "--format", "png", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert figure_files(results_dir) == {"deviation_mnist_7-1.png"}


def test_only_curves_writes_only_curve_figures(results_dir):
    assert plots.main([str(results_dir), "--only", "curves", "--format", "png", "--quiet"]) == 0
    names = figure_files(results_dir)
    assert names == {f"{s}.png" for s in EXPECTED_STEMS if s.startswith("curves_")}


@pytest.mark.parametrize("make_dir", [False, True])
def test_missing_or_empty_results_dir_exits_2_with_one_line(tmp_path, capsys, make_dir):
    target = tmp_path / "nothing_here"
    if make_dir:
        target.mkdir()
    assert plots.main([str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error:") and "nothing_here" in err[0]
    assert not (target / "figures").exists()


def test_only_kind_without_tables_exits_2(results_dir, capsys):
    for kind in ("curves", "deviation"):
        for path in (results_dir / kind).rglob("results.csv"):
            path.unlink()
    assert plots.main([str(results_dir), "--only", "curves"]) == 2
    assert "curves/**/results.csv" in capsys.readouterr().err


def test_table_missing_a_column_exits_2_naming_file_and_column(tmp_path, capsys):
    path = write_table(tmp_path, "deviation", "run", path_rows("deviation").drop(columns="rho"))
    assert plots.main([str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "'rho'" in err


def test_model_never_seen_is_drawn_under_a_readable_label(tmp_path):
    toy = slope_rows().query("clf == 'svm'").assign(clf="knn-vote")
    table = pd.concat([slope_rows(), toy], ignore_index=True)
    titles = [title for title, _ in slope_figures.model_panels(plots.with_labels(table))]
    assert titles == ["Linear SVM", "RBF SVM, γ = 0.0005", "RBF SVM, γ = 0.005", "Knn vote"]
    for kind, rows in (
        ("slope", table),
        ("curves", path_rows("curves", models=(("knn-vote", np.nan),), fractions=(0.1,))),
        ("deviation", path_rows("deviation", models=(("knn-vote", np.nan),), fractions=(0.1,))),
    ):
        write_table(tmp_path, kind, "run", rows)
    assert plots.main([str(tmp_path), "--format", "png", "--quiet"]) == 0
    assert {"curves_mnist_7-1_knn-vote.png", "deviation_mnist_7-1.png"} <= figure_files(tmp_path)


def test_model_panels_put_the_papers_models_first_then_others_by_name():
    rows = [
        {"clf": c, "gamma": g} for c, g in (("zeta", np.nan), ("svm-rbf", 5e-3), ("alpha", 1.0))
    ]
    rows += [{"clf": "ridge", "gamma": np.nan}, {"clf": "svm-rbf", "gamma": 5e-4}]
    table = pd.DataFrame(rows).assign(**BADNET3)
    titles = [title for title, _ in slope_figures.model_panels(plots.with_labels(table))]
    assert titles == [
        "Ridge classifier",
        "RBF SVM, γ = 0.0005",
        "RBF SVM, γ = 0.005",
        "Alpha, γ = 1",
        "Zeta",
    ]


def test_non_positive_gamma_in_a_table_exits_2_naming_file(tmp_path, capsys):
    table = path_rows("curves", models=(("svm-rbf", -1.0),), fractions=(0.1,))
    path = write_table(tmp_path, "curves", "run", table)
    assert plots.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "gamma must be finite and positive" in err


def test_panels_without_drawable_theta_still_render(tmp_path):
    invisible = {"trigger": "invisible", "trigger_size": np.nan, "trigger_eps": 75 / 255}
    table = slope_rows(invisible)
    table.loc[table["clf"] == "svm-rbf", "theta"] = -0.2
    written = plots.plot_slope_figures(table, tmp_path, ["png"])
    assert written == [tmp_path / "slope_mnist_7-1_invisible75.png"]
    assert written[0].stat().st_size > 0


def test_load_tables_concatenates_runs_and_skips_header_only_tables(tmp_path):
    write_table(tmp_path, "slope", "a", slope_rows())
    write_table(tmp_path, "slope", "nested/b", slope_rows())
    write_table(tmp_path, "curves", "empty", path_rows("curves").iloc[:0])
    tables = plots.load_tables(tmp_path)
    assert set(tables) == {"slope"}
    assert len(tables["slope"]) == 2 * len(slope_rows())
    assert set(tables["slope"]["pair"]) == {"7-1"}
    assert tables["slope"]["theta"].isna().sum() == 2


def fresh_import_of_plots(monkeypatch):
    """Import the plots package (and naming) anew; the old modules come back after the test."""
    for name in list(sys.modules):
        if name.startswith("backdoor_curves.plots") or name == "backdoor_curves.naming":
            monkeypatch.delitem(sys.modules, name)
    return importlib.import_module("backdoor_curves.plots")


def test_plotting_needs_no_experiment_code_or_data(results_dir, monkeypatch):
    # Blocked modules raise ImportError on import: the step must run from the tables alone.
    for name in (
        "backdoor_curves.attacks",
        "backdoor_curves.classifiers",
        "backdoor_curves.experiments",
        "sklearn",
        "torch",
        "torchvision",
    ):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.chdir(results_dir.parent)
    module = fresh_import_of_plots(monkeypatch)
    assert module.main(["results", "--only", "deviation", "--format", "png", "--quiet"]) == 0
    assert figure_files(results_dir) == {"deviation_mnist_7-1.png"}


def test_import_and_plotting_leave_matplotlib_state_alone(results_dir, monkeypatch):
    import matplotlib.pyplot as plt

    before = dict(mpl.rcParams)
    backend = mpl.get_backend()
    module = fresh_import_of_plots(monkeypatch)
    assert module.main([str(results_dir), "--only", "deviation", "--format", "png", "--quiet"]) == 0
    assert dict(mpl.rcParams) == before
    assert mpl.get_backend() == backend
    assert plt.get_fignums() == []


def test_several_triggers_get_distinct_stems(tmp_path):
    invisible = {"trigger": "invisible", "trigger_size": np.nan, "trigger_eps": 10 / 255}
    small = {"models": MODELS[:1], "fractions": (0.1,)}
    write_table(tmp_path, "deviation", "badnet", path_rows("deviation", **small))
    write_table(tmp_path, "deviation", "faint", path_rows("deviation", invisible, **small))
    assert plots.main([str(tmp_path), "--format", "png", "--quiet"]) == 0
    assert figure_files(tmp_path) == {
        "deviation_mnist_7-1_badnet3.png",
        "deviation_mnist_7-1_invisible10.png",
    }


def test_deviation_grid_with_a_missing_model_and_p_cell(tmp_path):
    svm = path_rows("deviation", models=MODELS[:1], fractions=(0.1, 0.2))
    rbf = path_rows("deviation", models=MODELS[1:2], fractions=(0.1,))
    write_table(tmp_path, "deviation", "run", pd.concat([svm, rbf]))
    assert plots.main([str(tmp_path), "--format", "png", "--quiet"]) == 0
    assert figure_files(tmp_path) == {"deviation_mnist_7-1.png"}


def test_tangent_beta_range_clips_to_the_band():
    # Falling tangent 1 - 2 beta leaves [0, 2] at beta = 0.5.
    assert plots.tangent_beta_range(1.0, -2.0, 1.0, 0.0, 2.0) == pytest.approx((0.0, 0.5))
    # Rising tangent 1 + beta stays inside until beta_max.
    assert plots.tangent_beta_range(1.0, 1.0, 0.8, 0.0, 2.0) == pytest.approx((0.0, 0.8))
    # Starts above the band and enters it at beta = 0.25.
    assert plots.tangent_beta_range(3.0, -4.0, 1.0, 0.0, 2.0) == pytest.approx((0.25, 0.75))
    assert plots.tangent_beta_range(3.0, 0.0, 1.0, 0.0, 2.0) is None
    assert plots.tangent_beta_range(1.0, np.nan, 1.0, 0.0, 2.0) is None


def test_save_figure_writes_atomically_and_deterministically(tmp_path):
    def draw():
        with plots.figure_style():
            fig = plots.new_figure(3.0, 2.0)
            ax = fig.subplots()
            ax.plot([1, 2, 3], [1, 0, 2])
            ax.set_title("θ and γ")
            return fig

    first = plots.save_figure(draw(), tmp_path / "a_g0.5")
    assert first == [tmp_path / "a_g0.5.pdf", tmp_path / "a_g0.5.png"]
    second = plots.save_figure(draw(), tmp_path / "b")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["a_g0.5.pdf", "a_g0.5.png", "b.pdf", "b.png"]
    )
    for one, other in zip(first, second, strict=True):
        assert one.read_bytes() == other.read_bytes()


def test_save_figure_without_the_layout_engine_gives_the_same_png(tmp_path):
    # The engine is removed after the first save: the PNG must keep the laid-out axes.
    def draw():
        with plots.figure_style():
            fig = plots.new_figure(3.0, 2.0)
            ax = fig.subplots()
            ax.set_ylabel("a long label\nin two lines")
            ax.plot([1, 2], [1, 2])
            return fig

    # Reference: keep matplotlib's placeholder engine, which lays the figure out once more.
    reference = draw()
    with plots.figure_style():
        png = plots.save_figure(draw(), tmp_path / "fast", ["pdf", "png"])[1]
        reference.savefig(tmp_path / "ref.pdf")
        reference.set_layout_engine("none")
        reference.savefig(tmp_path / "ref.png")
    np.testing.assert_array_equal(_pixels(png), _pixels(tmp_path / "ref.png"))


def _pixels(path):
    with Image.open(path) as image:
        return np.asarray(image)


def test_png_is_written_at_compression_level_one(tmp_path):
    with plots.figure_style():
        fig = plots.new_figure(3.0, 2.0)
        fig.subplots().plot([1, 2], [1, 2])
        png = plots.save_figure(fig, tmp_path / "fig", ["png"])[0]
        fig.savefig(tmp_path / "default.png")
    np.testing.assert_array_equal(_pixels(png), _pixels(tmp_path / "default.png"))
    # Same pixels, less compressed: a zlib level-1 stream is larger than the default level 6.
    assert png.stat().st_size > (tmp_path / "default.png").stat().st_size


def test_pdf_embeds_latin_and_greek_letters_in_one_font_subset(tmp_path):
    with plots.figure_style():
        fig = plots.new_figure(3.0, 2.0)
        fig.subplots().set_title("theta θ, gamma γ, lambda λ")
        pdf = plots.save_figure(fig, tmp_path / "fig", ["pdf"])[0]
    # One Type 0 font per subset; every subset parses the font file again when saving.
    assert pdf.read_bytes().count(b"/Subtype /Type0") == 1


def test_pdf_embeds_words_with_ligature_pairs_in_one_font_subset(tmp_path):
    # "fi" and "fl" would be drawn as ligature glyphs, which go to a second font subset.
    with plots.figure_style():
        fig = plots.new_figure(3.0, 2.0)
        ax = fig.subplots()
        ax.set_title("classifier")
        ax.plot([0, 1], [0, 1], label="tangent (influence)")
        fig.legend(loc="outside lower center")
        pdf = plots.save_figure(fig, tmp_path / "fig", ["pdf"])[0]
    assert pdf.read_bytes().count(b"/Subtype /Type0") == 1
    assert {text.get_fontfeatures() for text in fig.findobj(Text)} == {("-liga",)}


def test_registered_family_is_drawn_and_unknown_kinds_are_named(tmp_path, monkeypatch):
    from backdoor_curves.plots import registry

    monkeypatch.setattr(registry, "_REQUIRED_COLUMNS", dict(registry._REQUIRED_COLUMNS))
    monkeypatch.setattr(registry, "_PLOTTERS", {k: list(v) for k, v in registry._PLOTTERS.items()})
    drawn = []

    @plots.register_figures("toy", required_columns=("dataset", "score"))
    def plot_toy(table, out_dir, formats):
        drawn.append(len(table))
        return []

    write_table(tmp_path, "toy", "run", pd.DataFrame({"dataset": ["d"], "score": [0.5]}))
    assert plots.main([str(tmp_path), "--only", "toy", "--quiet"]) == 0
    assert drawn == [1]
    with pytest.raises(ValueError, match="valid kinds are"):
        plots.draw_figures({"nope": pd.DataFrame()}, tmp_path)
    with pytest.raises(ValueError, match="required_columns"):
        plots.register_figures("other")
    with pytest.raises(ValueError, match="already requires"):
        plots.register_figures("toy", required_columns=("dataset",))


def test_save_figure_rejects_unknown_format(tmp_path):
    from matplotlib.figure import Figure

    with pytest.raises(ValueError, match="valid formats are"):
        plots.save_figure(Figure(), tmp_path / "x", ["svg"])
    assert list(tmp_path.iterdir()) == []


def test_curve_figures_mark_the_breakpoints_of_exact_paths() -> None:
    from backdoor_curves.plots import curves  # noqa: PLC0415

    grid = path_rows("curves", models=(("svm", np.nan),), lambdas=(10.0,), fractions=(0.1,))
    grid["point"] = "grid"
    breakpoints = grid[grid["beta"] > 0].head(3).assign(beta=[0.013, 0.27, 0.61])
    breakpoints["point"] = "breakpoint"
    table = pd.concat([grid, breakpoints], ignore_index=True)

    def drawn(frame: pd.DataFrame) -> tuple[list[list[float]], list[str]]:
        figure = curves._curve_figure(frame, curves._p_colours(frame), "title")
        ax = figure.axes[0]
        ticks = [list(line.get_xdata()) for line in ax.lines if line.get_marker() == "|"]
        labels = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
        solid = [line for line in ax.lines if line.get_linewidth() == 1.8]
        lines = [list(line.get_xdata()) for line in solid]
        dots = [[line.get_xdata()[i] for i in line.get_markevery()] for line in solid]
        return ticks + [["dots", *x] for x in dots] + [["line", *x] for x in lines], labels

    marks, labels = drawn(table)
    assert [0.013, 0.27, 0.61] in marks and "path breakpoints" in labels
    # The line passes through the breakpoints (the curve is exact there); dots at the grid.
    assert ["line", *sorted([*BETAS, 0.013, 0.27, 0.61])] in marks
    assert ["dots", *BETAS] in marks
    marks, labels = drawn(grid)
    assert all(mark[0] in ("dots", "line") for mark in marks) and "path breakpoints" not in labels


def test_curve_figures_mark_where_the_tangent_stops_predicting_the_drop() -> None:
    from backdoor_curves.plots import curves  # noqa: PLC0415

    table = path_rows("curves", models=(("svm", np.nan),), lambdas=(10.0,), fractions=(0.1,))

    def marks(frame: pd.DataFrame) -> tuple[list[tuple[float, float]], list[str]]:
        figure = curves._curve_figure(frame, curves._p_colours(frame), "title")
        drawn = [
            (line.get_xdata()[0], line.get_ydata()[0])
            for line in figure.axes[0].lines
            if line.get_marker() == "D"
        ]
        labels = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
        return drawn, labels

    # The loss leaves the tangent at 0.05 (the crossing; an SVM's first breakpoint past it
    # at 0.07): one diamond at the crossing, on the tangent at beta = 0.
    start = table[table["beta"] == 0].iloc[0]
    (drawn,), labels = marks(table)
    assert drawn == pytest.approx((0.05, start["backdoor_loss"] + 0.05 * start["slope_if"]))
    assert "tangent 10% off the drop" in labels
    # Holding to the last beta, or not recorded: no diamond, no legend entry.
    holding = table.assign(tangent_crossing=max(BETAS))
    for frame in (holding, table.drop(columns=curves.CROSSING)):
        drawn, labels = marks(frame)
        assert drawn == [] and "tangent 10% off the drop" not in labels


def test_curve_figures_average_seeds_whose_refined_rows_differ() -> None:
    """Each seed's followed curve is read linearly between its rows before the mean."""
    from backdoor_curves.plots import curves  # noqa: PLC0415

    grid = path_rows("curves", models=(("logistic", np.nan),), lambdas=(10.0,), fractions=(0.1,))
    grid["point"] = "grid"
    grid.loc[grid["seed"] == 10, "backdoor_loss"] += 0.5
    refined = [
        grid[(grid["seed"] == seed) & (grid["beta"] == 0)].assign(
            beta=beta, backdoor_loss=loss, point="refined"
        )
        for seed, beta, loss in ((1, 0.015, 0.9), (10, 0.035, 1.3))
    ]
    table = pd.concat([grid, *refined], ignore_index=True)
    figure = curves._curve_figure(table, curves._p_colours(table), "title")
    (line,) = [line for line in figure.axes[0].lines if line.get_linewidth() == 1.8]
    seeds = [part.sort_values("beta") for _, part in table.groupby("seed")]
    expected = np.mean(
        [np.interp(line.get_xdata(), s["beta"], s["backdoor_loss"]) for s in seeds], axis=0
    )
    assert {0.015, 0.035} <= set(line.get_xdata())
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-12)


def test_deviation_paths_pass_through_every_row_with_markers_at_the_grid() -> None:
    from backdoor_curves.plots import deviation  # noqa: PLC0415
    from backdoor_curves.plots.tables import with_labels  # noqa: PLC0415

    grid = path_rows("deviation", models=(("svm", np.nan),), lambdas=(10.0,), fractions=(0.1,))
    grid = grid[grid["seed"] == 1].assign(point="grid")
    breakpoints = (
        grid[grid["beta"] > 0]
        .head(2)
        .assign(beta=[0.013, 0.27], nu=[0.5, 0.6], rho=[3.0, 4.0], point="breakpoint")
    )
    table = with_labels(pd.concat([grid, breakpoints], ignore_index=True))
    figure = deviation._deviation_figure(table, "title")
    (line,) = figure.axes[0].lines
    # Through the breakpoints (nu 0.5 and 0.6), in beta order; the markers only at the grid.
    assert {0.5, 0.6} <= set(line.get_xdata()) and len(line.get_xdata()) == len(BETAS) + 2
    marked = {line.get_xdata()[i] for i in line.get_markevery()}
    assert marked == set(grid["nu"])


def dense_curves(floors: dict[float, float], rate: float) -> pd.DataFrame:
    """Logistic curves, one per p, falling as ``floor + (3.2 - floor) exp(-rate beta)``."""
    template = path_rows("curves", models=(("logistic", np.nan),), lambdas=(0.01,))
    template = template[(template["beta"] == 0) & (template["seed"] == 1)]
    betas = np.r_[0.0, np.geomspace(1e-4, 1.0, 60)]
    parts = []
    for p, floor in floors.items():
        start = template[template["poison_fraction"] == p]
        curve = start.loc[start.index.repeat(betas.size)].assign(beta=betas)
        parts.append(curve.assign(backdoor_loss=floor + (3.2 - floor) * np.exp(-rate * betas)))
    return pd.concat(parts, ignore_index=True).assign(clean_loss=0.1, slope_if=-3.0 * rate)


def test_a_panel_whose_curves_drop_at_once_gets_an_inset_on_the_drop() -> None:
    from backdoor_curves.plots import curves  # noqa: PLC0415

    def panel(frame: pd.DataFrame):
        figure = curves._curve_figure(frame, curves._p_colours(frame), "title")
        figure.draw_without_rendering()  # places the inset
        return figure.axes[0]

    low = {0.01: 0.2, 0.1: 0.2, 0.2: 0.2}
    ax = panel(dense_curves(low, rate=300.0))
    (inset,) = ax.child_axes
    # Twice the range where the curves are 90% done, read on the rows (1.17 apart).
    start, end = inset.get_xlim()
    assert start == 0.0 and 2 * np.log(10) / 300 <= end <= 1.2 * 2 * np.log(10) / 300
    # Its lines are the curves' (every row up to the first one past its end).
    solid = [line for line in inset.lines if line.get_linewidth() == 1.8]
    assert len(solid) == 3 and all(line.get_xdata()[-2] <= end < line.get_xdata()[-1]
                                   for line in solid)  # fmt: skip
    # It sits above the curves right of its left edge, clear of them.
    outer, box = ax.get_position(), inset.get_position()
    left = ax.get_xlim()[0] + (box.x0 - outer.x0) / outer.width * np.diff(ax.get_xlim())[0]
    bottom = ax.get_ylim()[0] + (box.y0 - outer.y0) / outer.height * np.diff(ax.get_ylim())[0]
    right = [line.get_ydata()[np.asarray(line.get_xdata()) >= left] for line in ax.lines
             if line.get_linewidth() > 1]  # fmt: skip
    assert max(values.max() for values in right if values.size) < bottom
    # Slow curves need no inset; curves that leave no room above or below get none.
    assert panel(dense_curves(low, rate=3.0)).child_axes == []
    assert panel(dense_curves({0.01: 2.0, 0.1: 0.2, 0.2: 0.2}, rate=300.0)).child_axes == []
