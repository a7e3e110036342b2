"""Tasks of a grid: frozen dataclasses, each named by a stable text key.

A grid task is a frozen dataclass instance holding the settings of one unit of work (a grid
cell, or several cells computed together). :func:`task_key` turns it into a text key that
depends only on its field values, so it is the same in every process and every run; the
result store journals finished tasks under that key, and a rerun skips the keys it holds.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

import numpy as np

__all__ = ["TaskFailedError", "task_key", "unique_task_keys"]

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
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"duplicate task {key}; every task of a grid must be distinct")
        seen.add(key)
    return keys
