"""What each figure family shows, in one sentence: the one text of the docs and the report.

:data:`FIGURE_FAMILIES` lists the figure families in the order a reader meets them, each with
the file-name pattern of its figures, the paper figure it reproduces and its caption. The
table "file | paper figure | shows" of ``docs/drivers.md`` (section "Figures") is this list,
row for row (``tests/test_docs.py`` checks it), and the HTML report of a results folder
(``backdoor-curves report``) prints these captions under the figures it finds.

:func:`figure_family` tells which family a figure file belongs to from its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FIGURE_FAMILIES", "FigureFamily", "figure_family"]


@dataclass(frozen=True)
class FigureFamily:
    """One figure family.

    Attributes
    ----------
    key : str
        Short identifier (``"slope"``, ``"f7"``).
    title : str
        Heading of the family in the report.
    file : str
        File-name pattern as the docs write it, e.g. ``slope_<ds>_<pair>_<trigger>``.
    paper : str
        The paper figure it reproduces (empty: none).
    caption : str
        What the figure shows (markdown inline code allowed).
    pattern : str
        Regular expression matched against a figure's file stem.
    where : str, default ""
        Where the figures are, when not in the results folder's ``figures/``.
    """

    key: str
    title: str
    file: str
    paper: str
    caption: str
    pattern: str
    where: str = ""

    def matches(self, stem: str) -> bool:
        """Whether a figure whose file stem is ``stem`` belongs to this family."""
        return re.match(self.pattern, stem) is not None


FIGURE_FAMILIES: tuple[FigureFamily, ...] = (
    FigureFamily(
        "slope",
        "Backdoor learning slope (F3, F5)",
        "slope_<ds>_<pair>_<trigger>",
        "Fig. 3 (Fig. 5: double trigger)",
        "per classifier (RBF: per gamma), CA (hollow squares) and BA (filled circles) against "
        "the normalised slope (log x), one marker per (C, seed) coloured by log10 C; "
        "Spearman(theta, BA) in the title",
        r"slope_(?!overview_)",
    ),
    FigureFamily(
        "heatmap",
        "RBF SVM heat maps (F4)",
        "rbf_heatmap_<ds>_<pair>_<trigger>",
        "Fig. 4",
        "RBF SVM CA and BA over (lambda, gamma), mean over seeds",
        r"rbf_heatmap_",
    ),
    FigureFamily(
        "overview",
        "Slope overview",
        "slope_overview_<ds>_<trigger>",
        "",
        "all pairs x classifiers, BA and CA against theta",
        r"slope_overview_",
    ),
    FigureFamily(
        "curves",
        "Learning curves (F2)",
        "curves_<ds>_<pair>_<model>",
        "Fig. 2",
        "one panel per lambda, one colour per p (by rank among the pair's fractions): backdoor "
        "test loss (solid, dots at the grid betas), clean test loss (dotted), both through every "
        "row (breakpoints of the exact SVM paths, refined steps), and the influence tangent at "
        "beta = 0 against beta, with a diamond where the tangent stops predicting the loss drop "
        "within 10% (`tangent_crossing`, found on the path between rows); for the SVMs, ticks "
        "along the top at the breakpoints of the exact path; a panel whose backdoor losses make "
        "half their drop within the first 3% of beta has an inset on that start",
        r"curves_",
    ),
    FigureFamily(
        "deviation",
        "Parameter deviation (F6)",
        "deviation_<ds>_<pair>",
        "Fig. 6",
        "per model, the path (nu, rho) over beta for each lambda, through every row of the "
        "curves (breakpoints, refined steps), with markers at the grid betas",
        r"deviation_",
    ),
    FigureFamily(
        "shares",
        "Explanation shares",
        "explanation_shares_<ds>_<pair>_<trigger>",
        "",
        "trigger share and poison share against C, clean vs poisoned, with the poisoned "
        "model's BA (grey dashed) and reference levels: the trigger's area share (dotted, top "
        "row) and the poison fraction (dash-dotted, bottom row)",
        r"explanation_shares",
    ),
    FigureFamily(
        "f7",
        "Explanations (F7)",
        "f7_<clf>",
        "Fig. 7",
        "images with their target label, clean and poisoned gradient maps on one symmetric "
        "colour scale per row (colour bar; clipped at the 99th percentile of the absolute "
        "gradient), top-k training points with poisons framed",
        r"f7_",
        "explanation run folders",
    ),
    FigureFamily(
        "networks",
        "Networks (F8)",
        "nn_curves_<arch>",
        "Fig. 8",
        "network backdoor and clean CE, BA and CA against beta, head-slope tangent",
        r"nn_curves_",
        "network results",
    ),
    FigureFamily(
        "triggers",
        "Triggers",
        "triggers_<ds>_<pair>",
        "",
        "clean and triggered examples (`backdoor-curves triggers`)",
        r"triggers_",
    ),
)
"""The figure families, in the order of the docs' table and of the report."""


def figure_family(path: Path | str) -> FigureFamily | None:
    """Return the family of the figure file ``path`` (by its stem), or None if none matches."""
    stem = Path(path).stem
    for family in FIGURE_FAMILIES:
        if family.matches(stem):
            return family
    return None
