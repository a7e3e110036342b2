"""The safe-region step of the slope driver: ``safe_region.csv`` next to each run's table.

After a run's grid finishes, :func:`write_safe_regions` reads each run folder's
``results.csv`` and writes the safe region of its grid
(:func:`~backdoor_curves.analyses.safe_region.safe_region`: the cells whose mean clean accuracy
is within ``--safe-margin`` of the best and whose mean backdoor accuracy is at most
``--safe-level``, ``docs/safe_hyperparameters.md``) to ``safe_region.csv`` in the same folder,
atomically. The figures outline the safe cells from that file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from backdoor_curves.analyses.safe_region import (
    SAFE_REGION_FILENAME,
    SafetyCriteria,
    safe_region,
)
from backdoor_curves.utilities.atomic import atomic_write_text

__all__ = ["read_slope_table", "safe_region_of_run", "write_safe_regions"]

_TEXT_COLUMNS = ("dataset", "data_source", "pair", "trigger", "clf", "status")


def read_slope_table(run_dir: Path) -> pd.DataFrame:
    """Read a run folder's ``results.csv`` with its text columns as strings (``"7-1"``)."""
    path = Path(run_dir) / "results.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no slope table {str(path)!r}; run the slope driver first")
    header = pd.read_csv(path, nrows=0).columns
    return pd.read_csv(path, dtype={name: "str" for name in _TEXT_COLUMNS if name in header})


def safe_region_of_run(run_dir: Path, criteria: SafetyCriteria) -> pd.DataFrame:
    """Return the safe region of one run folder's grid.

    Raises
    ------
    ValueError
        If the table has no cell (an empty grid) or lacks a needed column.
    """
    try:
        return safe_region(read_slope_table(run_dir), criteria)
    except ValueError as error:
        raise ValueError(f"{Path(run_dir) / 'results.csv'}: {error}") from error


def write_safe_regions(run_dirs: Sequence[Path], criteria: SafetyCriteria) -> list[Path]:
    """Write ``safe_region.csv`` in every run folder; every region is computed first.

    A folder whose grid is empty fails before any file is written, so a failure leaves every
    ``safe_region.csv`` as it was.

    Returns
    -------
    list of Path
        The written files, in the order of ``run_dirs``.
    """
    regions = [(Path(run_dir), safe_region_of_run(run_dir, criteria)) for run_dir in run_dirs]
    written = []
    for run_dir, region in regions:
        buffer = io.StringIO()
        region.to_csv(buffer, index=False, lineterminator="\n")
        atomic_write_text(run_dir / SAFE_REGION_FILENAME, buffer.getvalue())
        written.append(run_dir / SAFE_REGION_FILENAME)
    return written
