"""One writer per results folder: the lock, and two concurrent runs into one folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from backdoor_curves.utilities.backends import ExecutionConfig
from backdoor_curves.utilities.grid import run_grid
from backdoor_curves.utilities.locks import LOCK_FILENAME, folder_lock
from backdoor_curves.utilities.store import ResultStore

HOLD = """
import sys, time
from pathlib import Path
from backdoor_curves.utilities.locks import folder_lock
with folder_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""

SUBGRID = """
import sys, time
from dataclasses import dataclass
from pathlib import Path
from backdoor_curves.utilities.backends import ExecutionConfig
from backdoor_curves.utilities.grid import run_grid
from backdoor_curves.utilities.store import ResultStore

@dataclass(frozen=True)
class Cell:
    seed: int

def compute(cell):
    time.sleep(0.004)
    return [{"seed": cell.seed, "value": cell.seed * 2}]

folder, first, last = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
store = ResultStore(folder, ("seed", "value"))
run_grid([Cell(s) for s in range(first, last + 1)], compute, store, ExecutionConfig(quiet=True))
"""


def start(script: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdout is not None
    assert process.stdout.readline().strip() == line


@pytest.mark.processes
def test_a_second_writer_waits_and_is_told_who_holds_the_folder(tmp_path: Path) -> None:
    holder = start(HOLD, tmp_path, 1.0)
    wait_for_line(holder, "held")
    messages: list[str] = []
    began = time.monotonic()
    with folder_lock(tmp_path, messages.append):
        waited = time.monotonic() - began
    holder.wait(timeout=10)
    assert waited > 0.3  # it did wait for the holder to finish
    assert len(messages) == 1
    assert str(tmp_path) in messages[0] and f"process {holder.pid}" in messages[0]


@pytest.mark.processes
def test_a_timeout_names_the_folder_and_the_holder(tmp_path: Path) -> None:
    holder = start(HOLD, tmp_path, 5.0)
    wait_for_line(holder, "held")
    try:
        with (
            pytest.raises(TimeoutError, match=f"process {holder.pid}"),
            folder_lock(tmp_path, lambda _: None, timeout=0.2),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.processes
def test_a_lock_dies_with_its_process(tmp_path: Path) -> None:
    holder = start(HOLD, tmp_path, 60.0)
    wait_for_line(holder, "held")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (tmp_path / LOCK_FILENAME).exists()  # the file stays; the lock does not
    with folder_lock(tmp_path, lambda message: pytest.fail(message), timeout=5):
        pass


def concurrent_subgrids(folder: Path) -> pd.DataFrame:
    """Run seeds 1-40 and 41-80 of one grid as two processes writing the same folder."""
    runs = [start(SUBGRID, folder, 1, 40), start(SUBGRID, folder, 41, 80)]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    return pd.read_csv(folder / "results.csv")


@dataclass(frozen=True)
class Cell:
    seed: int


def test_a_second_run_on_a_folder_waits_for_the_first_and_both_keep_their_cells(
    tmp_path: Path,
) -> None:
    """Run A stops inside a task; run B on the same folder must not finish before A does."""
    release = threading.Event()

    def compute(cell: Cell) -> list[dict[str, int]]:
        if cell.seed == 2:
            release.wait(10)
        return [{"seed": cell.seed}]

    def run(seeds: range) -> None:
        store = ResultStore(tmp_path, ("seed",))
        run_grid([Cell(s) for s in seeds], compute, store, ExecutionConfig(quiet=True))

    first = threading.Thread(target=run, args=(range(1, 4),))
    first.start()
    while not (tmp_path / "journal.jsonl").exists():  # A has recorded seed 1
        time.sleep(0.01)
    second = threading.Thread(target=run, args=(range(4, 7),))
    second.start()
    second.join(0.5)
    finished_early = not second.is_alive()
    release.set()
    first.join(10)
    second.join(10)
    assert not finished_early, "a second writer ran while the first held the folder"
    assert sorted(pd.read_csv(tmp_path / "results.csv")["seed"]) == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow
def test_twenty_concurrent_pairs_of_subgrids_keep_every_cell(tmp_path: Path) -> None:
    for attempt in range(20):
        table = concurrent_subgrids(tmp_path / f"try{attempt}")
        assert sorted(table["seed"]) == list(range(1, 81)), f"try {attempt}"
