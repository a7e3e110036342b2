"""The manifest: producers per task across resumed runs; a corrupt one is never replaced."""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path

import numpy as np
import pytest

from backdoor_curves.utilities import manifest as manifest_module
from backdoor_curves.utilities.manifest import read_manifest, task_producers, write_manifest
from backdoor_curves.utilities.store import ResultStore


def test_a_resume_keeps_the_producer_of_old_rows(tmp_path: Path, monkeypatch) -> None:
    commits = iter(["a" * 40, "b" * 40])
    monkeypatch.setattr(
        manifest_module, "git_state", lambda: {"git_commit": next(commits), "git_dirty": False}
    )
    first = ResultStore(tmp_path, ("x",))
    first.record("task=1", [{"x": 1}])
    first.consolidate()
    first.write_manifest(config={}, data_source="d", timings={})
    resumed = ResultStore(tmp_path, ("x",))  # a later run: task 1 skipped, task 2 computed
    resumed.record("task=2", [{"x": 2}])
    resumed.consolidate()
    resumed.write_manifest(config={}, data_source="d", timings={})
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    producer = {key: manifest["producers"][i] for key, i in manifest["task_producer"].items()}
    assert producer["task=1"]["git_commit"] == "a" * 40
    assert producer["task=2"]["git_commit"] == "b" * 40
    assert manifest["git_commit"] == "b" * 40  # the run that wrote the manifest
    assert producer["task=1"]["versions"]["numpy"] == manifest["versions"]["numpy"]


def test_a_manifest_without_producers_gives_its_commit_to_its_rows(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, ("x",))
    store.record("task=1", [{"x": 1}])
    store.consolidate()
    legacy = {"git_commit": "c" * 40, "git_dirty": True, "versions": {"numpy": "0"}}
    (tmp_path / "manifest.json").write_text(json.dumps(legacy), encoding="utf-8")
    resumed = ResultStore(tmp_path, ("x",))
    resumed.record("task=2", [{"x": 2}])
    resumed.consolidate()
    resumed.write_manifest(config={}, data_source="d", timings={})
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    old = manifest["producers"][manifest["task_producer"]["task=1"]]
    assert old["git_commit"] == "c" * 40 and old["versions"] == {"numpy": "0"}


def test_tasks_of_no_recorded_run_get_an_unknown_producer() -> None:
    current = {"created": "now", "git_commit": "b", "git_dirty": False, "versions": {}}
    old = {"created": "then", "git_commit": "a", "git_dirty": False, "versions": {}}
    previous = {"producers": [old], "task_producer": {"k1": 0, "k3": 7}}
    producers, index = task_producers(previous, ["k1", "k2", "k3"], {"k2"}, current)
    assert producers[index["k1"]] == old and producers[index["k2"]] == current
    assert producers[index["k3"]] == dict.fromkeys(
        ("created", "git_commit", "git_dirty", "versions")
    )
    # Without a previous manifest, nothing is credited to an earlier run.
    producers, index = task_producers({}, ["k1", "k2"], {"k2"}, current)
    assert producers[index["k1"]]["git_commit"] is None and len(producers) == 2


@pytest.mark.parametrize(("text", "reason"), [("", "not readable JSON"), ("[1]", "a JSON list")])
def test_a_corrupt_manifest_is_named_and_kept(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=f"is {reason}.*rows of results.csv: restore it"):
        read_manifest(path, "results.csv")
    assert path.read_text(encoding="utf-8") == text
    assert read_manifest(tmp_path / "absent.json", "results.csv") == {}


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass(frozen=True)
class Setting:
    path: Path
    colour: Colour


def test_configurations_are_written_as_json(tmp_path: Path) -> None:
    config = {
        "setting": Setting(Path("a/b"), Colour.RED),
        "grid": np.array([1.5, 2.0]),
        "s": {2, 1},
    }
    path = write_manifest(
        tmp_path / "manifest.json", table_name="t.csv", columns=("x",), table_keys=["k"],
        recorded={"k"}, config=config, data_source="d", timings={"seconds": 1.0},
    )  # fmt: skip
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["config"] == {
        "setting": {"path": "a/b", "colour": "red"}, "grid": [1.5, 2.0], "s": [1, 2]
    }  # fmt: skip
    assert written["results"] == "t.csv" and written["columns"] == ["x"]
    with pytest.raises(ValueError, match="is not JSON-able"):
        write_manifest(
            tmp_path / "other.json", table_name="t.csv", columns=(), table_keys=[],
            recorded=set(), config={"f": object()}, data_source="d", timings={},
        )  # fmt: skip
    assert not (tmp_path / "other.json").exists()
