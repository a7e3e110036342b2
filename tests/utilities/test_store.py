"""Faults in a results folder are said, never repaired silently: manifest, table, producers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from backdoor_curves.utilities.backends import ExecutionConfig
from backdoor_curves.utilities.grid import Grid, ManifestInfo, run_grids
from backdoor_curves.utilities.store import ResultStore


@dataclass(frozen=True)
class Cell:
    seed: int


def compute(cell: Cell) -> list[dict[str, int]]:
    return [{"seed": cell.seed, "value": 2 * cell.seed}]


def run(folder: Path, seeds: range, calls: list[int] | None = None) -> None:
    def counted(cell: Cell) -> list[dict[str, int]]:
        if calls is not None:
            calls.append(cell.seed)
        return compute(cell)

    store = ResultStore(folder, ("seed", "value"))
    grid = Grid([Cell(s) for s in seeds], store, ManifestInfo({"grid": "cells"}, "generated"))
    run_grids([grid], counted, ExecutionConfig(quiet=True))


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "not readable JSON"), ("{not json", "not readable JSON"), ("[1, 2]", "a JSON list")],
)
def test_a_corrupt_manifest_stops_the_run_before_any_task(
    tmp_path: Path, text: str, reason: str
) -> None:
    run(tmp_path, range(1, 3))
    table = (tmp_path / "results.csv").read_bytes()
    (tmp_path / "manifest.json").write_text(text)
    calls: list[int] = []
    with pytest.raises(ValueError, match="manifest.json is " + reason) as raised:
        run(tmp_path, range(1, 5), calls)
    assert str(tmp_path / "manifest.json") in str(raised.value)
    assert calls == []  # nothing computed
    assert (tmp_path / "manifest.json").read_text() == text  # nothing replaced
    assert (tmp_path / "results.csv").read_bytes() == table


def test_a_binary_garbage_table_is_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "results.csv").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="results.csv is not a readable CSV table") as raised:
        run(tmp_path, range(1, 3))
    assert str(tmp_path / "results.csv") in str(raised.value)


def test_rows_whose_manifest_was_deleted_are_not_credited_to_the_new_run(tmp_path: Path) -> None:
    run(tmp_path, range(1, 3))
    (tmp_path / "manifest.json").unlink()
    run(tmp_path, range(1, 4))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    producer = {k: manifest["producers"][i] for k, i in manifest["task_producer"].items()}
    assert producer["seed=1"]["created"] is None and producer["seed=1"]["git_commit"] is None
    assert producer["seed=3"]["created"] == manifest["created"]
