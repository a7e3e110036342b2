"""Logistic learning curves: the path follower with step control; the job against a baseline.

    python benchmarks/bench_logistic_path.py [--pairs 7-1,3-0,5-2] [--baseline COMMIT]
        [--rounds 2] [--skip-job]

Everything runs on the embedded MNIST digits, into temporary folders; nothing under
``results/`` changes. It prints:

1. For every logistic curve of the default MNIST curves grid (``--pairs`` x 2 lambdas x 3
   poison fractions, 20 betas), followed as the curves cell does
   (``analyses.path_tolerance.follow_path_losses`` on ``classifiers.logistic_path``,
   ``REFINE_TOLERANCE``) on the problem's kernel matrices with one BLAS thread: the fits
   (evaluations: grid, accepted and rejected steps), the rejected steps, the reported rows
   and the CPU seconds, per lambda and in total.
2. ``python incremental_curves.py --models logistic --force --no-figures --no-report
   --n-jobs 1`` of this working tree against ``--baseline`` (default :data:`BASELINE`, the
   20-beta warm grid refined at midpoints), alternately for ``--rounds`` rounds: the CPU
   seconds of each run (the child process and its children) and the median ratio current /
   baseline (``--skip-job`` leaves it out). The baseline commit is extracted with
   ``git archive`` and runs with this interpreter (``benchmarks/_common.py``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    ROOT,
    Checkout,
    children_cpu_seconds,
    embedded_data_env,
    extract_commit,
    is_commit,
)
from bench_curves import default_tasks
from threadpoolctl import threadpool_limits

from backdoor_curves.analyses.path_tolerance import follow_path_losses
from backdoor_curves.classifiers.logistic_path import LogisticPath
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.curves.cell import CurveTask, curve_group
from backdoor_curves.experiments.workspace import Workspace, on_kernels

BASELINE = "1ac58b8"
"""Main before the logistic path follower: the warm grid, then midpoint refinement."""


def follow(task: CurveTask, workspace: Workspace) -> tuple[int, int, int, float]:
    """Follow one logistic curve; return (fits, rejected steps, rows, CPU seconds)."""
    model = on_kernels(make_classifier("logistic", 1.0 / task.lam, None))
    key = curve_group(task)
    kernels, problem = workspace.inputs(key, model), workspace.problem(key)
    evaluation = [(kernels.backdoor, problem.y_backdoor), (kernels.test, problem.y_test)]
    start = time.process_time()
    path = LogisticPath(model, kernels.train, problem.y_train, problem.is_poison)
    curve = follow_path_losses(path, evaluation, task.betas)
    seconds = time.process_time() - start
    return curve.n_evaluations, curve.n_rejected, len(curve.points), seconds


def report_curves(pairs: list[str]) -> None:
    """Print part 1."""
    tasks = [task for task in default_tasks(pairs) if task.clf == "logistic"]
    groups: dict[object, list[CurveTask]] = {}
    for task in tasks:
        groups.setdefault(curve_group(task), []).append(task)
    totals: dict[float, list[tuple[int, int, int, float]]] = {}
    with threadpool_limits(1), tempfile.TemporaryDirectory() as empty:
        for group in groups.values():
            workspace = Workspace(data_dir=empty)
            for task in group:
                totals.setdefault(task.lam, []).append(follow(task, workspace))
    print(f"1. the {len(tasks)} logistic curves of the default MNIST grid, one BLAS thread:")
    for lam, rows in sorted(totals.items()):
        fits, rejected, reported, seconds = (sum(column) for column in zip(*rows, strict=True))
        print(f"   lambda {lam:g}: {len(rows)} curves, {fits} fits ({rejected} rejected steps), "
              f"{reported} rows, {seconds:.2f} CPU s")  # fmt: skip
    every = [row for rows in totals.values() for row in rows]
    fits, rejected, reported, seconds = (sum(column) for column in zip(*every, strict=True))
    print(f"   total: {fits} fits ({fits / len(every):.1f} per curve), {rejected} rejected, "
          f"{reported} rows, {seconds:.2f} CPU s")  # fmt: skip


def job_cpu(checkout: Checkout, out_dir: Path) -> float:
    """CPU seconds of the logistic curves job of ``checkout`` (its process and children)."""
    before = children_cpu_seconds()
    subprocess.run(
        [sys.executable, str(checkout.root / "incremental_curves.py"), "--models", "logistic",
         "--force", "--quiet", "--no-figures", "--no-report", "--n-jobs", "1",
         "--out-dir", str(out_dir)],
        cwd=checkout.root, env=checkout.env, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return children_cpu_seconds() - before


def report_job(baseline: str, rounds: int) -> None:
    """Print part 2, one line per round as it is measured."""
    print(f"2. incremental_curves.py --models logistic (3 pairs, no figures) against "
          f"{baseline}, alternating:")  # fmt: skip
    ratios = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = embedded_data_env(tmp)
        current, old = Checkout(ROOT, env), extract_commit(baseline, tmp / "baseline", env)
        for number in range(1, rounds + 1):
            old_cpu = job_cpu(old, tmp / f"{number}" / "baseline")
            new_cpu = job_cpu(current, tmp / f"{number}" / "current")
            ratios.append(new_cpu / old_cpu)
            print(f"   round {number}: {baseline} {old_cpu:.1f} CPU s, current {new_cpu:.1f} "
                  f"CPU s", flush=True)  # fmt: skip
    print(f"   current / {baseline} = {statistics.median(ratios):.3f} (median of {rounds})")


def main() -> int:
    """Run the parts and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="7-1,3-0,5-2", help="pairs of part 1")
    parser.add_argument("--baseline", default=BASELINE, metavar="COMMIT",
                        help=f"commit part 2 compares with (default {BASELINE})")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=2, help="rounds of part 2")
    parser.add_argument("--skip-job", action="store_true", help="leave out part 2")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be a positive integer, got {args.rounds}")
    if not args.skip_job and not is_commit(args.baseline):
        parser.error(f"--baseline: {args.baseline!r} is not a commit of this repository")
    report_curves(args.pairs.split(","))
    if not args.skip_job:
        report_job(args.baseline, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
