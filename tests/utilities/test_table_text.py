"""Table cells as text: exact float round trips, scalars only, unreadable tables named."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from backdoor_curves.utilities.table_text import (
    format_cell,
    normalise_cell,
    read_csv_rows,
    render_csv,
)


@pytest.mark.parametrize("value", [0.1, 1 / 3, 1e-300, -2.5e17, math.inf, 5e-324])
def test_floats_round_trip_exactly(value: float) -> None:
    assert float(format_cell(value)) == value
    assert math.isnan(float(format_cell(math.nan)))


def test_numpy_scalars_become_python_scalars_and_arrays_are_refused() -> None:
    assert type(normalise_cell("k", "c", np.float32(0.5))) is float
    assert normalise_cell("k", "c", np.bool_(True)) is True
    assert format_cell(None) == "" and format_cell(True) == "True"
    with pytest.raises(ValueError, match="task k: column 'c' holds a ndarray"):
        normalise_cell("k", "c", np.zeros(2))


def test_text_rows_are_read_back_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    rows = [["a,b", "0.1"], ['say "hi"', ""]]
    path.write_bytes(render_csv(["x", "y"], rows).encode())
    assert b"\r" not in path.read_bytes()
    assert read_csv_rows(path) == (["x", "y"], rows)


def test_unreadable_tables_are_named(tmp_path: Path) -> None:
    empty, binary = tmp_path / "empty.csv", tmp_path / "binary.csv"
    empty.write_text("")
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="empty.csv is empty"):
        read_csv_rows(empty)
    with pytest.raises(ValueError, match="binary.csv is not a readable CSV table"):
        read_csv_rows(binary)
