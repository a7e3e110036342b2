"""Result store of one experiment folder: a tidy CSV table, a crash-safe journal and a manifest.

A results folder holds three files:

``results.csv``
    The consolidated table: one header line ``task_key,<columns...>`` and one line per row,
    sorted deterministically (by the task order of the experiment, then by task key). It is
    only ever replaced atomically (temporary file + :func:`os.replace`), so a reader never
    sees a half-written table.
``journal.jsonl``
    Append-only log of finished tasks, one JSON line ``{"key": ..., "rows": [...]}`` per
    task, each appended with a single write followed by ``fsync``. It is what makes a
    long run resumable: a crash loses at most the line being written, and a torn last
    line is ignored when the journal is read. :meth:`ResultStore.consolidate` merges it
    into ``results.csv`` and removes it.
``manifest.json``
    Configuration, package versions, git commit, data source and timings of the run, and the
    run that computed every task (:mod:`backdoor_curves.utilities.manifest`). A corrupt
    manifest stops the run before any work (:meth:`ResultStore.check`): it is never silently
    replaced.

Every cell is formatted to text once, with a fixed rule
(:mod:`backdoor_curves.utilities.table_text`), and kept as that text afterwards. The bytes of
``results.csv`` therefore depend only on the rows, not on how many runs or in which
completion order they were produced.

A store is written by one process at a time: the grid engine holds the folder's lock
(:mod:`backdoor_curves.utilities.locks`) for the whole run.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from backdoor_curves.utilities.atomic import atomic_write_text, fsync_directory
from backdoor_curves.utilities.manifest import MANIFEST_FILENAME, read_manifest, write_manifest
from backdoor_curves.utilities.table_text import (
    Scalar,
    format_cell,
    normalise_cell,
    read_csv_rows,
    render_csv,
)

__all__ = [
    "JOURNAL_FILENAME",
    "KEY_COLUMN",
    "MANIFEST_FILENAME",
    "RESULTS_FILENAME",
    "ResultStore",
]

#: Name of the column holding the task key; it is the first column of every table.
KEY_COLUMN = "task_key"

RESULTS_FILENAME = "results.csv"
JOURNAL_FILENAME = "journal.jsonl"

# The exact types a row value may have without normalising (see _validate_rows).
_PLAIN_SCALARS = frozenset({type(None), bool, int, float, str})


class ResultStore:
    """One results folder: ``results.csv``, ``journal.jsonl`` and ``manifest.json``.

    Parameters
    ----------
    directory : Path
        Results folder, created on the first write. Drivers call :func:`check_writable`
        before any work so that a bad folder fails early.
    columns : sequence of str
        The fixed column order of the table. Every row must have exactly these keys. The
        store prepends the task key column ``"task_key"``, which is therefore reserved.
    identity : sequence of str, optional
        The columns that say which cell a row is (e.g. pair, trigger, model, ``C``, seed).
        Rows with equal values there are one cell stored twice (by runs whose task keys
        differed): the table keeps the newest (a journal row over a table row; in the table,
        the row whose producer ran last) and :attr:`n_duplicates_dropped` counts the others.
        None: rows are identified by their key only.

    Notes
    -----
    The table of a store is the union of ``results.csv`` and the journal; a journal entry
    replaces all rows of its key in the CSV (this is how ``--force`` overwrites old
    results), and a later journal entry replaces an earlier one.
    """

    def __init__(
        self, directory: Path, columns: Sequence[str], identity: Sequence[str] | None = None
    ) -> None:
        columns = list(columns)
        if not columns:
            raise ValueError("columns must name at least one column")
        bad = [c for c in columns if not isinstance(c, str) or not c]
        if bad:
            raise ValueError(f"column names must be non-empty strings, got {bad!r}")
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        if duplicated:
            raise ValueError(f"columns must be unique, got duplicates {duplicated}")
        if KEY_COLUMN in columns:
            raise ValueError(f"column name {KEY_COLUMN!r} is reserved for the task key")
        unknown = [c for c in identity or () if c not in columns]
        if unknown:
            raise ValueError(f"identity columns {unknown} are not columns of the table")
        self.directory = Path(directory)
        self.columns: tuple[str, ...] = tuple(columns)
        self.identity: tuple[str, ...] = tuple(identity or ())
        #: Rows dropped by the last :meth:`consolidate` as older copies of a cell.
        self.n_duplicates_dropped = 0
        self._n_duplicates = 0
        self._journal_tail_checked = False
        # Keys recorded by this store object: the tasks this run computed (see write_manifest).
        self._recorded: set[str] = set()

    @property
    def results_path(self) -> Path:
        """Path of the consolidated table ``results.csv``."""
        return self.directory / RESULTS_FILENAME

    @property
    def journal_path(self) -> Path:
        """Path of the append-only journal ``journal.jsonl``."""
        return self.directory / JOURNAL_FILENAME

    @property
    def manifest_path(self) -> Path:
        """Path of ``manifest.json``."""
        return self.directory / MANIFEST_FILENAME

    @property
    def header(self) -> tuple[str, ...]:
        """Column order of ``results.csv``: the task key, then :attr:`columns`."""
        return (KEY_COLUMN, *self.columns)

    def __repr__(self) -> str:
        return f"ResultStore({str(self.directory)!r}, columns={list(self.columns)!r})"

    # ------------------------------------------------------------------ validation

    def _validate_rows(self, key: str, rows: Any) -> list[dict[str, Scalar]]:
        """Check a task's rows against :attr:`columns` and normalise their values."""
        if not isinstance(rows, list):
            raise ValueError(f"task {key}: expected a list of row dicts, got {type(rows).__name__}")
        if not rows:
            raise ValueError(
                f"task {key}: returned no rows; a task must return at least one row "
                "(report an undefined result as NaN plus a status column)"
            )
        columns, expected = self.columns, set(self.columns)
        clean = []
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise ValueError(f"task {key}: row {index} is a {type(row).__name__}, not a dict")
            if row.keys() != expected:
                missing = [c for c in columns if c not in row]
                if missing:
                    raise ValueError(f"task {key}: row {index} is missing column(s) {missing}")
                extra = sorted(str(c) for c in row if c not in expected)
                raise ValueError(
                    f"task {key}: row {index} has unexpected column(s) {extra}; "
                    f"the table's columns are {list(columns)}"
                )
            values = [row[c] for c in columns]
            # Plain Python scalars (every value read back from the journal) are already
            # normal; anything else (numpy scalars, subclasses) goes through normalise_cell.
            if not all(type(value) in _PLAIN_SCALARS for value in values):
                values = [normalise_cell(key, c, v) for c, v in zip(columns, values, strict=True)]
            clean.append(dict(zip(columns, values, strict=True)))
        return clean

    # ------------------------------------------------------------------ journal

    def _truncate_torn_journal_tail(self) -> None:
        """Cut an incomplete last journal line (from a killed writer) before appending."""
        if not self.journal_path.exists():
            return
        data = self.journal_path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.journal_path, "r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)
                handle.flush()
                os.fsync(handle.fileno())

    def record(self, key: str, rows: list[dict]) -> None:
        """Append one finished task (or cell) to the journal, durably.

        Parameters
        ----------
        key : str
            Task or cell key (see :func:`backdoor_curves.utilities.tasks.task_key`).
        rows : list of dict
            At least one row; each with exactly the keys :attr:`columns` and scalar values
            (bool, int, float, str, None or numpy scalars).

        Raises
        ------
        ValueError
            If a row misses a column, has an extra one, or holds a non-scalar value; the
            message names the task and the column. Nothing is written in that case.
        """
        self.record_cells([(key, rows)])

    def record_cells(self, entries: Sequence[tuple[str, list[dict]]]) -> None:
        """Append several finished cells to the journal in one durable write.

        Every entry is validated as in :meth:`record` before anything is written, so either
        all cells land in the journal or (on a validation error) none does.
        """
        lines = [
            json.dumps({"key": key, "rows": self._validate_rows(key, rows)}, allow_nan=True) + "\n"
            for key, rows in entries
        ]
        if not self._journal_tail_checked:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._truncate_torn_journal_tail()
            self._journal_tail_checked = True
        is_new = not self.journal_path.exists()
        data = "".join(lines).encode("utf-8")
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)
            # A single write of a regular file is complete in practice; loop for the rest.
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError as error:
            # A failed write names no file (a full disk): say which. A partial line is cut
            # off by the next writer (see _truncate_torn_journal_tail).
            raise OSError(error.errno, error.strerror, str(self.journal_path)) from error
        finally:
            os.close(fd)
        if is_new:
            fsync_directory(self.directory)
        self._recorded.update(key for key, _ in entries)

    def _journal_entries(self) -> list[tuple[str, list[dict[str, Scalar]]]]:
        """Finished tasks in the journal, in the order they were written."""
        if not self.journal_path.exists():
            return []
        data = self.journal_path.read_bytes()
        # Only newline-terminated lines are complete; the rest is a write cut short.
        complete = data[: data.rfind(b"\n") + 1].decode("utf-8")
        entries = []
        for number, line in enumerate(complete.splitlines(), start=1):
            try:
                entry = json.loads(line)
                key, rows = entry["key"], entry["rows"]
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise ValueError(
                    f"{self.journal_path} line {number} is corrupt ({err}); "
                    "delete that line to drop the task, it will be recomputed"
                ) from err
            entries.append((key, self._validate_rows(key, rows)))
        return entries

    # ------------------------------------------------------------------ table

    def _csv_rows_by_key(self) -> dict[str, list[list[str]]]:
        """Rows of ``results.csv`` as text, grouped by task key in file order."""
        if not self.results_path.exists():
            return {}
        header, rows = read_csv_rows(self.results_path)
        if tuple(header) != self.header:
            raise ValueError(
                f"{self.results_path} has columns {header}, but this experiment writes "
                f"{list(self.header)}; use another output directory or remove the file"
            )
        grouped: dict[str, list[list[str]]] = {}
        for line_number, row in enumerate(rows, start=2):
            if len(row) != len(header):
                raise ValueError(
                    f"{self.results_path} line {line_number} has {len(row)} fields, "
                    f"expected {len(header)}"
                )
            grouped.setdefault(row[0], []).append(row)
        return grouped

    def _merged_rows_by_key(self) -> dict[str, list[list[str]]]:
        """Union of CSV and journal as text rows; journal entries replace CSV rows."""
        grouped = self._csv_rows_by_key()
        from_table = set(grouped)
        for key, rows in self._journal_entries():
            grouped[key] = [[key, *(format_cell(row[c]) for c in self.columns)] for row in rows]
            from_table.discard(key)
        return self._one_row_per_cell(grouped, from_table)

    def _one_row_per_cell(
        self, grouped: dict[str, list[list[str]]], from_table: set[str]
    ) -> dict[str, list[list[str]]]:
        """Drop the older copies of every cell (see ``identity``); count them."""
        self._n_duplicates = 0
        if not self.identity:
            return grouped
        positions = [self.header.index(column) for column in self.identity]
        created = self._created_by_key()
        # Oldest first: table rows by their producer's date, then the journal's in order.
        age = {key: (0, created.get(key, "")) if key in from_table else (1, "") for key in grouped}
        newest: dict[tuple[str, ...], tuple[str, int]] = {}
        for key in sorted(grouped, key=lambda k: age[k]):
            for index, row in enumerate(grouped[key]):
                newest[tuple(row[p] for p in positions)] = (key, index)
        kept: dict[str, list[list[str]]] = {}
        for key, rows in grouped.items():
            mine = [
                row
                for index, row in enumerate(rows)
                if newest[tuple(row[p] for p in positions)] == (key, index)
            ]
            self._n_duplicates += len(rows) - len(mine)
            if mine:
                kept[key] = mine
        return kept

    def _created_by_key(self) -> dict[str, str]:
        """Date of the run that produced each key of the table, from the manifest ('' unknown)."""
        try:
            manifest = self._read_manifest()
        except ValueError:
            return {}
        producers, task_producer = manifest.get("producers"), manifest.get("task_producer")
        if not isinstance(producers, list) or not isinstance(task_producer, dict):
            return {}
        return {
            key: str(producers[index].get("created") or "")
            for key, index in task_producer.items()
            if isinstance(index, int) and 0 <= index < len(producers)
            and isinstance(producers[index], dict)
        }  # fmt: skip

    def finished_keys(self) -> set[str]:
        """Keys of the tasks already done, from ``results.csv`` and the journal.

        Returns
        -------
        set of str
        """
        return set(self._merged_rows_by_key())

    def _sorted_text(self, order: Sequence[str] | None) -> str:
        """Render the merged table as CSV text, sorted by ``order`` and then by key."""
        grouped = self._merged_rows_by_key()
        rank = {key: position for position, key in enumerate(order or ())}
        keys = sorted(grouped, key=lambda k: (k not in rank, rank.get(k, 0), k))
        return render_csv(self.header, [row for key in keys for row in grouped[key]])

    def consolidate(self, order: Sequence[str] | None = None) -> pd.DataFrame:
        """Merge the journal into ``results.csv`` (atomically) and remove the journal.

        Parameters
        ----------
        order : sequence of str or None
            Task keys in experiment order. Rows are sorted by the position of their key in
            ``order``; keys not in it (or all keys, if None) follow sorted by key. The rows
            of one task keep the order in which the task returned them.

        Returns
        -------
        pandas.DataFrame
            The table as written, parsed by :func:`pandas.read_csv`; columns are
            ``"task_key"`` followed by :attr:`columns`.

        Raises
        ------
        ValueError
            If a stored row misses a column or has an extra one (naming it), or the
            existing ``results.csv`` has a different header.
        """
        text = self._sorted_text(order)
        self.n_duplicates_dropped = self._n_duplicates
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.results_path, text)
        # The journal goes only after the table holding its rows is safely on disk.
        self.journal_path.unlink(missing_ok=True)
        self._journal_tail_checked = False
        return pd.read_csv(io.StringIO(text))

    def load(self) -> pd.DataFrame:
        """Read the current table (``results.csv`` plus journal, sorted by key) without writing.

        Returns
        -------
        pandas.DataFrame
            Columns ``"task_key"`` followed by :attr:`columns`.

        Raises
        ------
        FileNotFoundError
            If the folder holds neither ``results.csv`` nor a journal.
        """
        if not self.results_path.exists() and not self.journal_path.exists():
            raise FileNotFoundError(
                f"no results in {str(self.directory)!r}: neither {RESULTS_FILENAME} "
                f"nor {JOURNAL_FILENAME} exists"
            )
        return pd.read_csv(io.StringIO(self._sorted_text(None)))

    # ------------------------------------------------------------------ manifest

    def _table_keys(self) -> list[str]:
        """Task keys of ``results.csv`` in file order (none if it has no task-key column)."""
        if not self.results_path.exists():
            return []
        header, rows = read_csv_rows(self.results_path)
        if not header or header[0] != KEY_COLUMN:
            return []
        return list(dict.fromkeys(row[0] for row in rows if row))

    def _read_manifest(self) -> dict[str, Any]:
        """Read the current ``manifest.json`` (see :func:`~.manifest.read_manifest`)."""
        return read_manifest(self.manifest_path, RESULTS_FILENAME)

    def check(self) -> None:
        """Check that the folder's table, journal and manifest can be read (before a run).

        Raises
        ------
        ValueError
            Naming the file that is corrupt, or the header that differs from :attr:`header`.
        """
        self._merged_rows_by_key()
        self._read_manifest()

    def write_manifest(
        self, config: Mapping[str, Any], data_source: str, timings: Mapping[str, Any]
    ) -> Path:
        """Write ``manifest.json`` describing how the table was produced (atomically).

        ``config``, ``data_source`` and ``timings`` are those of
        :func:`backdoor_curves.utilities.manifest.write_manifest`, which says what the manifest
        holds: the tasks this store recorded get this run's producer, the others keep the one
        the previous manifest gave them. Returns the manifest's path.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        return write_manifest(
            self.manifest_path,
            table_name=RESULTS_FILENAME,
            columns=self.header,
            table_keys=self._table_keys(),
            recorded=self._recorded,
            config=config,
            data_source=data_source,
            timings=timings,
        )
