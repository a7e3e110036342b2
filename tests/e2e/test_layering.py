"""Following one grid cell from the driver to its CSV row never returns into a module it left.

The drivers used to bounce through a hub (driver -> common -> classifiers -> common -> attacks
-> common ...). Here a profiler records, at every Python call inside the package, the chain of
package modules on the call stack (consecutive frames of one module collapsed); no chain may
visit a module twice. The model package counts as one unit (a model's base class and its
estimator are one object: the template method ``fit`` calls the estimator, which calls the
base's helpers), and so does the data package. The command-line wrapper
(:func:`~backdoor_curves.utilities.commands.report_errors`) is left out: it is the entry point.
"""

from __future__ import annotations

import collections
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from backdoor_curves.experiments.binary import slope
from backdoor_curves.experiments.curves import cli as curves

PACKAGE = "backdoor_curves"
ONE_UNIT = ("backdoor_curves.classifiers", "backdoor_curves.utilities.data")


def unit_of(module: str) -> str | None:
    """The layer unit of a module (None outside the package)."""
    if not module.startswith(PACKAGE):
        return None
    for unit in ONE_UNIT:
        if module.startswith(unit + "."):
            return unit
    return module


@contextmanager
def module_chains() -> Iterator[collections.Counter[tuple[str, ...]]]:
    """Count the re-entering chains of package modules seen while the block runs."""
    re_entries: collections.Counter[tuple[str, ...]] = collections.Counter()
    chains: list[tuple[str, ...]] = [()]  # the collapsed chain at each stack depth
    units: dict[str, str | None] = {}

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            name = frame.f_globals.get("__name__", "")
            unit = units[name] if name in units else units.setdefault(name, unit_of(name))
            chain = chains[-1]
            if unit is not None and (not chain or chain[-1] != unit):
                if unit in chain:
                    re_entries[(*chain, unit)] += 1
                chain = (*chain, unit)
            chains.append(chain)
        elif event == "return" and len(chains) > 1:
            chains.pop()

    sys.setprofile(profile)
    try:
        yield re_entries
    finally:
        sys.setprofile(None)


def run_traced(main: Callable[..., int], argv: list[str], out_dir: Path) -> collections.Counter:
    """Run ``main(argv + --out-dir out_dir)`` under the profiler, imports done.

    A first, untraced run into another folder imports every lazily imported module (the
    import machinery is slow under a profiler). Nothing outlives a run (each group's
    workspace is its own), so the traced run follows every path again.
    """
    unwrapped = main.__wrapped__  # type: ignore[attr-defined]  # set by functools.wraps
    assert unwrapped([*argv, "--out-dir", str(out_dir / "warm-up")]) == 0
    with module_chains() as re_entries:
        status = unwrapped([*argv, "--out-dir", str(out_dir)])
    assert status == 0
    return re_entries


@pytest.mark.parametrize(
    "models",
    [
        "svm-rbf,ridge",  # Gram scoring, the dual solver, closed-form ridge
        pytest.param("svm,svm-rbf,logistic,ridge", marks=pytest.mark.slow),
    ],
)
def test_slope_cells_never_reenter_a_module(models: str, tmp_path: Path, data_dir: Path) -> None:
    argv = [
        "-pair", "7-1", "-clf", models, "--gamma", "0.005",
        "--n-train", "60", "--n-test", "30", "--seeds", "1", "--C", "0.1,1",
        "--data-dir", str(data_dir), "--quiet", "--n-jobs", "1",
    ]  # fmt: skip
    re_entries = run_traced(slope.main, argv, tmp_path)
    assert (tmp_path / "slope" / "7-1_badnet3_n60-30" / "results.csv").is_file()
    assert not re_entries, [" -> ".join(chain) for chain in re_entries]


def test_curve_cells_never_reenter_a_module(tmp_path: Path, data_dir: Path) -> None:
    argv = [
        "--pairs", "7-1", "--betas", "0,0.5", "--poison-fractions", "0.1", "--seeds", "1",
        "--n-train", "60", "--n-test", "30", "--data-dir", str(data_dir),
        "--quiet", "--n-jobs", "1", "--no-figures",
    ]  # fmt: skip
    re_entries = run_traced(curves.main, argv, tmp_path)
    assert (tmp_path / "curves" / "7-1_badnet6_n60-30" / "results.csv").is_file()
    assert not re_entries, [" -> ".join(chain) for chain in re_entries]


def test_the_check_sees_a_reentry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With its command-line wrapper, a driver does re-enter ``cli`` (wrapper -> main -> cli)."""
    with module_chains() as re_entries:
        assert slope.main(["-ppoison", "1.5", "--out-dir", str(tmp_path)]) == 2
    assert "-ppoison must be in (0, 1), got 1.5" in capsys.readouterr().err
    chains = [" -> ".join(chain) for chain in re_entries]
    assert any(
        chain.startswith(
            "backdoor_curves.utilities.commands -> backdoor_curves.experiments.binary.slope -> "
            "backdoor_curves.utilities.commands"
        )
        for chain in chains
    ), chains
