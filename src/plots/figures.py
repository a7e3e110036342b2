"""Drawing every registered figure of a set of tables.

Inside: :func:`draw_figures` (tables already read, e.g. a chosen set of run folders) and
:func:`make_figures` (every table of a results directory into ``<results_dir>/figures``).
Which figures a table kind gets is the registry's business (:mod:`backdoor_curves.plots.registry`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from backdoor_curves.plots.registry import plotters
from backdoor_curves.plots.style import FORMATS
from backdoor_curves.plots.tables import load_requested_tables

__all__ = ["draw_figures", "make_figures"]


def draw_figures(
    tables: dict[str, pd.DataFrame], out_dir: Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Draw every figure of the given tables into ``out_dir`` (created if needed).

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Tables keyed by kind, as returned by :func:`~backdoor_curves.plots.tables.load_tables`.
    out_dir : pathlib.Path
        Folder for the figures.
    formats : sequence of {"pdf", "png"}
        File formats to write.

    Returns
    -------
    list of pathlib.Path
        The written files.

    Raises
    ------
    ValueError
        If a kind is not registered or a format is unknown.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, table in tables.items():
        for plotter in plotters(kind):
            written += plotter(table, out_dir, formats)
    return written


def make_figures(
    results_dir: Path | str,
    kinds: Sequence[str] | None = None,
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Draw every figure of the requested kinds from ``results_dir`` into ``results_dir/figures``.

    Combines :func:`~backdoor_curves.plots.tables.load_requested_tables` and
    :func:`draw_figures`; see them for the parameters and the errors raised. Returns the
    written files.
    """
    tables = load_requested_tables(results_dir, kinds)
    return draw_figures(tables, Path(results_dir) / "figures", formats)
