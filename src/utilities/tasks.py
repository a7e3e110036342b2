"""Tasks of a grid: frozen dataclasses, each named by a stable text key.

A grid task is a frozen dataclass instance holding the settings of one unit of work (a grid
cell, or several cells computed together). :func:`task_key` turns it into a text key that
depends only on its field values, so it is the same in every process and every run; the
result store journals finished tasks under that key, and a rerun skips the keys it holds.

A task that computes several cells together (a :class:`PackedTask`, e.g. the ``C`` values of
one seed, fitted along one warm-started path) names each of its cells by a task of its own,
and the store keys rows by those *cell* keys: a cell's key is its content, not the grid it
came from. Growing, shrinking or reordering the packed dimension reuses every finished cell,
and a task is re-packed with only its missing cells (:func:`pending_cells`).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "PackedTask",
    "TaskFailedError",
    "cell_keys",
    "pending_cells",
    "task_cells",
    "task_key",
    "unique_task_keys",
]

# Characters that delimit the parts of a task key; a text field may not contain them.
_KEY_DELIMITERS = frozenset("|=,(){}")


class TaskFailedError(RuntimeError):
    """A task's worker function raised; the original exception is chained as its cause.

    Parameters
    ----------
    key : str
        Key of the failed task.
    reason : str
        Type and message of the original exception.
    """

    def __init__(self, key: str, reason: str) -> None:
        # Both values go to args so the exception pickles back from worker processes.
        super().__init__(key, reason)
        self.key = key
        self.reason = reason

    def __str__(self) -> str:
        return f"task {self.key} failed: {self.reason}"


def _format_key_value(name: str, value: Any) -> str:
    """Text of one task field inside a key; raises for types that do not round-trip."""
    if isinstance(value, enum.Enum):
        return _format_key_value(name, value.value)
    if value is None or isinstance(value, bool | np.bool_):
        return str(None if value is None else bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        # repr is the shortest text that parses back to the same float.
        return repr(float(value))
    if isinstance(value, str | PurePath):
        text = str(value)
        bad = sorted(set(text) & _KEY_DELIMITERS) or [c for c in text if not c.isprintable()]
        if bad:
            raise ValueError(
                f"task field {name!r} = {text!r} contains {bad!r}; task keys use "
                f"{''.join(sorted(_KEY_DELIMITERS))!r} as delimiters"
            )
        return text
    if isinstance(value, tuple):
        return "(" + ",".join(_format_key_value(name, item) for item in value) + ")"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return "{" + task_key(value) + "}"
    raise ValueError(
        f"task field {name!r} has type {type(value).__name__}; task fields must be None, "
        "bool, int, float, str, Path, Enum, tuples of these or frozen dataclasses"
    )


def task_key(task: Any) -> str:
    """Stable text key of a task, e.g. ``"clf=svm|C=0.1|seed=0"``.

    Fields appear in definition order as ``name=value`` joined by ``|``; floats by
    ``repr`` (round-trips exactly), enums by their value, tuples as ``(a,b)``, nested
    dataclasses in braces. The key depends only on the field values, so it is the same
    in every process and every run.

    Parameters
    ----------
    task : frozen dataclass instance

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``task`` is not a frozen dataclass instance, a field has an unsupported type,
        or a text field contains one of the delimiters ``|=,(){}``.
    """
    if not dataclasses.is_dataclass(task) or isinstance(task, type):
        raise ValueError(f"a task must be a dataclass instance, got {type(task).__name__}")
    if not type(task).__dataclass_params__.frozen:  # type: ignore[attr-defined]  # dataclass internals
        raise ValueError(
            f"task class {type(task).__name__} must be a frozen dataclass "
            "(@dataclass(frozen=True)), so a task cannot change after its key is taken"
        )
    return "|".join(
        f"{field.name}={_format_key_value(field.name, getattr(task, field.name))}"
        for field in dataclasses.fields(task)
    )


def unique_task_keys(tasks: Sequence[Any]) -> list[str]:
    """Keys of ``tasks`` in order; raises if two tasks share a key."""
    keys = [task_key(task) for task in tasks]
    _check_unique(keys)
    return keys


def _check_unique(keys: Sequence[str]) -> None:
    """Raise naming the first key that occurs twice."""
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"duplicate task {key}; every task of a grid must be distinct")
        seen.add(key)


@runtime_checkable
class PackedTask(Protocol):
    """A task that computes several cells together.

    ``cells()`` returns one task per cell, each a valid task computing that cell alone, in
    the order in which the packed task returns its rows; ``with_cells(cells)`` returns the
    packed task computing exactly ``cells`` (a subset of ``cells()``, in that order). The
    rows of a packed task come cell after cell, the same number of rows for each cell.
    """

    def cells(self) -> Sequence[Any]:
        """Return one task per cell, in row order."""
        ...

    def with_cells(self, cells: Sequence[Any]) -> Any:
        """Return the packed task computing ``cells``."""
        ...


def task_cells(task: Any) -> list[Any]:
    """Return the cells of ``task``: its :meth:`PackedTask.cells`, or ``[task]``."""
    return list(task.cells()) if isinstance(task, PackedTask) else [task]


def cell_keys(tasks: Sequence[Any]) -> list[list[str]]:
    """Return the keys of every task's cells; raises if two cells of the grid share a key.

    A cell computed by two tasks of one grid (e.g. a ``C`` value listed twice) would be
    stored twice, so it is an error, named by the cell's key.
    """
    keys = [[task_key(cell) for cell in task_cells(task)] for task in tasks]
    _check_unique([key for task_keys in keys for key in task_keys])
    return keys


def pending_cells(task: Any, keys: Sequence[str], finished: set[str]) -> tuple[Any, list[str]]:
    """Return the task that computes the cells of ``task`` not in ``finished``, and their keys.

    ``keys`` are the keys of ``task``'s cells (:func:`cell_keys`). A plain task is returned
    as it is; a packed task is re-packed with its missing cells only. The task is None when
    every cell is finished.
    """
    missing = [index for index, key in enumerate(keys) if key not in finished]
    if not missing:
        return None, []
    if len(missing) == len(keys) or not isinstance(task, PackedTask):
        return task, list(keys)
    cells = task_cells(task)
    return task.with_cells([cells[index] for index in missing]), [keys[i] for i in missing]
