"""Time ``./run_mnist.sh all --force`` on the embedded MNIST digits and split the time.

    python benchmarks/bench_slope.py [--n-jobs 2]

Runs the real shell driver into a temporary results root (``BACKDOOR_CURVES_RESULTS``), so
nothing under ``results/`` changes, and prints:

- wall time of the whole ``all --force`` job (target <= 25 s on 2 cores) and of its main part
  (3 pairs x 4 classifiers x paper grids x 5 seeds; the double-size trigger and the figures
  come on top);
- the CPU time of all the job's processes, less sensitive than wall time to other load on a
  shared machine (25 s on 2 cores leaves at most 50 core-seconds);
- how the wall time splits. The runs of the job are one stream of tasks, so each run
  folder's manifest records the time from the start of the stream to its last task: the main
  part is the latest of the three main runs, the double-size trigger run what comes after it;
- the time of its figure step, all slope figures in PDF and PNG (target <= 5 s on 2 cores),
  measured by running that step again on the tables just written;
- the work split, in core-seconds, into fitting, influence, evaluation (from the per-cell
  timing columns) and overhead (``n_jobs x grid wall - cell work``: process start-up, data
  loading, clean-model sweeps, scheduling);
- the influence-to-fitting ratio.

Numbers vary with the machine's load; compare ratios measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
MAIN_RUNS = ("7-1_badnet3", "3-0_badnet3", "5-2_badnet3")


def _figure_step_seconds(results_root: Path) -> float:
    """Wall time of the shell driver's figure step on the tables under ``results_root``."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "backdoor_curves.experiments.binary.slope", "--dataset", "mnist",
         "--out-dir", str(results_root), "--figures-only", "--quiet"],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - start


def _children_cpu_seconds() -> float:
    """User plus system CPU seconds of the finished child processes (and theirs) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    """Run the benchmark and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BACKDOOR_CURVES_RESULTS": tmp}
        start, start_cpu = time.perf_counter(), _children_cpu_seconds()
        subprocess.run(
            [str(ROOT / "run_mnist.sh"), "all", "--force", "--quiet", "--n-jobs",
             str(args.n_jobs)],
            cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        total, total_cpu = time.perf_counter() - start, _children_cpu_seconds() - start_cpu
        figures_seconds = _figure_step_seconds(Path(tmp) / "mnist")
        slope_dir = Path(tmp) / "mnist" / "slope"
        tables = {p.name: pd.read_csv(p / "results.csv") for p in sorted(slope_dir.iterdir())}
        walls = {
            name: json.loads((slope_dir / name / "manifest.json").read_text())["timings"][
                "wall_seconds"
            ]
            for name in tables
        }
    main_wall = max(walls[name] for name in MAIN_RUNS)
    double_wall = walls["7-1_badnet6"] - main_wall
    cells = pd.concat([tables[name] for name in MAIN_RUNS])
    fit, influence, evaluation = (
        cells[col].sum() for col in ("fit_seconds", "influence_seconds", "eval_seconds")
    )
    overhead = args.n_jobs * main_wall - (fit + influence + evaluation)
    work = fit + influence + evaluation + overhead
    print(f"./run_mnist.sh all --force (n_jobs={args.n_jobs}): {total:.1f} s wall in total "
          "(target <= 25 s on 2 cores)")  # fmt: skip
    print(f"  CPU: {total_cpu:.1f} core-seconds in all processes, {total_cpu / total:.2f} cores "
          "busy on average (25 s on 2 cores allows at most 50)")  # fmt: skip
    print(f"  figure step (all slope figures, PDF and PNG): {figures_seconds:.1f} s "
          "(target <= 5 s on 2 cores)")  # fmt: skip
    print(f"  main part, 3 pairs x 4 classifiers x 5 seeds ({len(cells)} cells): "
          f"{main_wall:.1f} s of grid wall time (target < 60 s)")  # fmt: skip
    print(f"  double-size trigger run: {double_wall:.1f} s more; process start-up and "
          f"figures: {total - max(walls.values()):.1f} s")  # fmt: skip
    print("  split of the main part (core-seconds):")
    for name, value in [("fitting", fit), ("influence", influence), ("evaluation", evaluation),
                        ("overhead", overhead)]:  # fmt: skip
        print(f"    {name:<11} {value:7.1f} s  {100 * value / work:5.1f}%")
    print(f"  influence / fitting = {influence / fit:.2f} (target <= 0.25)")
    by_clf = cells.groupby("clf")[["fit_seconds", "influence_seconds"]].sum()
    by_clf["ratio"] = by_clf["influence_seconds"] / by_clf["fit_seconds"]
    print(by_clf.round(2).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
