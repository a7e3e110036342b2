"""Fixtures shared by the driver tests."""

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

Main = Callable[[Sequence[str] | None], int]


def exit_status(main: Main, argv: Sequence[str]) -> int:
    """Return what a driver's ``main`` returns, or the status of argparse's ``SystemExit``."""
    try:
        return main(list(argv))
    except SystemExit as stop:
        return int(stop.code or 0)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty data folder: full MNIST is absent, so the embedded digits are used."""
    return tmp_path_factory.mktemp("no-mnist")


@pytest.fixture
def one_line_error(
    capsys: pytest.CaptureFixture[str],
) -> Callable[[Main, list[str], str, Path], None]:
    """Check that ``main(argv)`` exits with 2, one stderr line naming ``needle``, no ``out_dir``."""

    def check(main: Main, argv: list[str], needle: str, out_dir: Path) -> None:
        capsys.readouterr()
        assert exit_status(main, argv) == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1, lines
        assert needle in lines[0], lines[0]
        assert not out_dir.exists()

    return check
