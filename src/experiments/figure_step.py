"""The figure step of a driver: draw the figures of exactly the tables a run's flags point at.

A results root (``--out-dir``, default ``results/<dataset>``) holds one folder per table kind
(``slope/``, ``curves/``, ``deviation/``) with one run folder per pair and trigger, named by
:func:`~backdoor_curves.experiments.recording.run_folder_name`. Runs on other data than the
configuration's (smoke profile, other subset sizes or data seed) carry a suffix
(:func:`~backdoor_curves.experiments.recording.data_variant`). The figure step of a run draws
from the run folders of its own variant only and writes into that variant's figures folder
(:func:`~backdoor_curves.experiments.recording.figures_folder`), so figures never mix data and
never overwrite the figures of other data.

Matplotlib is imported only when figures are drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from backdoor_curves.experiments.recording import figures_folder, folder_variant

__all__ = ["FIGURE_FORMATS", "draw_run_figures", "run_tables"]

FIGURE_FORMATS: tuple[str, ...] = ("pdf", "png")
"""Formats every driver's figure step writes."""


def run_tables(
    out_dir: Path, kinds: Sequence[str], variant: str, run_names: Sequence[str] = ()
) -> dict[str, pd.DataFrame]:
    """Read the tables of one data variant under a results root.

    Parameters
    ----------
    out_dir : Path
        Results root holding ``<kind>/<run folder>/results.csv``.
    kinds : sequence of str
        Table kinds to read, e.g. ``("slope",)``.
    variant : str
        Data-variant suffix (``""`` for the configuration's data); run folders with another
        suffix are left out.
    run_names : sequence of str, optional
        Run folders to read whatever their names (``--run-name``), instead of the variant's.

    Returns
    -------
    dict of str to pandas.DataFrame
        One concatenated table per kind that has rows.
    """
    from backdoor_curves.plots import read_table  # noqa: PLC0415  # matplotlib only here

    tables = {}
    for kind in kinds:
        folders = sorted(path.parent for path in (out_dir / kind).glob("*/results.csv"))
        if run_names:
            folders = [folder for folder in folders if folder.name in run_names]
        else:
            folders = [folder for folder in folders if folder_variant(folder.name) == variant]
        frames = [read_table(folder / "results.csv", kind) for folder in folders]
        frames = [frame for frame in frames if not frame.empty]
        if frames:
            tables[kind] = pd.concat(frames, ignore_index=True)
    return tables


def draw_run_figures(
    out_dir: Path,
    kinds: Sequence[str],
    variant: str,
    run_names: Sequence[str] = (),
    formats: Sequence[str] = FIGURE_FORMATS,
) -> list[Path]:
    """Draw the figures of one data variant's tables into its figures folder.

    Parameters
    ----------
    out_dir : Path
        Results root (see :func:`run_tables`).
    kinds : sequence of str
        Table kinds whose figures are drawn.
    variant : str
        Data-variant suffix; the figures go to ``figures_folder(out_dir, variant)``.
    run_names : sequence of str, optional
        Explicit run folders (see :func:`run_tables`).
    formats : sequence of str
        File formats.

    Returns
    -------
    list of Path
        The written files.

    Raises
    ------
    FileNotFoundError
        If no table of the variant exists under ``out_dir``.
    """
    from backdoor_curves.plots import draw_figures  # noqa: PLC0415  # matplotlib only here

    tables = run_tables(out_dir, kinds, variant, run_names)
    if not tables:
        where = ", ".join(f"{out_dir / kind}/*{variant}/results.csv" for kind in kinds)
        raise FileNotFoundError(f"no result tables to draw (looked for {where})")
    return draw_figures(tables, figures_folder(out_dir, variant), formats)
