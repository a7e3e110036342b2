"""SIGTERM raises in the main thread inside the block, and nowhere else."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from backdoor_curves.utilities.signals import Terminated, sigterm_raises


def test_sigterm_raises_inside_the_block_and_the_old_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), sigterm_raises():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


def test_outside_the_main_thread_the_block_changes_nothing() -> None:
    seen = []

    def worker() -> None:
        with sigterm_raises():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [before]
