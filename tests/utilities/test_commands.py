"""Command-line plumbing: every failure a user can meet is one line with an exit status."""

from __future__ import annotations

import argparse
import errno

import pytest

from backdoor_curves.utilities.backends import WorkerLostError
from backdoor_curves.utilities.commands import report_errors


@pytest.mark.parametrize(
    ("error", "status", "text"),
    [
        (ValueError("--C values must be positive"), 2, "error: --C values must be positive"),
        (
            OSError(errno.ENOSPC, "No space left on device", "runs/x/journal.jsonl"),
            2,
            "error: No space left on device: runs/x/journal.jsonl; finished cells are kept",
        ),
        (TimeoutError("results folder runs/x is still being written"), 2, "error: results"),
        (KeyboardInterrupt(), 130, "interrupted: finished cells were saved"),
    ],
)
def test_a_failure_is_one_line_and_an_exit_status(
    capsys: pytest.CaptureFixture[str], error: BaseException, status: int, text: str
) -> None:
    @report_errors
    def main(argv: object = None) -> int:
        raise error

    assert main([]) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(text), err


def test_a_bug_keeps_its_traceback() -> None:
    @report_errors
    def main(argv: object = None) -> int:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        main([])


def test_seeds_must_be_non_negative_integers() -> None:
    import argparse

    from backdoor_curves.utilities.commands import seed_list

    assert seed_list("1,10,0") == (1, 10, 0)
    with pytest.raises(argparse.ArgumentTypeError, match="non-negative integers, got -1"):
        seed_list("1,-1")


def test_bounded_numbers_reject_values_outside_their_range() -> None:
    import argparse

    from backdoor_curves.utilities.commands import bounded_float_list

    parse = bounded_float_list("C values", 0.0, 1e8)
    assert parse("0.01,1e3") == (0.01, 1000.0)
    for text in ("1e300", "0", "-1", "nan", "inf"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"C values must lie in \(0, 1e\+08\]"):
            parse(text)


def test_a_lost_worker_is_one_line_with_the_command_to_rerun(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    @report_errors
    def main(argv: object = None) -> int:
        raise WorkerLostError("a worker process died (killed, or out of memory)")

    argv = ["--C", "0.1,1", "--out-dir", "my runs"]
    monkeypatch.setattr("sys.argv", ["/usr/bin/backdoor-curves", "slope", *argv])
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        "error: a worker process died (killed, or out of memory); finished cells are kept: "
        "rerun backdoor-curves slope --C 0.1,1 --out-dir 'my runs' to compute the rest"
    )


def test_seed_lists_take_ranges_and_refuse_empty_or_repeated_ones() -> None:
    from backdoor_curves.utilities.commands import seed_list  # noqa: PLC0415

    assert seed_list("1-3,10") == (1, 2, 3, 10)
    assert seed_list(" 41 - 43 ") == (41, 42, 43)
    for text, message in (("3-1", "is empty"), ("1-3,2", "repeated seeds: 2"), ("-1", "got -1")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            seed_list(text)


def test_the_rerun_command_of_a_module_run_is_not_quoted_as_one_word(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from backdoor_curves.utilities.commands import command_line  # noqa: PLC0415

    monkeypatch.setattr("sys.argv", ["/work/src/__main__.py", "slope", "--out-dir", "a b"])
    assert command_line(["--out-dir", "a b"]) == "python -m backdoor_curves slope --out-dir 'a b'"


def test_sigterm_is_one_line_after_the_finally_blocks_ran(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import os  # noqa: PLC0415
    import signal  # noqa: PLC0415

    saved = []

    @report_errors
    def main(argv: object = None) -> int:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            return 0
        finally:
            saved.append("cells consolidated")

    before = signal.getsignal(signal.SIGTERM)
    assert main([]) == 143
    assert saved == ["cells consolidated"]
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == "terminated: finished cells were saved; rerun to resume"
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is the block's only
