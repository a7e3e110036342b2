"""Where the networks train: the device flag, the default worker count, one GPU per task.

- :func:`default_worker_count`: without ``--n-jobs``, one worker per GPU on ``--device cuda``
  (a GPU trains one network at a time), one per core on the CPU.
- :func:`claim_device`: a task on CUDA takes a GPU no other task of this machine holds, by
  locking ``<temp dir>/backdoor-curves-gpu-<k>.lock`` (an advisory ``flock``, released when the
  task ends or its process dies), so that ``n`` workers on ``n`` GPUs use one each. With one
  GPU every task gets ``cuda:0``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from backdoor_curves.classifiers.nn.features import resolve_device

__all__ = ["claim_device", "default_worker_count", "resolve_device"]

_POLL_SECONDS = 1.0


def default_worker_count(device: torch.device) -> int:
    """Workers when ``--n-jobs`` is not given: the number of GPUs on CUDA, else every core (-1)."""
    if device.type == "cuda":
        return max(1, torch.cuda.device_count())
    return -1


def _lock_path(index: int) -> Path:
    return Path(tempfile.gettempdir()) / f"backdoor-curves-gpu-{index}.lock"


@contextlib.contextmanager
def claim_device(kind: str) -> Iterator[torch.device]:
    """Yield the device one task trains on, held for the duration of the ``with`` block.

    Parameters
    ----------
    kind : {"cpu", "cuda"}
        The run's device type.

    Yields
    ------
    torch.device
        ``cpu``, or ``cuda:k`` for the first GPU whose lock is free (waiting while all are
        taken).
    """
    if kind != "cuda":
        yield torch.device(kind)
        return
    n_gpus = torch.cuda.device_count()
    if n_gpus <= 1:
        yield torch.device("cuda", 0)
        return
    while True:
        for index in range(n_gpus):
            handle = os.open(_lock_path(index), os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)
                continue
            try:
                yield torch.device("cuda", index)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                os.close(handle)
            return
        time.sleep(_POLL_SECONDS)
