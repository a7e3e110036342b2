"""SIGTERM as an exception: a scheduler's ``kill`` unwinds the driver like Ctrl-C does.

Inside :func:`sigterm_raises`, SIGTERM raises :class:`Terminated` in the main thread, so that
every ``finally`` block runs (the grid engine writes the finished cells to ``results.csv``)
before the process ends; the previous handler is restored when the block ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["Terminated", "sigterm_raises"]


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that ``finally`` blocks save what is finished."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` in the main thread for the block (else nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
