"""The learning-curves command line: flags to typed settings."""

from __future__ import annotations

from backdoor_curves.experiments.curves.cli import build_parser, settings_from_args
from backdoor_curves.experiments.driver import FigureStep


def test_flags_become_typed_settings() -> None:
    argv = ["-pair", "7-1", "-clf", "svm,ridge", "--betas", "0,0.5", "-ppoison", "0.1,0.2"]
    settings = settings_from_args(build_parser().parse_args([*argv, "--trigger-size", "4"]))
    assert (settings.pairs, settings.models, settings.trigger_size) == ("7-1", "svm,ridge", 4)
    assert settings.betas == (0.0, 0.5) and settings.poison_fractions == (0.1, 0.2)
    assert settings.figures is FigureStep.DRAW
    assert settings.common.reference is not None  # compared with results/<dataset> by default
    skip = settings_from_args(build_parser().parse_args(["--no-figures"]))
    assert skip.figures is FigureStep.SKIP and skip.betas is None
