"""The HTML report of a results folder: collect what it holds, render it, write ``report.html``.

:func:`collect_report` reads a results folder into a :class:`ReportContent` (run folders and
their manifests, the comparison with the reference, the key tables, the figures with their
captions); :func:`render_report` fills the Jinja2 template ``templates/report.html.j2`` with
it (autoescaped; the style sheet and the table-sorting script are inline, so the page needs no
network); :func:`write_report` writes ``RESULTS_DIR/report.html`` atomically. A folder with
nothing to report is one error and no file.

Figures are linked by their path relative to the report (the committed reference's figures
are committed next to it) or, with ``embed``, embedded as base64 PNG so the file can be moved
on its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import markupsafe

from backdoor_curves.experiments.report.content import (
    FigureSection,
    RunFolderInfo,
    RunTotals,
    figure_sections,
    run_folders_of,
    run_totals,
)
from backdoor_curves.experiments.report.summaries import (
    ReferenceSummary,
    Table,
    reference_summaries,
    safe_region_tables,
    spearman_table,
    status_table,
)
from backdoor_curves.experiments.table_comparison import Comparison
from backdoor_curves.plots.registry import table_kinds
from backdoor_curves.utilities.atomic import atomic_write_text
from backdoor_curves.utilities.store import RESULTS_FILENAME

__all__ = ["REPORT_FILENAME", "ReportContent", "collect_report", "render_report", "write_report"]

REPORT_FILENAME = "report.html"

_TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class ReportContent:
    """Everything the report shows about one results folder.

    Attributes
    ----------
    root : str
        The results folder as given.
    created : str
        When the report was made (UTC).
    totals : RunTotals
        Wall time and cells computed / skipped, summed over the run folders' manifests.
    folders : tuple of RunFolderInfo
        The run folders.
    reference : tuple of ReferenceSummary
        The comparison of each compared kind with the reference.
    tables : tuple of Table
        Spearman(theta, BA), the statuses that are not "ok", the safe regions.
    sections : tuple of FigureSection
        The figures by family.
    """

    root: str
    created: str
    totals: RunTotals
    folders: tuple[RunFolderInfo, ...]
    reference: tuple[ReferenceSummary, ...]
    tables: tuple[Table, ...]
    sections: tuple[FigureSection, ...]


def _check_not_empty(root: Path, folders: list[RunFolderInfo], n_figures: int) -> None:
    """Raise ``FileNotFoundError`` when ``root`` holds no table, manifest or figure."""
    if folders or n_figures or any(root.rglob(RESULTS_FILENAME)):
        return
    kinds = ", ".join(f"{kind}/" for kind in table_kinds())
    raise FileNotFoundError(
        f"{root} holds nothing to report: no {RESULTS_FILENAME}, manifest.json or PNG figure "
        f"under it (a results folder has {kinds} or nn/ run folders, e.g. runs/mnist after "
        "./run_mnist.sh all, or the committed results/mnist)"
    )


def collect_report(
    root: Path,
    reference: Path | None = None,
    *,
    embed: bool = False,
    known: Mapping[Path, Comparison] | None = None,
) -> ReportContent:
    """Read the results folder ``root`` into a :class:`ReportContent`.

    Parameters
    ----------
    root : Path
        The results folder (``runs/mnist``, ``results/mnist``); any part of it may be missing.
    reference : Path or None
        The reference the slope and curves tables are compared with (None: not compared).
    embed : bool, default False
        Embed the figures as base64 PNG (see :func:`figure_sections`).
    known : mapping of Path to Comparison, optional
        Run folders under ``root`` already compared with ``reference`` by the driver run
        that wrote them (``ReferenceCheck.by_folder``,
        :mod:`~backdoor_curves.experiments.reference_tables`): not compared again.

    Raises
    ------
    FileNotFoundError
        ``root`` is not a folder, or holds no table, manifest or figure.
    ValueError
        A manifest or a table is unreadable.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"results folder {root} does not exist")
    folders = run_folders_of(root)
    sections = figure_sections(root, embed=embed)
    _check_not_empty(root, folders, sum(len(section.figures) for section in sections))
    tables = [spearman_table(root), status_table(root), *safe_region_tables(root)]
    return ReportContent(
        root=str(root),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        totals=run_totals(folders),
        folders=tuple(folders),
        reference=tuple(reference_summaries(root, reference, known=known)),
        tables=tuple(table for table in tables if table is not None),
        sections=tuple(sections),
    )


def _cell_value(value: object) -> str:
    """Return the sort key of a cell (``data-value``): numbers in full precision, text as is."""
    return repr(value) if isinstance(value, float) else str(value)


def _inline_code(text: str) -> markupsafe.Markup:
    """Escape ``text`` and show its markdown code spans (`` `code` ``) as ``<code>``."""
    escaped = str(markupsafe.escape(text))
    return markupsafe.Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped))


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["cell_value"] = _cell_value
    environment.filters["inline_code"] = _inline_code
    return environment


def render_report(content: ReportContent) -> str:
    """Return the HTML page of ``content``."""
    return _environment().get_template("report.html.j2").render(report=content)


def write_report(
    root: Path,
    reference: Path | None = None,
    *,
    embed: bool = False,
    known: Mapping[Path, Comparison] | None = None,
) -> Path:
    """Write ``root/report.html`` (atomically) and return its path.

    See :func:`collect_report` for the parameters and errors; on an error nothing is written.
    """
    html = render_report(collect_report(root, reference, embed=embed, known=known))
    path = root / REPORT_FILENAME
    atomic_write_text(path, html)
    return path
