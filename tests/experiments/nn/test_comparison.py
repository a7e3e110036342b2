"""The statistical comparison of a network run with the reference: bit for bit, within the
seeds' spread, outside it, and the cases where nothing can be said."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from backdoor_curves.experiments.nn.comparison import (
    ALPHA,
    compare_tables,
    compare_with_reference,
)

WHERE = Path("results/mnist/nn")
SEEDS = (100, 101, 110)


def table(seeds=SEEDS, shift: dict | None = None, source: str = "mnist-embedded") -> pd.DataFrame:
    """Rows of 2 betas x 2 epochs x seeds; values with a seed-to-seed spread, as text."""
    rng = np.random.default_rng(0)
    rows = []
    for beta in (0.0, 0.1):
        for epochs in (1, 3):
            for seed in seeds:
                noise = rng.normal(size=3) * (0.02, 0.05, 0.5)
                values = np.array([0.9, 0.1 + 3 * beta, 8.0 - 20 * beta]) + noise
                for column, delta in (shift or {}).get((beta, epochs), {}).items():
                    values[["clean_acc", "backdoor_acc", "backdoor_ce"].index(column)] += delta
                rows.append(
                    {
                        "data_source": source, "arch": "resnet18", "beta": beta,
                        "epochs": epochs, "poison_fraction": 0.05, "seed": seed,
                        "n_test": 1000, "clean_acc": values[0], "backdoor_acc": values[1],
                        "backdoor_ce": values[2],
                    }
                )  # fmt: skip
    return pd.DataFrame(rows).astype(str)


def test_identical_tables_reproduce_bit_for_bit() -> None:
    result = compare_tables(table(), table(), WHERE)
    assert result.reproduces and result.bitwise and result.n_cells == 4
    [line] = result.lines()
    assert line.startswith(f"reproduces the reference {WHERE} bit for bit (4 cells")
    assert "expected only on the same machine" in line


def rerun(shift=None) -> pd.DataFrame:
    """Another machine: the same cells, other rounding (another draw of the seed noise)."""
    other = table(shift=shift)
    numbers = other[["clean_acc", "backdoor_acc", "backdoor_ce"]].astype(float)
    noise = np.random.default_rng(7).normal(size=numbers.shape) * (0.02, 0.05, 0.5)
    other[["clean_acc", "backdoor_acc", "backdoor_ce"]] = (numbers + noise).astype(str)
    return other


def test_a_rerun_within_the_spread_reproduces_statistically() -> None:
    result = compare_tables(rerun(), table(), WHERE)
    assert result.reproduces and not result.bitwise and not result.outside
    [line] = result.lines()
    assert "statistically (4 cells, seeds 100, 101, 110 here, 100, 101, 110 there)" in line
    assert "lies within the seeds' spread" in line
    assert "equal bits are expected only on the same machine" in line
    assert result.bound == pytest.approx(scipy.stats.t.ppf(1 - ALPHA / 2, 4))


def test_a_cell_moved_beyond_the_spread_differs() -> None:
    moved = rerun(shift={(0.1, 3): {"backdoor_acc": -0.5}})
    result = compare_tables(moved, table(), WHERE)
    assert not result.reproduces and result.differs
    assert [cell.cell for cell in result.outside] == [
        "arch=resnet18 epochs=3 poison_fraction=0.05 beta=0.1"
    ]
    lines = result.lines()
    assert lines[0].startswith(f"DIFFERS from the reference {WHERE}: 1 of 4 cells")
    assert "BA mean" in lines[1]
    assert result.report(lambda line: None, fail_on_difference=True) == 1
    assert result.report(lambda line: None, fail_on_difference=False) == 0


def test_equal_seed_values_use_one_test_image_as_the_spread() -> None:
    flat = table().assign(clean_acc="1.0")
    one_image_less = flat.assign(clean_acc="0.999")
    assert compare_tables(one_image_less, flat, WHERE).reproduces
    assert not compare_tables(flat.assign(clean_acc="0.9"), flat, WHERE).reproduces


def test_one_seed_on_each_side_is_not_judged() -> None:
    result = compare_tables(rerun().query("seed == '100'"), table().query("seed == '100'"), WHERE)
    assert not result.reproduces and not result.differs
    assert "gives no spread" in result.lines()[0]


def test_other_data_or_no_reference_is_not_compared(tmp_path: Path) -> None:
    result = compare_tables(table(source="full MNIST"), table(), WHERE)
    assert result.n_cells == 0 and "this run used ['full MNIST']" in result.lines()[0]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    table().to_csv(run_dir / "results.csv", index=False)
    missing = compare_with_reference(run_dir, tmp_path / "reference")
    assert "no reference table" in missing.lines()[0]
    assert "into the reference folder" in compare_with_reference(run_dir, run_dir).lines()[0]
