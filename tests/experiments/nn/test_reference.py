"""The committed network reference (``results/mnist/nn``): the quick profile over three seeds,
its derived tables consistent with it, and the statistical comparison on its real numbers."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backdoor_curves.experiments.nn.columns import IDENTITY, NETWORK_COLUMNS
from backdoor_curves.experiments.nn.comparison import compare_tables
from backdoor_curves.experiments.nn.config import get_network_config
from backdoor_curves.experiments.nn.tables import head_slope_table, seed_summary

REFERENCE = Path(__file__).resolve().parents[3] / "results" / "mnist" / "nn"


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "results.csv", dtype=str, keep_default_na=False)


def test_profiles_run_at_least_three_seeds() -> None:
    for name in ("quick", "paper"):
        assert len(get_network_config(name).seeds) >= 3


def test_reference_is_the_quick_profile_over_three_seeds(reference: pd.DataFrame) -> None:
    quick = get_network_config("quick")
    assert tuple(reference.columns[1:]) == NETWORK_COLUMNS  # after task_key
    seeds = reference.groupby(list(IDENTITY))["seed"].apply(lambda s: tuple(sorted(s, key=int)))
    assert set(seeds) == {tuple(str(s) for s in quick.seeds)}
    assert len(seeds) == len(quick.betas) * len(quick.epochs) * len(quick.fractions)
    assert (reference.loc[reference["beta"] == "0.0", "head_status"] == "ok").all()


def test_derived_tables_are_those_of_the_reference_table() -> None:
    table = pd.read_csv(REFERENCE / "results.csv")
    summary = pd.read_csv(REFERENCE / "summary.csv")
    recomputed = seed_summary(table)
    np.testing.assert_allclose(
        summary["backdoor_acc_mean"], recomputed["backdoor_acc_mean"], rtol=1e-12
    )
    heads = pd.read_csv(REFERENCE / "head_slope.csv")
    np.testing.assert_allclose(
        heads["head_slope_if"], head_slope_table(table)["head_slope_if"], rtol=1e-12
    )


def test_reference_against_itself_and_a_shifted_copy(reference: pd.DataFrame) -> None:
    same = compare_tables(reference, reference.copy(), REFERENCE)
    assert same.reproduces and same.bitwise
    # The cell whose clean accuracy varies least over seeds, moved by 0.1 on every seed: far
    # outside its seeds' spread; moved by a tenth of its spread: within it.
    numbers = reference.astype({"clean_acc": float})
    spread = numbers.groupby(list(IDENTITY))["clean_acc"].std()
    tightest = spread.idxmin()
    in_cell = (reference[list(IDENTITY)] == pd.Series(tightest, index=list(IDENTITY))).all(axis=1)
    for shift, reproduces in ((0.1, False), (max(spread.min(), 1e-3) / 10, True)):
        moved = reference.copy()
        moved.loc[in_cell, "clean_acc"] = (numbers.loc[in_cell, "clean_acc"] - shift).astype(str)
        result = compare_tables(moved, reference, REFERENCE)
        assert result.reproduces is reproduces and not result.bitwise
        assert len(result.outside) == (0 if reproduces else 1)
