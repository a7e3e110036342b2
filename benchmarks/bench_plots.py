"""Time the figure step of a job: the slope figures of ``./run_mnist.sh all`` (PDF and PNG).

    python benchmarks/bench_plots.py [--results results/mnist] [--repeat 1] [--kinds slope]

Reads the committed tables (nothing is recomputed), draws every figure of ``--kinds`` (default
``slope``: F3/F5 per pair and trigger, F4 heat maps, overviews, the ten figures of
``./run_mnist.sh all``; ``curves deviation``: the 18 F2 and F6 figures of
``python incremental_curves.py``) into a temporary folder, and prints the wall time
(issue 7: 5 s on 2 cores where the code of its day took about 15 s; ``bench_slope.py
--baseline`` times both on this machine), the CPU time of this process and its worker
processes, and the number of figures. Importing matplotlib and the package is timed apart: the
shell driver pays it once per figure step. Numbers vary with the machine's load; compare runs
made back to back.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children, in seconds."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main() -> int:
    """Run the benchmark and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results" / "mnist")
    parser.add_argument("--repeat", type=int, default=1, help="draw the figures this many times")
    parser.add_argument(
        "--kinds", nargs="+", default=["slope"], help="table kinds whose figures are drawn"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    from backdoor_curves import plots  # noqa: PLC0415  # the import is part of what is timed

    import_seconds = time.perf_counter() - start
    tables = plots.load_requested_tables(args.results, args.kinds)
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cpu, wall = _cpu_seconds(), time.perf_counter()
            written = plots.draw_figures(tables, Path(tmp))
            wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
        n_figures = len({path.stem for path in written})
        print(
            f"{' + '.join(args.kinds)} figures: {n_figures} figures ({len(written)} files) "
            f"in {wall:.2f} s wall, "
            f"{cpu:.2f} s CPU; import {import_seconds:.2f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
