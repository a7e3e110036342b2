"""Validating a curves run and deriving its deviation table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from backdoor_curves.experiments.config import smoke_config
from backdoor_curves.experiments.curves.cell import DEVIATION_COLUMNS
from backdoor_curves.experiments.curves.run import (
    CurvesSettings,
    check_betas,
    check_fractions,
    run_curves,
    write_deviation,
)
from backdoor_curves.experiments.driver import DriverSettings


@pytest.mark.parametrize(
    ("betas", "needle"),
    [
        ((0.0, 1.5), r"must lie in \[0, 1\], got \[1.5\]"),
        ((0.1, 0.5), "must be increasing and start at 0"),
        ((0.0, 0.5, 0.5), "must be increasing and start at 0"),
        ((0.0, float("nan")), r"must lie in \[0, 1\]"),
    ],
)
def test_bad_betas_are_refused(betas, needle) -> None:
    with pytest.raises(ValueError, match=needle):
        check_betas(betas)


def test_good_grids_pass_unchanged() -> None:
    assert check_betas((0.0, 0.25, 1.0)) == (0.0, 0.25, 1.0)
    assert check_fractions((0.01, 0.5)) == (0.01, 0.5)
    with pytest.raises(ValueError, match=r"poison fractions must lie in \(0, 1\), got \[1.0\]"):
        check_fractions((0.1, 1.0))


def test_the_deviation_table_is_the_rows_of_its_fraction(tmp_path) -> None:
    rows = {column: [0.0] * 4 for column in DEVIATION_COLUMNS}
    curves = pd.DataFrame(
        rows
        | {
            "poison_fraction": [0.1, 0.2, 0.1000000001, 0.1],
            "beta": [0, 1, 2, 1.5],
            "point": ["grid", "grid", "grid", "breakpoint"],  # breakpoints are rows too
        }
    )
    (tmp_path / "dev").mkdir()  # the driver checked it writable before the grid
    assert write_deviation(tmp_path / "dev", curves, 0.1, {"driver": "x"}, "digits")
    table = pd.read_csv(tmp_path / "dev" / "results.csv")
    assert list(table.columns) == list(DEVIATION_COLUMNS)
    assert table["beta"].tolist() == [0, 2, 1.5] and np.allclose(table["poison_fraction"], 0.1)
    assert table["point"].tolist() == ["grid", "grid", "breakpoint"]
    manifest = json.loads((tmp_path / "dev" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"] == {"driver": "x"} and manifest["data_source"] == "digits"
    assert not write_deviation(tmp_path / "none", curves, 0.3, {}, "digits")
    assert not (tmp_path / "none" / "results.csv").exists()


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"betas": (0.5, 1.0)}, "--betas must be increasing and start at 0"),
        ({"poison_fractions": (2.0,)}, "poison fractions must lie in"),
        ({"pairs": "1-1"}, "class pair 1-1"),
        ({"models": "forest"}, "unknown classifier 'forest'"),
    ],
)
def test_bad_settings_fail_before_anything_is_written(tmp_path, fields, needle) -> None:
    common = DriverSettings(smoke_config(), "smoke", tmp_path / "out")
    with pytest.raises(ValueError, match=needle):
        run_curves(CurvesSettings(common, **fields))
    assert not (tmp_path / "out").exists()
