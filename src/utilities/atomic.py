"""Atomic files: a reader sees the old file or the complete new one, never a partial one.

Every file the package writes for others to read (result tables, manifests, feature-cache
entries, explanation arrays, figures) goes through :func:`atomic_write`: the content is written
to a hidden temporary file in the target's folder, flushed and synced, then renamed over the
target with :func:`os.replace`. An interruption or an error (a full disk, a killed process
between two statements excepted) removes the temporary file, so nothing half-written is left.

:func:`check_writable` lets a driver find out in a second that a results folder cannot be
written, before hours of computation.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "atomic_write_text", "check_writable", "fsync_directory"]


def fsync_directory(directory: Path) -> None:
    """Flush a directory entry to disk so that a new or renamed file survives a crash."""
    # Directories cannot be opened on Windows; there os.replace is already durable enough.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a file atomically: ``write(handle)`` fills a temporary file renamed onto ``path``.

    Parameters
    ----------
    path : Path
        Destination file; its directory must exist.
    write : callable
        Called once with a binary file handle open for writing; whatever it writes becomes
        the content of ``path``.

    Notes
    -----
    The temporary file ``.<name>.<random>.tmp`` lives in the destination folder (a rename
    is only atomic within one file system) and gets the permissions a plain ``open`` would
    give (the umask), not :func:`tempfile.mkstemp`'s private 0600. On any exception,
    including ``KeyboardInterrupt``, it is removed and the exception propagates; ``path``
    is then unchanged. An ``OSError`` that names no file (a failed ``write`` on a full disk)
    is raised again naming ``path``.
    """
    path = Path(path)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp_name, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        if isinstance(error, OSError) and not error.filename and error.errno:
            # A failed write names no file; say which one it was (a full disk, a quota).
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    fsync_directory(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a UTF-8 text file atomically (see :func:`atomic_write`); no newline translation."""
    data = text.encode("utf-8")
    atomic_write(path, lambda handle: handle.write(data))


def check_writable(directory: Path) -> None:
    """Create ``directory`` if needed and check that files can be written in it.

    Drivers call this before any computation, so that a bad ``--out-dir`` fails in a
    second rather than after hours of work.

    Parameters
    ----------
    directory : Path
        Results folder.

    Raises
    ------
    ValueError
        If the directory cannot be created (for example, a path component is a file).
    PermissionError
        If the directory cannot be created or written (permission denied, a read-only file
        system, a full disk).
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        raise ValueError(
            f"results directory {str(directory)!r} cannot be created: "
            f"{err.strerror or err} (a component of the path is a file)"
        ) from err
    except OSError as err:
        raise PermissionError(
            f"results directory {str(directory)!r} cannot be created: {err.strerror or err}"
        ) from err
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as err:
        raise PermissionError(
            f"results directory {str(directory)!r} is not writable: {err.strerror or err}"
        ) from err
