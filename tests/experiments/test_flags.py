"""The shared flags become typed settings; the command line is the only place that parses."""

from __future__ import annotations

from pathlib import Path

import pytest

from backdoor_curves.experiments.driver import FigureStep
from backdoor_curves.experiments.flags import (
    add_common_arguments,
    add_dataset_arguments,
    add_feature_arguments,
    add_reference_arguments,
    driver_settings_from_args,
    figure_step_from_args,
)
from backdoor_curves.utilities.backends import Backend
from backdoor_curves.utilities.commands import DriverParser


def parser(*, features: bool = True, reference: bool = True) -> DriverParser:
    parser = DriverParser(prog="driver")
    add_dataset_arguments(parser)
    add_common_arguments(parser, default_out="runs/<dataset>")
    if reference:
        add_reference_arguments(parser)
    if features:
        add_feature_arguments(parser)
    parser.add_argument("--no-figures", action="store_true")
    return parser


def test_driver_settings_of_the_shared_flags(tmp_path: Path) -> None:
    reference = tmp_path / "ref"
    reference.mkdir()
    argv = [
        "--dataset", "cifar10", "--profile", "smoke", "--data-dir", "D", "--n-test", "9",
        "--seeds", "3,4", "--device", "cpu", "--n-jobs", "2", "--quiet", "--weights", "w.pth",
        "--reference", str(reference), "--fail-on-difference",
    ]  # fmt: skip
    settings = driver_settings_from_args(parser().parse_args(argv))
    assert (settings.config.dataset, settings.profile) == ("cifar10", "smoke")
    assert settings.out_dir == Path("runs") / settings.config.results_name
    assert (settings.data_dir, settings.n_train, settings.n_test) == ("D", None, 9)
    assert settings.seeds == (3, 4) and settings.device == "cpu" and settings.quiet
    assert settings.execution.n_jobs == 2 and settings.execution.backend is Backend.LOKY
    assert settings.features.weights == Path("w.pth") and settings.features.device == "cpu"
    assert settings.reference == reference and settings.fail_on_difference
    with pytest.raises(FileNotFoundError, match="--reference .*missing: no such folder"):
        driver_settings_from_args(parser().parse_args(["--reference", str(tmp_path / "missing")]))


def test_reference_defaults_to_the_results_and_none_turns_it_off() -> None:
    default = driver_settings_from_args(parser().parse_args([]))
    assert default.reference == Path(default.config.results_dir)
    off = driver_settings_from_args(parser().parse_args(["--reference", "None"]))
    assert off.reference is None


def test_a_driver_without_reference_or_feature_flags() -> None:
    args = parser(features=False, reference=False).parse_args(["--device", "cpu", "--quiet"])
    settings = driver_settings_from_args(args, features=False, reference=False)
    assert settings.reference is None and not settings.fail_on_difference
    assert settings.features.weights is None
    assert (settings.features.device, settings.features.quiet) == ("cpu", True)


def test_an_invalid_execution_combination_is_refused() -> None:
    args = parser().parse_args(["--scheduler", "tcp://h:1"])
    with pytest.raises(ValueError, match="needs backend 'dask'"):
        driver_settings_from_args(args)


def test_figure_step_of_the_figure_flags() -> None:
    assert figure_step_from_args(parser().parse_args([])) is FigureStep.DRAW
    assert figure_step_from_args(parser().parse_args(["--no-figures"])) is FigureStep.SKIP
    only = parser()
    only.add_argument("--figures-only", action="store_true")
    assert figure_step_from_args(only.parse_args(["--figures-only"])) is FigureStep.ONLY
