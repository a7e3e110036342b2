"""Planning a slope run from typed settings: triggers, tasks, and errors before any write."""

from __future__ import annotations

import re

import pytest

from backdoor_curves.attacks.triggers import TriggerKind, TriggerSpec
from backdoor_curves.experiments.binary.slope_run import (
    SlopeSettings,
    plan_triggers,
    run_slope,
    slope_tasks,
)
from backdoor_curves.experiments.config import get_config, mnist_config, smoke_config
from backdoor_curves.experiments.driver import DriverSettings


def slope_settings(tmp_path, config=None, **fields) -> SlopeSettings:
    config = config or smoke_config()
    return SlopeSettings(DriverSettings(config, "smoke", tmp_path / "out"), **fields)


def test_the_main_runs_then_the_double_trigger_runs(tmp_path) -> None:
    config = mnist_config()
    plan = plan_triggers(
        slope_settings(tmp_path, config, pairs="7-1,3-0", also_double_trigger="7-1"), config
    )
    assert plan == [
        ("7-1", TriggerSpec.badnet(3)),
        ("3-0", TriggerSpec.badnet(3)),
        ("7-1", TriggerSpec.badnet(6)),
    ]


def test_trigger_flags_override_the_configuration(tmp_path) -> None:
    config = get_config("imagenette")
    invisible = slope_settings(tmp_path, config, pairs="6-0", trigger_eps=0.1)
    assert plan_triggers(invisible, config) == [("6-0", TriggerSpec.invisible(0.1))]
    badnet = slope_settings(tmp_path, config, trigger_kind=TriggerKind.BADNET, trigger_size=5)
    assert {trigger for _, trigger in plan_triggers(badnet, config)} == {TriggerSpec.badnet(5)}


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"trigger_eps": 0.1}, "--trigger-eps applies to the invisible trigger only"),
        ({"also_double_trigger": "7-1", "run_name": "x"}, "cannot be combined"),
        ({"pairs": "7-7"}, "class pair 7-7"),
        ({"also_double_trigger": "1-1"}, "--also-double-trigger"),
    ],
)
def test_bad_trigger_plans_name_the_flag(tmp_path, fields, needle) -> None:
    with pytest.raises(ValueError, match=needle):
        plan_triggers(slope_settings(tmp_path, **fields), smoke_config())


def test_tasks_keep_the_seeds_of_one_model_together(tmp_path) -> None:
    config = smoke_config()
    settings = slope_settings(tmp_path, classifiers="svm-rbf,ridge", gamma_values=(0.1, 0.2))
    request = settings.common.request("7-1")
    tasks = slope_tasks(settings, request, "pixels", config.main_trigger, 0.1)
    keys = [(task.clf, task.gamma, task.seed) for task in tasks]
    seeds = config.seeds
    assert keys == [
        *(("svm-rbf", 0.1, seed) for seed in seeds),
        *(("svm-rbf", 0.2, seed) for seed in seeds),
        *(("ridge", None, seed) for seed in seeds),
    ]
    assert all(task.C_values == config.slope_grid.C_values(task.clf) for task in tasks)


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"poison_fraction": 1.0}, "-ppoison must be in (0, 1), got 1.0"),
        ({"C_values": (1.0, -1.0)}, "C values must lie in (0, 1e+08], got -1"),
        ({"C_values": (1e300,)}, "C values must lie in (0, 1e+08], got 1e+300"),
        ({"classifiers": "svm", "gamma_values": (0.1,)}, "--gamma applies to svm-rbf only"),
        ({"classifiers": "forest"}, "unknown classifier 'forest'"),
    ],
)
def test_bad_settings_fail_before_anything_is_written(tmp_path, fields, needle) -> None:
    with pytest.raises(ValueError, match=re.escape(needle)):
        run_slope(slope_settings(tmp_path, **fields))
    assert not (tmp_path / "out").exists()
