"""The slope driver's safe-region step: every region computed before any file is written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from generated_data import SLOPE_CELLS as LINEAR
from generated_data import slope_rows

from backdoor_curves.analyses.safe_region import SafetyCriteria
from backdoor_curves.experiments.binary.safe_step import write_safe_regions


def run_folder(root: Path, name: str, rows: list[dict]) -> Path:
    folder = root / name
    folder.mkdir()
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    return folder


def test_regions_are_written_next_to_their_tables(tmp_path: Path) -> None:
    first = run_folder(tmp_path, "7-1_badnet3", slope_rows("svm", LINEAR))
    second = run_folder(tmp_path, "3-0_badnet3", slope_rows("svm", LINEAR, pair="3-0"))
    written = write_safe_regions([first, second], SafetyCriteria(0.02, 0.1))
    assert written == [first / "safe_region.csv", second / "safe_region.csv"]
    region = pd.read_csv(written[1], dtype={"pair": str})
    assert region["pair"].tolist() == ["3-0"] * 4
    assert region.loc[region["safe"], "C"].tolist() == [0.1, 1.0]


def test_an_empty_grid_writes_nothing(tmp_path: Path) -> None:
    full = run_folder(tmp_path, "7-1_badnet3", slope_rows("svm", LINEAR))
    empty = run_folder(tmp_path, "3-0_badnet3", slope_rows("svm", LINEAR)[:0])
    pd.DataFrame(columns=pd.DataFrame(slope_rows("svm", LINEAR)).columns).to_csv(
        empty / "results.csv", index=False
    )
    with pytest.raises(ValueError, match="3-0_badnet3/results.csv: .*no grid cells"):
        write_safe_regions([full, empty], SafetyCriteria())
    assert not (full / "safe_region.csv").exists()
    assert not (empty / "safe_region.csv").exists()
