"""Command-line plumbing that knows nothing of experiments: one-line errors, exit statuses.

Every command of the package (the drivers, ``backdoor-curves``, the figure step) uses these:
:class:`DriverParser` (parser errors are one line), the argparse types :func:`float_list`,
:func:`int_list`, :func:`seed_list`, :func:`bounded_float_list` and :func:`name_list`,
:func:`report_errors` (a user error is one line and exit status 2, Ctrl-C exit status 130)
and :func:`exit_process` (the ``__main__`` block).
"""

from __future__ import annotations

import argparse
import functools
import gc
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from backdoor_curves.utilities.backends import WorkerLostError
from backdoor_curves.utilities.signals import Terminated, sigterm_raises

__all__ = [
    "DriverParser",
    "bounded_float_list",
    "check_unique",
    "describe_os_error",
    "exit_process",
    "float_list",
    "int_list",
    "name_list",
    "report_errors",
    "seed_list",
]


class DriverParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line: ``prog: error: message``."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message`` (no usage block) and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _number_list(text: str, kind: Callable[[str], float | int], what: str) -> tuple:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"empty list of {what}")
    try:
        values = tuple(kind(item) for item in items)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of {what}"
        ) from None
    try:
        check_unique(values, what)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return values


def check_unique(values: Sequence[object], what: str) -> None:
    """Raise ``ValueError`` naming the repeated entries of ``values`` (a list of ``what``)."""
    repeated = sorted({str(v) for v in values if list(values).count(v) > 1})
    if repeated:
        raise ValueError(f"repeated {what}: {', '.join(repeated)}")


def name_list(text: str | None, what: str) -> tuple[str, ...] | None:
    """Split a comma-separated list of names (None stays None).

    Raises
    ------
    ValueError
        If the list is empty or repeats a name.
    """
    if text is None:
        return None
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise ValueError(f"empty list of {what}")
    check_unique(names, what)
    return names


def float_list(text: str) -> tuple[float, ...]:
    """Parse ``"1e-3,0.1,10"`` into floats (argparse ``type``)."""
    return _number_list(text, float, "numbers")


def int_list(text: str) -> tuple[int, ...]:
    """Parse ``"1,10,11"`` into integers (argparse ``type``)."""
    return _number_list(text, int, "integers")


_SEED_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def seed_list(text: str) -> tuple[int, ...]:
    """Parse ``"1,10,11"`` or ranges ``"1-40"`` into distinct non-negative seeds (argparse type).

    A range ``a-b`` holds every seed from ``a`` to ``b`` inclusive (``a <= b``); ranges and
    single seeds mix (``"1-3,10"``).
    """
    parts = []
    for item in text.split(","):
        match = _SEED_RANGE.match(item)
        if match is None:
            parts.append(item)
            continue
        first, last = int(match.group(1)), int(match.group(2))
        if first > last:
            raise argparse.ArgumentTypeError(f"seed range {item.strip()!r} is empty (from > to)")
        parts += [str(seed) for seed in range(first, last + 1)]
    seeds = _number_list(",".join(parts), int, "seeds")
    negative = [seed for seed in seeds if seed < 0]
    if negative:
        raise argparse.ArgumentTypeError(
            f"seeds must be non-negative integers, got {', '.join(map(str, negative))}"
        )
    return seeds


def bounded_float_list(what: str, low: float, high: float) -> Callable[[str], tuple[float, ...]]:
    """Return an argparse ``type`` parsing distinct numbers in ``(low, high]``.

    ``what`` names them in messages (``"C values"``). NaN and infinities are outside.
    """

    def parse(text: str) -> tuple[float, ...]:
        values = _number_list(text, float, what)
        outside = [v for v in values if not low < v <= high]
        if outside:
            shown = ", ".join(f"{v:g}" for v in outside)
            raise argparse.ArgumentTypeError(f"{what} must lie in ({low:g}, {high:g}], got {shown}")
        return values

    return parse


def report_errors(main: Callable[[Sequence[str] | None], int]) -> Callable[..., int]:
    """Wrap a driver's ``main``: user errors become one line on stderr and exit status 2.

    ``ValueError``, ``FileNotFoundError``, ``PermissionError`` and ``ConnectionError`` (an
    unreachable Dask scheduler) are the errors our code raises for bad input, with messages
    meant for the user; ``TimeoutError`` a folder another run holds too long; any other
    ``OSError`` is a fault of the machine (a full disk, a read-only file system) and is
    reported with the file it concerns and the rerun advice (the grid engine keeps every
    finished cell); a :class:`~backdoor_curves.utilities.backends.WorkerLostError` (a worker
    process or the Dask cluster died) is one line with the command to rerun. Anything else
    is a bug and keeps its traceback. Ctrl-C exits with 130 and SIGTERM (a scheduler's
    ``kill``) with 143, both after the grid engine saved the finished cells to ``results.csv``.
    """

    @functools.wraps(main)
    def wrapped(argv: Sequence[str] | None = None) -> int:
        try:
            with sigterm_raises():
                return main(argv)
        except Terminated:
            print("terminated: finished cells were saved; rerun to resume", file=sys.stderr)
            return 143
        except (
            ValueError,
            FileNotFoundError,
            PermissionError,
            ConnectionError,
            TimeoutError,
        ) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except OSError as error:
            print(
                f"error: {describe_os_error(error)}; finished cells are kept: fix it and rerun "
                "the same command to resume",
                file=sys.stderr,
            )
            return 2
        except WorkerLostError as error:
            print(
                f"error: {error}; finished cells are kept: rerun {command_line(argv)} "
                "to compute the rest",
                file=sys.stderr,
            )
            return 2
        except KeyboardInterrupt:
            print("interrupted: finished cells were saved; rerun to resume", file=sys.stderr)
            return 130

    return wrapped


def command_line(argv: Sequence[str] | None) -> str:
    """Return the command that ran a driver, quoted for a shell (to tell how to rerun it).

    The process's own command line when the driver's arguments ``argv`` end it (a
    subcommand's name stays in), else the program name followed by ``argv``.
    """
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "backdoor-curves"
    if program in ("__main__.py", "-c", ""):
        program = "python -m backdoor_curves"
    own = sys.argv[1:]
    arguments = list(own if argv is None else argv)
    if not arguments or own[len(own) - len(arguments) :] == arguments:
        arguments = own
    return " ".join(
        [shlex.quote(program) if " " not in program else program, *map(shlex.quote, arguments)]
    )


def describe_os_error(error: OSError) -> str:
    """Return one line for an ``OSError``: its reason and the file it concerns.

    For example ``No space left on device: runs/mnist/slope/7-1_badnet3/journal.jsonl``.
    """
    reason = error.strerror or type(error).__name__
    return f"{reason}: {error.filename}" if error.filename else reason


def exit_process(status: int) -> NoReturn:
    """End a command-line process with ``status`` (the ``__main__`` block of every driver).

    The interpreter's last garbage collection walks every object still alive, and torch,
    torchvision (which imports ``torch._dynamo`` and sympy) and matplotlib leave millions of
    them: after a deep-feature run that walk alone is a noticeable wait, to free memory the
    operating system reclaims anyway. ``gc.freeze()`` takes them out of the collector's reach
    first. Exit handlers (worker pools, progress bars) still run; only objects kept alive by
    reference cycles are not finalised, which Python does not promise at exit either.
    """
    gc.freeze()
    sys.exit(status)
