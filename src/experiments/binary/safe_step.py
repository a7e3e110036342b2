"""The safe-region step of the slope driver: ``safe_region.csv`` next to each run's table.

After a run's grid finishes, :func:`write_safe_regions` reads each run folder's
``results.csv`` and writes the safe region of its grid
(:func:`~backdoor_curves.analyses.safe_region.safe_region`: the cells whose mean clean accuracy
is within ``--safe-margin`` of the best and whose mean backdoor accuracy is at most
``--safe-level``, ``docs/safe_hyperparameters.md``) to ``safe_region.csv`` in the same folder,
atomically. The figures outline the safe cells from that file.

:func:`write_rule_evaluation` scores the slope-only rule against the regions of a results
root's slope tables (:mod:`backdoor_curves.analyses.rule_evaluation`) and writes the scores
(the ``safe_rule`` command, :mod:`backdoor_curves.experiments.binary.safe_rule`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from backdoor_curves.analyses.rule_evaluation import RuleEvaluation, evaluate_rule
from backdoor_curves.analyses.safe_region import (
    SAFE_REGION_FILENAME,
    SafetyCriteria,
    safe_region,
)
from backdoor_curves.experiments.recording import folder_variant
from backdoor_curves.utilities.atomic import atomic_write_text, check_writable

__all__ = [
    "read_slope_table",
    "safe_region_of_run",
    "slope_tables",
    "write_rule_evaluation",
    "write_safe_regions",
]

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
    for run_dir, region in regions:
        atomic_write_text(run_dir / SAFE_REGION_FILENAME, _csv_text(region))
    return [run_dir / SAFE_REGION_FILENAME for run_dir, _ in regions]


def _csv_text(table: pd.DataFrame) -> str:
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def slope_tables(root: Path) -> pd.DataFrame:
    """Concatenate the slope tables of a results root (its configuration's data, no suffix).

    Raises
    ------
    FileNotFoundError
        If ``root/slope`` holds no non-empty table.
    """
    folders = sorted(path.parent for path in (Path(root) / "slope").glob("*/results.csv"))
    frames = [read_slope_table(folder) for folder in folders if not folder_variant(folder.name)]
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        raise FileNotFoundError(
            f"no slope tables under {str(Path(root) / 'slope')!r}; run the slope driver first "
            "(e.g. ./run_mnist.sh all) or give the folder that holds slope/"
        )
    return pd.concat(frames, ignore_index=True)


def write_rule_evaluation(
    root: Path, criteria: SafetyCriteria, surrogate: str, out: Path
) -> tuple[RuleEvaluation, list[Path]]:
    """Score the slope-only rule on a results root; write ``scores.csv`` and the summaries.

    Writes ``out/scores.csv`` (one row per evaluation, group and seed), ``out/summary.csv``
    (per evaluation and attacker trigger) and ``out/summary_by_model.csv``; every table is
    computed before the first is written.

    Returns
    -------
    RuleEvaluation, list of Path
        The evaluation and the written files.
    """
    evaluation = evaluate_rule(slope_tables(root), criteria, surrogate)
    files = {
        "scores.csv": evaluation.scores,
        "summary.csv": evaluation.summary(),
        "summary_by_model.csv": evaluation.summary(("clf",)),
    }
    check_writable(out)
    for name, table in files.items():
        atomic_write_text(out / name, _csv_text(table))
    return evaluation, [out / name for name in files]
