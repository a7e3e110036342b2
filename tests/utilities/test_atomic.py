"""Atomic writes: a failed write leaves the old file and no temporary file, and names the path."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from backdoor_curves.utilities.atomic import atomic_write, atomic_write_text, check_writable


def fill_then_fail(handle) -> None:
    handle.write(b"half of the new content")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_keeps_the_old_file_leaves_no_temporary_and_names_the_path(
    tmp_path: Path,
) -> None:
    target = tmp_path / "results.csv"
    atomic_write_text(target, "old\n")
    with pytest.raises(OSError, match="No space left on device") as raised:
        atomic_write(target, fill_then_fail)
    assert raised.value.filename == str(target)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


def test_an_interrupted_write_leaves_no_temporary(tmp_path: Path) -> None:
    def interrupted(handle) -> None:
        handle.write(b"x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "figure.png", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_check_writable_on_a_read_only_file_system_is_one_permission_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.TemporaryFile", read_only)
    with pytest.raises(PermissionError, match="is not writable: Read-only file system"):
        check_writable(tmp_path / "out")


def test_a_results_folder_that_cannot_be_created_on_a_read_only_file_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(PermissionError, match="cannot be created: Read-only file system"):
        check_writable(tmp_path / "out")
