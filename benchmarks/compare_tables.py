"""Compare regenerated result tables with reference ones (timing columns aside).

    python benchmarks/compare_tables.py REFERENCE_DIR NEW_DIR [--rtol 1e-6]

For every ``results.csv`` under ``REFERENCE_DIR`` (e.g. ``results/mnist``), the table at the
same relative path under ``NEW_DIR`` must hold the same rows: the same ``task_key`` values
(rows matched on ``task_key`` and the per-row grid column ``C`` or ``beta``), equal text
columns, and numbers equal up to ``|new - ref| <= rtol * |ref| + 1e-12`` (NaN matching NaN).
The timing columns (``seconds``, ``*_seconds``) are skipped. Prints one line per table and
exits with 1 if any differs or is missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ABSOLUTE_FLOOR = 1e-12
"""Absolute tolerance for values that are zero in the reference."""


def _row_keys(table: pd.DataFrame) -> list[str]:
    keys = [column for column in ("task_key", "clf", "C", "gamma", "seed") if column in table]
    keys += [column for column in ("poison_fraction", "beta") if column in table]
    return keys


def compare_table(reference: Path, new: Path, rtol: float) -> list[str]:
    """Return the differences between two tables (empty when they agree)."""
    ref = pd.read_csv(reference)
    got = pd.read_csv(new)
    timing = [c for c in ref.columns if c == "seconds" or c.endswith("_seconds")]
    if list(ref.columns) != list(got.columns):
        return [f"columns differ: {list(ref.columns)} vs {list(got.columns)}"]
    if len(ref) != len(got):
        return [f"{len(ref)} rows vs {len(got)} rows"]
    keys = _row_keys(ref)
    ref = ref.sort_values(keys, kind="stable").reset_index(drop=True)
    got = got.sort_values(keys, kind="stable").reset_index(drop=True)
    problems = []
    for column in ref.columns:
        if column in timing:
            continue
        a, b = ref[column], got[column]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            same = (np.isnan(x) & np.isnan(y)) | (
                np.abs(x - y) <= rtol * np.abs(x) + ABSOLUTE_FLOOR
            )
            if not same.all():
                worst = np.nanmax(np.abs(x - y) / np.maximum(np.abs(x), ABSOLUTE_FLOOR))
                problems.append(f"{column}: {int((~same).sum())} rows differ (max rel {worst:.2e})")
        elif not a.fillna("<NA>").astype(str).equals(b.fillna("<NA>").astype(str)):
            problems.append(
                f"{column}: text differs in {int((a.astype(str) != b.astype(str)).sum())} rows"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    """Compare every table; return 0 when all agree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rtol", type=float, default=1e-6)
    args = parser.parse_args(argv)
    tables = sorted(args.reference.glob("**/results.csv"))
    if not tables:
        print(f"error: no results.csv under {args.reference}", file=sys.stderr)
        return 2
    failed = False
    for reference in tables:
        relative = reference.relative_to(args.reference)
        new = args.new / relative
        problems = ["missing"] if not new.exists() else compare_table(reference, new, args.rtol)
        failed |= bool(problems)
        print(f"{'DIFFERS' if problems else 'same   '} {relative}")
        for problem in problems:
            print(f"        {problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
