"""The manifest of a results folder: how its table was produced, and which run computed each task.

``manifest.json`` holds the configuration, package versions, git commit, data source and
timings of the run that wrote it, and the *producer* of every task: the commit, dirty flag,
package versions and date of the run that computed it. A resumed run adds its own producer for
the tasks it computes and keeps the old producers of the tasks it skipped
(:func:`task_producers`), so rows are never relabelled with a newer commit (rows whose producer
no manifest records, from a killed first run, get an all-None one). A corrupt manifest is
never silently replaced (:func:`read_manifest` raises).

The table itself is kept by :class:`~backdoor_curves.utilities.store.ResultStore`, which
writes its manifest through :func:`write_manifest`.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from backdoor_curves.utilities.atomic import atomic_write_text
from backdoor_curves.utilities.provenance import git_state, package_versions

__all__ = ["MANIFEST_FILENAME", "read_manifest", "task_producers", "write_manifest"]

MANIFEST_FILENAME = "manifest.json"

# What identifies the run that computed a task (see write_manifest).
_PRODUCER_KEYS = ("created", "git_commit", "git_dirty", "versions")


def _json_default(value: Any) -> Any:
    """Encode the setting types used in configurations (enums, paths, dataclasses, numpy)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise ValueError(f"manifest value {value!r} of type {type(value).__name__} is not JSON-able")


def read_manifest(path: Path, table_name: str) -> dict[str, Any]:
    """Read the manifest at ``path`` as a dict (empty if there is none).

    ``table_name`` is the file name of the table it describes (named in the error).

    Raises
    ------
    ValueError
        If the file exists but is empty, not JSON, or not a JSON object: it records which
        run produced the table's rows, so it is never silently replaced.
    """
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        reason = f"not readable JSON ({type(err).__name__}: {err})"
    else:
        if isinstance(manifest, dict):
            return manifest
        reason = f"a JSON {type(manifest).__name__}, not an object"
    raise ValueError(
        f"{path} is {reason}; it records which run produced the rows of "
        f"{table_name}: restore it, or delete it to record them as of unknown origin"
    )


def task_producers(
    previous: Mapping[str, Any],
    table_keys: Iterable[str],
    recorded: set[str],
    current: dict[str, Any],
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Return the producers of the tasks: ``current`` for recorded keys, else the old ones.

    Parameters
    ----------
    previous : mapping
        The manifest the table had before this run (empty if none). One without per-task
        producers (written before they existed) gives its own commit and versions to the
        tasks it holds.
    table_keys : iterable of str
        The task keys of the table, in file order.
    recorded : set of str
        The keys this run computed.
    current : dict
        This run's producer (``created``, ``git_commit``, ``git_dirty``, ``versions``).

    Returns
    -------
    producers : list of dict
        The distinct producers, in order of first use.
    task_producer : dict of str to int
        Task key -> index into ``producers``.
    """
    old_producers = previous.get("producers")
    old_map = previous.get("task_producer")
    if not isinstance(old_producers, list) or not isinstance(old_map, dict):
        old_producers = [{name: previous.get(name) for name in _PRODUCER_KEYS}]
        old_map = None
    producers: list[dict[str, Any]] = []
    index_of: dict[str, int] = {}
    task_producer: dict[str, int] = {}
    unknown = {name: None for name in _PRODUCER_KEYS}
    for key in table_keys:
        if key in recorded:
            producer = current
        elif not previous:
            # Rows of an earlier run whose manifest was never written (killed) or deleted.
            producer = unknown
        elif old_map is None:
            producer = old_producers[0]
        elif isinstance(old_map.get(key), int) and 0 <= old_map[key] < len(old_producers):
            producer = old_producers[old_map[key]]
        else:
            producer = unknown
        text = json.dumps(producer, sort_keys=True, default=str)
        if text not in index_of:
            index_of[text] = len(producers)
            producers.append(producer)
        task_producer[key] = index_of[text]
    return producers, task_producer


def write_manifest(
    path: Path,
    *,
    table_name: str,
    columns: Sequence[str],
    table_keys: Iterable[str],
    recorded: set[str],
    config: Mapping[str, Any],
    data_source: str,
    timings: Mapping[str, Any],
) -> Path:
    """Write the manifest describing how the table ``table_name`` was produced (atomically).

    Parameters
    ----------
    path : Path
        Where the manifest goes (its folder exists); the manifest there before, if any, gives
        the producers of the tasks this run did not compute.
    table_name : str
        File name of the table next to it.
    columns : sequence of str
        The table header.
    table_keys : iterable of str
        The task keys of the table, in file order.
    recorded : set of str
        The keys this run computed.
    config : Mapping
        The experiment configuration. Enums, paths, dataclasses and numpy values are
        converted to JSON; other non-JSON values raise ``ValueError``.
    data_source : str
        Where the data came from (folder, URL, generator and seed, ...).
    timings : Mapping
        Wall-clock figures of the run, e.g. :meth:`GridReport.timings`.

    Returns
    -------
    Path
        ``path``.

    Notes
    -----
    Keys: ``config``, ``data_source``, ``timings``, ``versions`` (python and packages,
    read from installed metadata), ``git_commit`` and ``git_dirty`` (None outside a
    git checkout), ``created`` (UTC, ISO 8601), ``command`` (``sys.argv``),
    ``columns`` (the table header) and ``results`` (the table's file name): these
    describe the run that wrote this manifest. ``producers`` (a list of
    ``{created, git_commit, git_dirty, versions}``) and ``task_producer`` (task key ->
    index into ``producers``) say which run computed each task's rows
    (:func:`task_producers`).
    """
    created = datetime.now(UTC).isoformat(timespec="seconds")
    versions = package_versions()
    git = git_state()
    current = {"created": created, "versions": versions, **git}
    previous = read_manifest(path, table_name)
    producers, task_producer = task_producers(previous, table_keys, recorded, current)
    manifest = {
        "created": created,
        "command": list(sys.argv),
        "config": dict(config),
        "data_source": data_source,
        "timings": dict(timings),
        "versions": versions,
        **git,
        "results": table_name,
        "columns": list(columns),
        "producers": producers,
        "task_producer": task_producer,
    }
    text = json.dumps(manifest, indent=2, default=_json_default, allow_nan=True) + "\n"
    atomic_write_text(path, text)
    return path
