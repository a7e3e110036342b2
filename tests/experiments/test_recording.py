"""The problem and recording layers: data loading, folder names and variants, the figure step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.experiments import problem
from backdoor_curves.experiments.binary import slope
from backdoor_curves.experiments.config import mnist_config, smoke_config
from backdoor_curves.experiments.problem import DataRequest, load_pair
from backdoor_curves.experiments.recording import (
    data_variant,
    figures_folder,
    folder_variant,
    run_folder_name,
)

CONFIG = mnist_config()


def request(**changes: object) -> DataRequest:
    fields = {
        "dataset": "mnist",
        "pair": "7-1",
        "n_train": CONFIG.n_train,
        "n_test": CONFIG.n_test,
        "data_seed": CONFIG.data_seed,
    }
    return DataRequest(**(fields | changes))  # type: ignore[arg-type]  # test helper


@pytest.mark.parametrize(
    ("changes", "profile", "name"),
    [
        ({}, "paper", "7-1_badnet3"),
        ({}, "smoke", "7-1_badnet3_smoke"),
        ({"n_train": 60, "n_test": 30}, "paper", "7-1_badnet3_n60-30"),
        ({"n_train": 60}, "paper", "7-1_badnet3_n60-default"),
        ({"data_seed": 5}, "smoke", "7-1_badnet3_smoke_ds5"),
    ],
)
def test_run_folder_name_and_its_variant(changes: dict, profile: str, name: str) -> None:
    wanted = request(**changes)
    assert run_folder_name(wanted, TriggerSpec.badnet(3), CONFIG, profile) == name
    variant = data_variant(wanted, CONFIG, profile)
    assert folder_variant(name) == variant
    assert name == f"7-1_badnet3{variant}"
    assert figures_folder(Path("r"), variant) == Path(f"r/figures{variant}")


def test_invisible_trigger_folder_uses_the_eps_tag() -> None:
    assert run_folder_name(request(), TriggerSpec.invisible(75 / 255), CONFIG, "paper") == (
        "7-1_invisible75"
    )


@pytest.fixture
def decode_counter(monkeypatch: pytest.MonkeyPatch) -> list[DataRequest]:
    """The list of the requests actually decoded."""
    decoded: list[DataRequest] = []
    real = problem.load_pair_tasks

    def counting(dataset: str, pairs: list[tuple[int, int]], **options: object):  # type: ignore[no-untyped-def]
        decoded.extend((dataset, pair) for pair in pairs)  # type: ignore[misc]  # bookkeeping
        return real(dataset, pairs, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(problem, "load_pair_tasks", counting)
    return decoded


def test_load_pair_announces_the_embedded_fallback_only_when_verbose(
    decode_counter: list, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wanted = request(n_train=60, n_test=30)
    loud = load_pair(wanted, data_dir, verbose=True)
    assert "notice:" in capsys.readouterr().out  # the embedded-digits fallback is announced
    quiet = load_pair(wanted, str(data_dir))
    assert "notice:" not in capsys.readouterr().out
    np.testing.assert_array_equal(quiet.X_train, loud.X_train)
    assert len(decode_counter) == 2  # load_pair keeps nothing: the driver holds the pairs


@pytest.mark.e2e  # the driver run end to end
def test_in_process_slope_run_decodes_the_data_once(
    decode_counter: list, data_dir: Path, tmp_path: Path
) -> None:
    argv = [
        "-pair", "7-1", "-clf", "ridge", "--n-train", "60", "--n-test", "30", "--seeds", "1,2",
        "--C", "1", "--data-dir", str(data_dir), "--out-dir", str(tmp_path), "--quiet",
        "--n-jobs", "1", "--no-figures",
    ]  # fmt: skip
    assert slope.main(argv) == 0
    assert len(decode_counter) == 1


def smoke_slope_args(out_dir: Path, data_dir: Path, *extra: str) -> list[str]:
    return [
        "--profile", "smoke", "-pair", "7-1", "-clf", "ridge,svm", "--seeds", "1",
        "--data-dir", str(data_dir), "--out-dir", str(out_dir), "--quiet", "--n-jobs", "1",
        *extra,
    ]  # fmt: skip


@pytest.mark.e2e  # the driver run end to end
def test_figure_step_draws_only_the_tables_of_its_data_variant(
    tmp_path: Path, data_dir: Path
) -> None:
    out_dir = tmp_path / "results"
    assert slope.main(smoke_slope_args(out_dir, data_dir, "--no-figures")) == 0
    smoke_run = out_dir / "slope" / "7-1_badnet3_smoke"
    # The same table under a paper-data name, with a marker pair: must not reach the figures.
    other = pd.read_csv(smoke_run / "results.csv").assign(pair="9-8")
    (out_dir / "slope" / "9-8_badnet3").mkdir()
    other.to_csv(out_dir / "slope" / "9-8_badnet3" / "results.csv", index=False)

    assert slope.main([*smoke_slope_args(out_dir, data_dir), "--figures-only"]) == 0
    figures = out_dir / "figures_smoke"
    names = sorted(path.name for path in figures.iterdir())
    assert names, "no figures"
    assert any("7-1" in name for name in names)
    assert not any("9-8" in name for name in names)
    assert {Path(name).suffix for name in names} == {".pdf", ".png"}
    assert not (out_dir / "figures").exists()


def test_figure_step_without_tables_is_a_one_line_error(
    tmp_path: Path, data_dir: Path, one_line_error
) -> None:
    out_dir = tmp_path / "empty"
    argv = [*smoke_slope_args(out_dir, data_dir), "--figures-only"]
    one_line_error(slope.main, argv, "no result tables", out_dir / "figures_smoke")


@pytest.mark.e2e  # the driver run end to end
def test_curves_figures_follow_the_profile_suffix(tmp_path: Path, data_dir: Path) -> None:
    from backdoor_curves.experiments.curves import cli as curves  # noqa: PLC0415

    models = smoke_config().curves.models
    argv = [
        "--profile", "smoke", "--models", models[0].clf, "--betas", "0,0.5",
        "--poison-fractions", "0.1", "--seeds", "1", "--data-dir", str(data_dir),
        "--out-dir", str(tmp_path), "--quiet", "--n-jobs", "1",
    ]  # fmt: skip
    assert curves.main(argv) == 0
    assert (tmp_path / "curves" / "7-1_badnet6_smoke" / "results.csv").is_file()
    assert any((tmp_path / "figures_smoke").glob("curves_*.png"))
    assert not (tmp_path / "figures").exists()
