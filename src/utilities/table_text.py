"""Table cells as text: one formatting rule, CSV read and written verbatim.

Every cell of a results table is formatted to text once (:func:`format_cell`: floats by
``repr``, so they round-trip exactly; ``None`` as an empty field) and kept as that text
afterwards, so the bytes of a table depend only on its rows. :func:`read_csv_rows` reads a
table back with every cell kept verbatim; :func:`render_csv` writes text rows with LF line
endings and minimal quoting.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Scalar", "format_cell", "normalise_cell", "read_csv_rows", "render_csv"]

Scalar = bool | int | float | str | None
"""What a table cell holds before it is formatted."""


def normalise_cell(key: str, column: str, value: Any) -> Scalar:
    """Turn one row value into a JSON-able Python scalar, or raise naming the column."""
    if isinstance(value, np.generic) and isinstance(value, np.bool_ | np.number | np.str_):
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise ValueError(
        f"task {key}: column {column!r} holds a {type(value).__name__}; "
        "row values must be scalars (bool, int, float, str or None)"
    )


def format_cell(value: Scalar) -> str:
    """Format a scalar for the CSV; floats by ``repr`` so that they round-trip exactly."""
    if value is None:
        return ""
    # repr gives the shortest text that parses back to the same float ("nan", "inf" too).
    return repr(value) if isinstance(value, float) else str(value)


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Read a CSV file as text: its header and its rows, every cell kept verbatim.

    Raises
    ------
    ValueError
        If the file is empty, not UTF-8 text, or not CSV; the message names the file.
    """
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{path} is empty; expected at least a header line")
            return header, list(reader)
    except (UnicodeDecodeError, csv.Error) as err:
        raise ValueError(
            f"{path} is not a readable CSV table ({type(err).__name__}: {err}); move it away "
            "or delete it to recompute its cells"
        ) from None


def render_csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Render text rows as CSV with newline (LF) line endings and minimal quoting."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()
