"""The driver skeleton: checks before writing, one pool, folders handed back in order."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backdoor_curves.experiments.config import mnist_config, smoke_config
from backdoor_curves.experiments.driver import (
    DriverPlan,
    DriverSettings,
    RunFolder,
    recorded_runs,
)
from backdoor_curves.experiments.problem import DataRequest
from backdoor_curves.experiments.recording import RunSettings
from backdoor_curves.experiments.workspace import Workspace, WorkspaceFactory
from backdoor_curves.utilities.backends import ExecutionConfig
from backdoor_curves.utilities.data import PairTask

COLUMNS = ("value", "doubled")


REQUEST = DataRequest("mnist", "7-1", 4, 4, 0)


@dataclasses.dataclass(frozen=True)
class ToyTask:
    value: int
    data: DataRequest = REQUEST


CALLS: list[int] = []
_SERIALS = itertools.count()


def toy_worker(task: ToyTask, workspace: Workspace) -> list[dict]:
    # The workspace hands over the pair the driver loaded (no data folder is read).
    assert workspace.pair(task.data).source == "toy digits"
    CALLS.append(task.value)
    print(f"worker {task.value}")
    return [{"value": task.value, "doubled": 2 * task.value}]


@dataclasses.dataclass(frozen=True)
class Shared:
    workspace: Workspace
    group: list[int]
    serial: int  # which context this is (an id() may be reused once a context is dropped)


@dataclasses.dataclass(frozen=True)
class SharedMaker:
    workspaces: WorkspaceFactory

    def __call__(self, tasks: list[ToyTask]) -> Shared:
        return Shared(self.workspaces(tasks), [], next(_SERIALS))


def grouped_worker(task: ToyTask, shared: Shared) -> list[dict]:
    shared.group.append(task.value)
    CALLS.append(shared.serial)
    return [{"value": task.value, "doubled": len(shared.group)}]


def pair_task(source: str = "toy digits") -> PairTask:
    images = np.zeros((4, 1, 2, 2), dtype=np.float32)
    labels = np.arange(4) % 2
    return PairTask("mnist", (7, 1), images, labels, images, labels, source)


def folder(tmp_path: Path, name: str, values: tuple[int, ...], **extra) -> RunFolder:
    tasks = tuple(ToyTask(v) for v in values)
    return RunFolder(
        REQUEST,
        pair_task(),
        name,
        tmp_path / name,
        COLUMNS,
        tasks,
        announce=f"[toy] {name}",
        **extra,
    )


def plan(folders: list[RunFolder], *, one_stream: bool = True, **options) -> DriverPlan:
    # A data folder that does not exist: every pair must come from the workspace.
    settings = RunSettings(
        "toy", "smoke", "cpu", "/nonexistent", ExecutionConfig(n_jobs=1, quiet=True)
    )
    worker = options.pop("worker", toy_worker)
    return DriverPlan(tuple(folders), worker, settings, "toy", one_stream=one_stream, **options)


@pytest.fixture(autouse=True)
def no_calls():
    CALLS.clear()


def test_one_stream_announces_every_folder_then_records_them_all(tmp_path, capsys):
    folders = [folder(tmp_path, "a", (1, 2)), folder(tmp_path, "b", (3,))]
    recorded = list(recorded_runs(plan(folders)))
    assert [run.folder.label for run in recorded] == ["a", "b"]
    out = capsys.readouterr().out.splitlines()
    assert out == ["[toy] a", "[toy] b", "worker 1", "worker 2", "worker 3"]
    table = pd.read_csv(recorded[0].results_path)
    assert recorded[0].results_path == tmp_path / "a" / "results.csv"
    assert table["doubled"].tolist() == [2, 4]
    assert recorded[1].report.n_computed == 1
    assert [task["value"] for task in recorded[1].manifest["tasks"]] == [3]


def test_a_group_shares_one_context_made_from_the_workspaces(tmp_path):
    # Odd and even values form two groups; each group's tasks see one context, in order.
    folders = [folder(tmp_path, "a", (1, 2, 3, 4))]
    options = {"worker": grouped_worker, "group_context": SharedMaker}
    [run] = recorded_runs(plan(folders, group_by=lambda task: task.value % 2, **options))
    table = pd.read_csv(run.results_path).sort_values("value")
    assert table["doubled"].tolist() == [1, 1, 2, 2]  # the second task of each group sees 2
    assert len(set(CALLS)) == 2


def test_folders_one_after_the_other_are_handed_back_before_the_next_runs(tmp_path):
    folders = [folder(tmp_path, "a", (1,)), folder(tmp_path, "b", (2,))]
    runs = recorded_runs(plan(folders, one_stream=False))
    first = next(runs)
    assert first.folder.label == "a" and CALLS == [1]
    assert (tmp_path / "b").is_dir()  # checked writable up front, nothing in it yet
    assert not (tmp_path / "b" / "results.csv").exists()
    assert [run.folder.label for run in runs] == ["b"] and CALLS == [1, 2]


def test_a_table_of_other_data_is_refused_before_anything_is_written(tmp_path):
    other = folder(tmp_path, "b", (2,))
    other.run_dir.mkdir()
    pd.DataFrame({"data_source": ["full MNIST"]}).to_csv(other.run_dir / "results.csv")
    with pytest.raises(ValueError, match="holds results computed on 'full MNIST'"):
        next(recorded_runs(plan([folder(tmp_path, "a", (1,)), other])))
    assert CALLS == [] and not (tmp_path / "a").exists()


def test_an_unwritable_derived_folder_fails_before_any_task(tmp_path):
    (tmp_path / "blocked").write_text("a file where a folder goes")
    bad = folder(tmp_path, "a", (1,), derived_dirs=(tmp_path / "blocked" / "deviation",))
    with pytest.raises(ValueError, match="cannot be created"):
        next(recorded_runs(plan([bad])))
    assert CALLS == []


def test_settings_fill_the_configuration_defaults(tmp_path):
    config = smoke_config()
    settings = DriverSettings(config, "smoke", tmp_path, n_test=7)
    assert settings.request("3-0") == DataRequest(
        config.dataset, "3-0", config.n_train, 7, config.data_seed
    )
    assert settings.seeds_or((1, 2)) == (1, 2)
    assert dataclasses.replace(settings, seeds=(5,)).seeds_or((1, 2)) == (5,)
    assert settings.run_settings("slope").profile == "smoke"
    assert settings.reference_check("slope").report() == 0  # no reference: nothing compared


def test_the_reference_check_reads_the_settings_root(tmp_path):
    settings = DriverSettings(
        mnist_config(), "paper", tmp_path, reference=tmp_path / "ref", fail_on_difference=True
    )
    check = settings.reference_check("curves")
    assert check.reference_root == tmp_path / "ref" and check.fail_on_difference
    assert check.spec.kind == "curves"
