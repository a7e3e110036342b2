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


@dataclass(frozen=True)
class Legacy:
    """A task of an older run whose key named its grid (``grid``) besides its cell (``seed``)."""

    grid: str
    seed: int


def legacy_rows(task: Legacy) -> list[dict[str, object]]:
    return [{"seed": task.seed, "value": f"{task.grid}"}]


def test_cells_stored_twice_by_older_runs_keep_the_newest_with_one_notice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "run"
    columns = ("seed", "value")
    for grid in ("old", "new"):  # two runs of the same cells under different task keys
        store = ResultStore(folder, columns)  # an older store: no identity, both kept
        run_grids(
            [Grid([Legacy(grid, s) for s in (1, 2)], store, ManifestInfo({}, "generated"))],
            legacy_rows,
            ExecutionConfig(quiet=True),
        )
    assert len(ResultStore(folder, columns).load()) == 4
    # Make the "old" run the newer one by its producer's date: the date decides, not the order.
    manifest = json.loads((folder / "manifest.json").read_text())
    old_keys = [key for key in manifest["task_producer"] if key.startswith("grid=old")]
    manifest["producers"].append({**manifest["producers"][0], "created": "2999-01-01T00:00:00"})
    for key in old_keys:
        manifest["task_producer"][key] = len(manifest["producers"]) - 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    store = ResultStore(folder, columns, identity=("seed",))
    run_grids(
        [Grid([Legacy("old", 1), Legacy("old", 2)], store, ManifestInfo({}, "generated"))],
        legacy_rows,
        ExecutionConfig(quiet=True),
    )
    table = store.load()
    assert sorted(zip(table["seed"], table["value"], strict=True)) == [(1, "old"), (2, "old")]
    (notice,) = [line for line in capsys.readouterr().err.splitlines() if line]
    assert notice.startswith("notice: ") and "2 older copy(ies)" in notice
    assert "results.csv" in notice
    # A later run has nothing left to drop.
    run_grids([Grid([Legacy("old", 1)], store)], legacy_rows, ExecutionConfig(quiet=True))
    assert store.n_duplicates_dropped == 0 and "notice" not in capsys.readouterr().err


def test_a_journal_row_replaces_the_table_copy_of_its_cell(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    store = ResultStore(folder, ("seed", "value"), identity=("seed",))
    run_grids([Grid([Legacy("a", 1)], store)], legacy_rows, ExecutionConfig(quiet=True))
    store.record("grid=b|seed=1", [{"seed": 1, "value": "b"}])
    assert list(store.load()["value"]) == ["b"]


def test_identity_columns_must_be_columns(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"identity columns \['C'\] are not columns"):
        ResultStore(tmp_path, ("seed", "value"), identity=("seed", "C"))
