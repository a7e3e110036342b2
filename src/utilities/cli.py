"""Command-line plumbing shared by the drivers: flags, list parsing, one-line errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from backdoor_curves.utilities.grid import add_execution_arguments

__all__ = [
    "DriverParser",
    "add_common_arguments",
    "check_unique",
    "float_list",
    "int_list",
    "name_list",
    "report_errors",
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


def add_common_arguments(parser: argparse.ArgumentParser, *, default_out: str) -> None:
    """Add the flags every driver shares (SPEC section 1).

    ``--data-dir``, ``--download``, ``--data-seed``, ``--n-train``, ``--n-test``,
    ``--out-dir``, ``--seeds``, ``--device`` and the execution flags of
    :func:`backdoor_curves.utilities.grid.add_execution_arguments`.
    """
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data-dir",
        default=None,
        help="dataset root (default: $BACKDOOR_CURVES_DATA, else ./data)",
    )
    data.add_argument(
        "--download", action="store_true", help="download the dataset with torchvision if missing"
    )
    data.add_argument("--data-seed", type=int, default=None, help="seed of the train/test draw")
    data.add_argument("--n-train", type=int, default=None, help="training points per pair")
    data.add_argument("--n-test", type=int, default=None, help="test points per pair")
    output = parser.add_argument_group("output")
    output.add_argument("--out-dir", default=None, help=f"results folder (default: {default_out})")
    parser.add_argument(
        "--seeds", type=int_list, default=None, help="experiment seeds, e.g. 1,10,11,100,101"
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="torch device for feature extraction / networks (the binary models run on CPU)",
    )
    add_execution_arguments(parser)


def report_errors(main: Callable[[Sequence[str] | None], int]) -> Callable[..., int]:
    """Wrap a driver's ``main``: user errors become one line on stderr and exit status 2.

    ``ValueError``, ``FileNotFoundError``, ``PermissionError`` and ``ConnectionError`` (an
    unreachable Dask scheduler) are the errors our code raises for bad input, with messages
    meant for the user; anything else is a bug and keeps its traceback. Ctrl-C exits with
    130 after the grid engine saved the finished cells.
    """

    def wrapped(argv: Sequence[str] | None = None) -> int:
        try:
            return main(argv)
        except (ValueError, FileNotFoundError, PermissionError, ConnectionError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted: finished cells were saved; rerun to resume", file=sys.stderr)
            return 130

    wrapped.__doc__ = main.__doc__
    wrapped.__name__ = main.__name__
    return wrapped
