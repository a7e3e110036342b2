"""An unreachable Dask scheduler: one line, within the connect timeout, nothing written."""

import socket
import time
from pathlib import Path

import pytest

from backdoor_curves.experiments.binary import slope
from backdoor_curves.experiments.curves import cli as curves
from backdoor_curves.utilities.backends import ExecutionConfig


def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("driver", ["slope", "curves"])
def test_unreachable_scheduler_fails_fast_and_writes_nothing(
    driver: str, tmp_path: Path, data_dir: Path, one_line_error
) -> None:
    address = f"tcp://127.0.0.1:{closed_port()}"
    out_dir = tmp_path / "out"
    common = ["--data-dir", str(data_dir), "--out-dir", str(out_dir), "--quiet"]
    dask = ["--backend", "dask", "--scheduler", address, "--connect-timeout", "1"]
    if driver == "slope":
        main, argv = slope.main, ["--profile", "smoke", "-clf", "svm", *common, *dask]
    else:
        main, argv = curves.main, ["--profile", "smoke", *common, *dask]
    start = time.perf_counter()
    one_line_error(main, argv, address, out_dir)
    assert time.perf_counter() - start < 10.0


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan")])
def test_connect_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ValueError, match="connect_timeout must be a positive number"):
        ExecutionConfig(backend="dask", scheduler="tcp://h:1", connect_timeout=timeout)
