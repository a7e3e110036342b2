"""One writer per results folder: a lock file held for the whole run.

Two runs writing into the same folder at once would interleave their journals and their
consolidations (one run merges the journal into ``results.csv`` and deletes it while the other
still appends to it), and finished cells would be lost although both exit 0. So a run holds
the lock of each folder it writes from the moment it reads which cells are finished until its
last table and manifest are written. A second run on a locked folder **waits** for it, saying
once which process holds it, and then computes only the cells the first run did not: two
sub-grids started on one folder at the same time both end complete.

The lock is an operating-system file lock (:mod:`filelock`: ``flock`` on POSIX) on
``<folder>/.lock``. The system releases it when the holding process ends, however it ends
(``kill -9`` included), so a lock never outlives its process and a dead run never blocks the
next one. ``<folder>/.lock.holder`` names the holder (process id, host, command, start time)
for the waiting message while the lock is held; it is informational only. The empty ``.lock``
file stays in the folder (removing a lock file while another process waits on it would break
the exclusion). Locks of several folders are taken in a
fixed (sorted) order, so two runs over overlapping folders cannot deadlock. Network file
systems that do not implement ``flock`` give no mutual exclusion; keep run folders on a local
disk (see ``docs/reproducing.md``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from backdoor_curves.utilities.atomic import atomic_write_text

__all__ = ["LOCK_FILENAME", "folder_lock", "folder_locks"]

LOCK_FILENAME = ".lock"
_HOLDER_SUFFIX = ".holder"
_POLL_SECONDS = 0.2


def _holder_text(lock_path: Path) -> str:
    """Describe the process named in the holder file (best effort: it may be gone or partial)."""
    try:
        holder = json.loads(lock_path.with_name(lock_path.name + _HOLDER_SUFFIX).read_text())
        return (
            f"process {holder['pid']} on {holder['host']} ({' '.join(holder['command'])}, "
            f"started {holder['started']})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def folder_lock(
    directory: Path, notify: Callable[[str], None] = _stderr, timeout: float | None = None
) -> Iterator[None]:
    """Hold the lock of ``directory`` (created if needed) while the block runs.

    Parameters
    ----------
    directory : Path
        The results folder.
    notify : callable, default prints to stderr
        Receives one line when the lock is held by another process, before waiting.
    timeout : float or None, default None
        Seconds to wait at most; None waits until the other run ends.

    Raises
    ------
    TimeoutError
        If ``timeout`` passed first; the message names the folder and the holding process.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lock_path = directory / LOCK_FILENAME
    lock = FileLock(lock_path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        wait = "until it ends" if timeout is None else f"up to {timeout:g} s"
        notify(
            f"[lock] {directory} is being written by {_holder_text(lock_path)}; waiting {wait} "
            "(one writer per results folder)"
        )
        try:
            lock.acquire(timeout=-1 if timeout is None else timeout, poll_interval=_POLL_SECONDS)
        except Timeout:
            raise TimeoutError(
                f"results folder {directory} is still being written by "
                f"{_holder_text(lock_path)} after {timeout:g} s; wait for that run or use "
                "another --out-dir"
            ) from None
    holder_path = lock_path.with_name(lock_path.name + _HOLDER_SUFFIX)
    try:
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": list(sys.argv),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        atomic_write_text(holder_path, json.dumps(holder))
        yield
    finally:
        holder_path.unlink(missing_ok=True)
        lock.release()


@contextlib.contextmanager
def folder_locks(
    directories: Iterable[Path],
    notify: Callable[[str], None] = _stderr,
    timeout: float | None = None,
) -> Iterator[None]:
    """Hold the locks of several folders (taken in sorted order; see :func:`folder_lock`)."""
    unique = sorted({Path(directory).absolute() for directory in directories})
    with contextlib.ExitStack() as stack:
        for directory in unique:
            stack.enter_context(folder_lock(directory, notify, timeout))
        yield
