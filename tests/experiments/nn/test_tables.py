"""Tables derived from results.csv: means and spreads over seeds, the head-slope table,
the head's curve with its tangent, and the Spearman ranking."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from backdoor_curves.experiments.nn.columns import HEAD_BETAS, head_curve_column
from backdoor_curves.experiments.nn.tables import (
    head_curve_table,
    head_slope_ranking,
    head_slope_table,
    seed_summary,
)


def results(seeds=(100, 101, 110)) -> pd.DataFrame:
    """A results table: betas 0, 0.01, 1; epochs 1, 3; p 0.05; the head columns at beta 0."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in seeds:
        for epochs in (1, 3):
            slope = -10.0 * epochs - seed / 10
            for beta in (0.0, 0.01, 1.0):
                row = {
                    "dataset": "mnist", "arch": "resnet18", "trigger_eps": np.nan,
                    "beta": beta, "epochs": epochs, "poison_fraction": 0.05, "seed": seed,
                    "clean_acc": rng.uniform(0.8, 1), "backdoor_acc": rng.uniform(0, 1),
                    "clean_ce": rng.uniform(0, 1), "backdoor_ce": 9.0 + slope * beta,
                    "head_status": "ok" if beta == 0 else "computed at beta = 0 only",
                    "head_slope_if": slope if beta == 0 else np.nan,
                    "head_slope_fd": slope * 1.001 if beta == 0 else np.nan,
                    "head_tangent_valid_until": 1e-3, "head_backdoor_ce": 9.0,
                    "head_damping": 0.05,
                }  # fmt: skip
                for b in HEAD_BETAS:
                    row[head_curve_column(b)] = 9.0 + slope * b + b**2
                rows.append(row)
    return pd.DataFrame(rows)


def test_seed_summary_is_mean_and_sample_sd_per_cell() -> None:
    table = results()
    summary = seed_summary(table)
    assert len(summary) == 6 and (summary["n_seeds"] == 3).all()
    assert (summary["seeds"] == "100 101 110").all()
    cell = table[(table["beta"] == 0.01) & (table["epochs"] == 3)]
    row = summary[(summary["beta"] == 0.01) & (summary["epochs"] == 3)].iloc[0]
    assert row["backdoor_acc_mean"] == pytest.approx(cell["backdoor_acc"].mean())
    assert row["backdoor_acc_sd"] == pytest.approx(np.std(cell["backdoor_acc"], ddof=1))
    assert np.isnan(seed_summary(results(seeds=(100,)))["clean_acc_sd"]).all()


def test_head_slope_table_sets_the_head_against_the_networks_first_step() -> None:
    heads = head_slope_table(results())
    assert len(heads) == 6
    row = heads[(heads["epochs"] == 3) & (heads["seed"] == 101)].iloc[0]
    assert row["network_beta_1"] == 0.01
    assert row["network_slope"] == pytest.approx(-40.1)  # the backdoor CE is linear here
    assert row["head_slope_ratio"] == pytest.approx(1 / 1.001)


def test_head_curve_table_holds_the_curve_and_its_tangent() -> None:
    curve = head_curve_table(results())
    one = curve[(curve["seed"] == 100) & (curve["epochs"] == 1)]
    assert list(one["beta"]) == [0.0, *HEAD_BETAS]
    np.testing.assert_allclose(one["tangent_ce"], 9.0 - 20.0 * one["beta"])
    np.testing.assert_allclose(one["head_backdoor_ce"], 9.0 - 20.0 * one["beta"] + one["beta"] ** 2)


def test_ranking_is_spearman_of_predicted_and_measured_learning() -> None:
    heads = head_slope_table(results())
    ranking = head_slope_ranking(heads).set_index("measure")
    first_step = ranking.loc["first step of the backdoor-CE curve"]
    assert first_step["n_networks"] == 6
    assert first_step["spearman"] == pytest.approx(1.0)  # the network step equals the slope
    mean_ba = ranking.loc["mean BA over beta > 0"]
    want = scipy.stats.spearmanr(-heads["head_slope_if"], heads["network_mean_ba"]).statistic
    assert mean_ba["spearman"] == pytest.approx(want)
    too_few = head_slope_ranking(heads.iloc[:2])
    assert too_few["spearman"].isna().all() and (too_few["n_networks"] == 2).all()
