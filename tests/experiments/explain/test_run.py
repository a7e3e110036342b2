"""Validating and planning an explanation run from typed settings."""

from __future__ import annotations

import pytest

from backdoor_curves.experiments.config import smoke_config
from backdoor_curves.experiments.driver import DriverSettings
from backdoor_curves.experiments.explain.run import (
    DEFAULT_CLASSIFIERS,
    ExplainSettings,
    check_settings,
    explain_tasks,
    run_explain,
)


def explain_settings(tmp_path, **fields) -> ExplainSettings:
    common = DriverSettings(smoke_config(), "smoke", tmp_path / "out")
    return ExplainSettings(common, **{"n_images": 4, "n_show": 2, **fields})


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"k": 0}, "--k must be >= 1, got 0"),
        ({"n_images": 0, "n_show": 0}, "--n-images must be >= 1, got 0"),
        ({"n_show": 5}, r"--n-show must be in \[1, --n-images=4\], got 5"),
        ({"C_values": (0.0,)}, "--C values must be positive finite numbers"),
        ({"example_C": (1.0,)}, "--example-C takes two C values"),
        ({"example_C": (1.0, -2.0)}, "--example-C values must be positive"),
    ],
)
def test_bad_counts_and_grids_are_refused(tmp_path, fields, needle) -> None:
    with pytest.raises(ValueError, match=needle):
        check_settings(explain_settings(tmp_path, **fields))


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"gamma": -1.0}, "--gamma must be a positive finite number, got -1.0"),
        ({"classifiers": "forest"}, "unknown classifier 'forest'"),
        ({"k": 10_000}, "--k 10000 is larger than the training set"),
        ({"pairs": "4-4"}, "class pair 4-4"),
    ],
)
def test_bad_settings_fail_before_anything_is_written(tmp_path, fields, needle) -> None:
    with pytest.raises(ValueError, match=needle):
        run_explain(explain_settings(tmp_path, **fields))
    assert not (tmp_path / "out").exists()


def test_tasks_are_seed_major_with_the_middle_gamma(tmp_path) -> None:
    settings = explain_settings(tmp_path, k=3)
    config = settings.common.config
    request = settings.common.request("7-1")
    tasks = explain_tasks(settings, request, "pixels", 0.25)
    assert [(t.seed, t.clf) for t in tasks] == [
        (seed, clf) for seed in config.seeds for clf in DEFAULT_CLASSIFIERS
    ]
    assert {t.gamma for t in tasks if t.clf == "svm-rbf"} == {0.25}
    assert {t.gamma for t in tasks if t.clf != "svm-rbf"} == {None}
    assert all((t.k, t.n_images, t.data) == (3, 4, request) for t in tasks)
