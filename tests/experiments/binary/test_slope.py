"""The slope command line: flags to typed settings, nothing below it sees the namespace."""

from __future__ import annotations

from pathlib import Path

from backdoor_curves.attacks.triggers import TriggerKind
from backdoor_curves.experiments.binary.slope import build_parser, settings_from_args
from backdoor_curves.experiments.driver import FigureStep


def settings(*argv: str):
    return settings_from_args(build_parser().parse_args(list(argv)))


def test_flags_become_typed_settings() -> None:
    parsed = settings(
        "-pair", "7-1,3-0", "-clf", "svm", "-trigger_type", "invisible", "--trigger-eps", "0.1",
        "-ppoison", "0.2", "--C", "0.1,1", "--gamma", "0.5", "--run-name", "mine",
        "--no-figures", "--out-dir", "out", "--profile", "smoke",
    )  # fmt: skip
    assert parsed.pairs == "7-1,3-0" and parsed.classifiers == "svm"
    assert parsed.trigger_kind is TriggerKind.INVISIBLE and parsed.trigger_eps == 0.1
    assert parsed.poison_fraction == 0.2 and parsed.C_values == (0.1, 1.0)
    assert parsed.gamma_values == (0.5,) and parsed.run_name == "mine"
    assert parsed.figures is FigureStep.SKIP
    assert parsed.common.out_dir == Path("out") and parsed.common.profile == "smoke"


def test_defaults_leave_the_configuration_in_charge() -> None:
    parsed = settings()
    assert (parsed.pairs, parsed.classifiers, parsed.trigger_kind) == (None, None, None)
    assert parsed.C_values is None and not parsed.double_trigger
    assert parsed.figures is FigureStep.DRAW
    assert settings("--figures-only").figures is FigureStep.ONLY
