"""Learning curves: warm vs cold fits, the exact SVM path vs the beta grid, the whole job.

    python benchmarks/bench_curves.py [--n-jobs 2] [--pairs 7-1,3-0,5-2] [--rounds 3]
        [--baseline COMMIT] [--job-rounds 2] [--skip-cold] [--skip-job]
        [--authors-command COMMAND]

Everything runs on the embedded MNIST digits, into temporary folders; nothing under
``results/`` changes. It prints:

1. Warm against cold (``--skip-cold`` leaves it out). For every curve of the default MNIST
   grid (``--pairs`` x 5 models x 2 lambdas x 3 poison fractions, 20 betas) the grid path is
   fitted twice on the problem's kernel matrices (``precomputed`` models): incrementally
   (``BinaryClassifier.beta_path``: warm starts, exact ridge path) and with an independent
   cold fit per beta. It prints the fitting core-seconds of both per model and in total, their
   ratio (target: warm at least 3x faster), and the largest differences between the two
   (objective, relative; test-set scores, absolute; predictions that differ).
2. Exact path against the beta grid, for the SVM curves of that grid (linear SVM, RBF SVM at
   both gammas): ``classifiers.exact_path.exact_beta_path`` (fit at beta = 0, follow the
   optimum to beta = 1, then the optima at every grid beta and every breakpoint at once,
   ``ModelPath.optima``, as the curves cell does) against the 20-beta warm-started grid
   (``model.beta_path``), on the same problems and kernel matrices, one BLAS thread. Each
   problem's curves are timed in ``--rounds`` rounds, the two methods alternating (their
   order swapped every round); it prints the seconds of each per round, the median ratio
   exact / grid, the breakpoints per curve and the largest test-score difference between the
   two at the grid betas.
3. The whole ``python incremental_curves.py --force`` (curves, deviation, figures F2 and F6,
   ``--n-jobs``) of this working tree against ``--baseline`` (default :data:`BASELINE`, the
   20-beta warm grid for every model), alternately for ``--job-rounds`` rounds, and the
   median ratio current / baseline (``--skip-job`` leaves it out). The baseline commit is
   extracted with ``git archive`` into a temporary folder and runs with this interpreter and
   its packages (``benchmarks/_common.py``, as ``bench_slope.py --baseline``).

With ``--authors-command COMMAND``, part 3 also times the authors' original code in every
round: a shell command of yours that runs their MNIST curves (``run_mnist`` of their
``incremental.py``) from a clean state in its own environment (their code needs Python 3.8
and secml; this repository neither contains nor builds it). It prints the median ratio
current / authors against issue 23's goal (<= 0.10). Without it, the script prints the ratio
the issue recorded (19.5 s against 110 s, measured elsewhere) and the ratio to the authors
that follows if the baseline still took the recorded 19.5 s (an extrapolation, printed as one).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from _common import (
    ROOT,
    Checkout,
    embedded_data_env,
    extract_commit,
    is_commit,
    time_command,
)
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.exact_path import PathOptima, exact_beta_path
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.config import mnist_config
from backdoor_curves.experiments.curves.cell import CurveTask, curve_group
from backdoor_curves.experiments.problem import DataRequest, PoisonedProblem
from backdoor_curves.experiments.workspace import ProblemKernels, Workspace, on_kernels

BASELINE = "c420799"
"""Main before the exact SVM path: every curve on the 20-beta warm-started grid."""
AUTHORS_RECORDED = (19.5, 110.0)
"""Issue 23: the curves job against the authors' code, 3 MNIST pairs (recorded, not measured)."""
AUTHORS_GOAL = 0.10
"""Issue 23: the curves job at <= 0.10 of the authors' wall time."""
SVMS = ("svm", "svm-rbf")


def default_tasks(pairs: list[str]) -> list[CurveTask]:
    """The curves of the default ``incremental_curves.py`` run."""
    config = mnist_config()
    grid = config.curves
    return [
        CurveTask(DataRequest("mnist", pair, None, None, config.data_seed), "pixels",
                  grid.trigger, model.clf, model.gamma, lam, p, seed, grid.betas)
        for pair in pairs for model in grid.models for lam in model.lambdas
        for p in grid.poison_fractions for seed in grid.seeds
    ]  # fmt: skip


def _model(task: CurveTask) -> BinaryClassifier:
    """The unfitted model of ``task`` on precomputed kernel matrices."""
    return on_kernels(make_classifier(task.clf, 1.0 / task.lam, task.gamma))


def _inputs(task: CurveTask, workspace: Workspace) -> tuple[ProblemKernels, PoisonedProblem]:
    """The kernel matrices and the problem of ``task`` (built once per problem)."""
    key = curve_group(task)
    return workspace.inputs(key, _model(task)), workspace.problem(key)


# --- 1. warm against cold ------------------------------------------------------------------
def compare_warm_cold(task: CurveTask, workspace: Workspace) -> dict[str, object]:
    """Fit one curve warm and cold; return timings and the largest differences."""
    kernels, problem = _inputs(task, workspace)
    K, y, is_poison = kernels.train, problem.y_train, problem.is_poison
    path = _model(task).beta_path(K, y, is_poison, task.betas)
    warm_seconds, cold_seconds = 0.0, 0.0
    objective_gap, score_gap, flips = 0.0, 0.0, 0
    for beta in task.betas:
        weight = np.where(is_poison, beta, 1.0)
        start = time.perf_counter()
        warm = next(path)
        warm_seconds += time.perf_counter() - start
        start = time.perf_counter()
        cold = _model(task).fit(K, y, weight)
        cold_seconds += time.perf_counter() - start
        j_warm, j_cold = warm.objective(K, y, weight), cold.objective(K, y, weight)
        objective_gap = max(objective_gap, abs(j_warm - j_cold) / abs(j_cold))
        f_warm, f_cold = warm.decision_function(kernels.test), cold.decision_function(kernels.test)
        score_gap = max(score_gap, float(np.abs(f_warm - f_cold).max()))
        flips += int(np.count_nonzero((f_warm > 0) != (f_cold > 0)))
    return {
        "model": task.clf if task.gamma is None else f"{task.clf} g={task.gamma:g}",
        "warm_seconds": warm_seconds,
        "cold_seconds": cold_seconds,
        "objective_gap": objective_gap,
        "score_gap": score_gap,
        "prediction_flips": flips,
    }


def warm_cold_problem(tasks: list[CurveTask]) -> list[dict[str, object]]:
    """Part 1 for the curves of one problem, in one worker with one workspace."""
    with tempfile.TemporaryDirectory() as empty, threadpool_limits(1):
        workspace = Workspace(data_dir=empty)
        return [compare_warm_cold(task, workspace) for task in tasks]


def report_warm_cold(groups: list[list[CurveTask]], n_jobs: int) -> None:
    """Print part 1."""
    results = Parallel(n_jobs=n_jobs)(delayed(warm_cold_problem)(group) for group in groups)
    rows = pd.DataFrame([row for group in results for row in group])
    per_model = rows.groupby("model")[["warm_seconds", "cold_seconds"]].sum()
    per_model["speed-up"] = per_model["cold_seconds"] / per_model["warm_seconds"]
    n_betas = len(groups[0][0].betas)
    print(f"1. warm grid vs cold fits, {len(rows)} curves x {n_betas} betas: fitting core-seconds")
    print(per_model.round(2).to_string())
    warm, cold = rows["warm_seconds"].sum(), rows["cold_seconds"].sum()
    print(f"   total: warm {warm:.1f} s, cold {cold:.1f} s, speed-up {cold / warm:.1f}x "
          "(target >= 3x)")  # fmt: skip
    print(f"   same outputs: max relative objective gap {rows['objective_gap'].max():.1e}, "
          f"max test-score gap {rows['score_gap'].max():.1e}, "
          f"{rows['prediction_flips'].sum()} differing test predictions")  # fmt: skip


# --- 2. exact path against the beta grid ---------------------------------------------------
@dataclass(frozen=True)
class PathTiming:
    """Seconds of the two methods on the SVM curves of one problem, per round."""

    exact: list[float]
    following: list[float]
    grid: list[float]
    n_curves: int
    breakpoints: list[int]
    score_gap: float


def _exact_curve(
    task: CurveTask, K: np.ndarray, y: np.ndarray, is_poison: np.ndarray, following: list[float]
) -> PathOptima:
    """The optima of one curve from the exact path: every grid beta and every breakpoint.

    Appends to ``following`` the seconds of the fit at beta = 0 and the path itself (the rest
    is the optima at the grid betas and breakpoints).
    """
    start = time.perf_counter()
    exact = exact_beta_path(_model(task), K, y, is_poison, beta_end=max(task.betas))
    following.append(time.perf_counter() - start)
    return exact.optima(sorted({*task.betas, *(float(b) for b in exact.path.inner_breakpoints)}))


def _grid_curve(
    task: CurveTask, K: np.ndarray, y: np.ndarray, is_poison: np.ndarray, following: list[float]
) -> list[BinaryClassifier]:
    """The models of one curve from the warm-started 20-beta grid (``following`` unused)."""
    return [copy.copy(model) for model in _model(task).beta_path(K, y, is_poison, task.betas)]


def time_paths(tasks: list[CurveTask], rounds: int) -> PathTiming:
    """Part 2 for the SVM curves of one problem: both methods alternately, ``rounds`` times."""
    with tempfile.TemporaryDirectory() as empty, threadpool_limits(1):
        workspace = Workspace(data_dir=empty)
        inputs = [_inputs(task, workspace) for task in tasks]  # built before any timing
        seconds: dict[str, list[float]] = {"exact": [], "grid": []}
        following: list[float] = []
        methods = {"exact": _exact_curve, "grid": _grid_curve}
        for number in range(rounds):
            order = ("exact", "grid") if number % 2 == 0 else ("grid", "exact")
            laps: list[float] = []
            for name in order:
                start = time.perf_counter()
                for task, (kernels, problem) in zip(tasks, inputs, strict=True):
                    methods[name](task, kernels.train, problem.y_train, problem.is_poison, laps)
                seconds[name].append(time.perf_counter() - start)
            following.append(sum(laps))
        breakpoints, score_gap = [], 0.0
        for task, (kernels, problem) in zip(tasks, inputs, strict=True):
            args = (kernels.train, problem.y_train, problem.is_poison)
            exact = exact_beta_path(_model(task), *args, beta_end=max(task.betas))
            breakpoints.append(int(exact.path.inner_breakpoints.size))
            for beta, model in zip(task.betas, _grid_curve(task, *args, []), strict=True):
                on_path = exact.start if beta == 0.0 else exact.model_at(beta)
                gap = on_path.decision_function(kernels.test) - model.decision_function(
                    kernels.test
                )
                score_gap = max(score_gap, float(np.abs(gap).max()))
        return PathTiming(
            seconds["exact"], following, seconds["grid"], len(tasks), breakpoints, score_gap
        )


def report_paths(groups: list[list[CurveTask]], rounds: int, n_jobs: int) -> None:
    """Print part 2."""
    svm_groups = [[task for task in group if task.clf in SVMS] for group in groups]
    timings = Parallel(n_jobs=n_jobs)(
        delayed(time_paths)(group, rounds) for group in svm_groups if group
    )
    exact = [sum(t.exact[r] for t in timings) for r in range(rounds)]
    grid = [sum(t.grid[r] for t in timings) for r in range(rounds)]
    following = [sum(t.following[r] for t in timings) for r in range(rounds)]
    breakpoints = [count for t in timings for count in t.breakpoints]
    n_curves = sum(t.n_curves for t in timings)
    print(f"2. exact SVM path vs the {len(groups[0][0].betas)}-beta warm grid, {n_curves} SVM "
          f"curves (linear, RBF at both gammas), one BLAS thread, {n_jobs} worker(s), "
          f"{rounds} rounds alternating; core-seconds per round:")  # fmt: skip
    for number in range(rounds):
        print(f"   round {number + 1}: exact {exact[number]:6.2f} s (fit at 0 and path "
              f"{following[number]:6.2f} s, optima at grid betas and breakpoints "
              f"{exact[number] - following[number]:6.2f} s), grid {grid[number]:6.2f} s, "
              f"exact / grid {exact[number] / grid[number]:.3f}")  # fmt: skip
    ratio = statistics.median(e / g for e, g in zip(exact, grid, strict=True))
    print(f"   exact / grid = {ratio:.3f} (median of {rounds})")
    print(f"   breakpoints per curve: median {statistics.median(breakpoints):.0f}, "
          f"max {max(breakpoints)}, total {sum(breakpoints)}")  # fmt: skip
    print(f"   largest test-score gap exact vs grid at the grid betas: "
          f"{max(t.score_gap for t in timings):.1e}")  # fmt: skip


# --- 3. the whole job against the baseline -------------------------------------------------
def time_job(checkout: Checkout, out_dir: Path, n_jobs: int) -> float:
    """Wall seconds of ``python incremental_curves.py --force`` of ``checkout`` into ``out_dir``."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, str(checkout.root / "incremental_curves.py"), "--force", "--quiet",
         "--n-jobs", str(n_jobs), "--out-dir", str(out_dir)],
        cwd=checkout.root, env=checkout.env, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - start


def report_job(
    baseline: str, rounds: int, n_jobs: int, pairs: list[str], authors_command: str | None
) -> None:
    """Print part 3 (and the authors' code's time when ``authors_command`` runs it)."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = embedded_data_env(tmp)
        current = Checkout(ROOT, env)
        old = extract_commit(baseline, tmp / "baseline", env)
        walls: list[tuple[float, float]] = []
        authors: list[float] = []
        for number in range(rounds):
            runs = tmp / f"round{number}"
            walls.append(
                (
                    time_job(old, runs / "baseline", n_jobs),
                    time_job(current, runs / "current", n_jobs),
                )
            )
            if authors_command is not None:
                authors.append(time_command(authors_command, {**os.environ}))
    print(f"3. python incremental_curves.py --force --n-jobs {n_jobs} (3 pairs, curves + "
          f"deviation + figures) against {baseline}, same machine, alternating:")  # fmt: skip
    for number, (old_wall, new_wall) in enumerate(walls, 1):
        line = f"   round {number}: {baseline} {old_wall:6.1f} s -> current {new_wall:6.1f} s"
        if authors:
            line += f", the authors' code {authors[number - 1]:6.1f} s"
        print(line)
    ratio = statistics.median(new / old for old, new in walls)
    print(f"   current / {baseline} = {ratio:.3f} (median of {rounds})")
    if authors:
        to_authors = statistics.median(new / a for (_, new), a in zip(walls, authors, strict=True))
        met = "met" if to_authors <= AUTHORS_GOAL else "NOT met"
        print(
            f"   current / the authors' code = {to_authors:.3f} (median of {rounds}; issue 23 "
            f"asks for <= {AUTHORS_GOAL:.2f}: {met}); --authors-command: {authors_command}"
        )
    else:
        recorded, by_authors = AUTHORS_RECORDED
        print(f"   the authors' code was not timed (--authors-command). Issue 23 recorded "
              f"{recorded} s against the authors' {by_authors} s ({recorded / by_authors:.2f}, "
              f"goal <= {AUTHORS_GOAL:.2f});")  # fmt: skip
        print(
            f"   if {baseline} still took {recorded} s, the current job would be "
            f"{ratio * recorded / by_authors:.3f} of the authors' time (EXTRAPOLATED)"
        )
    if tuple(pairs) != mnist_config().pairs:
        print("   (the job always runs the three default pairs, whatever --pairs says)")


def main() -> int:
    """Run the three parts and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--pairs", default="7-1,3-0,5-2", help="pairs of parts 1 and 2")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of part 2")
    parser.add_argument("--baseline", default=BASELINE, metavar="COMMIT",
                        help=f"commit part 3 compares with (default {BASELINE})")  # fmt: skip
    parser.add_argument("--job-rounds", type=int, default=2, help="rounds of part 3")
    parser.add_argument("--skip-cold", action="store_true", help="leave out part 1")
    parser.add_argument("--skip-job", action="store_true", help="leave out part 3")
    parser.add_argument(
        "--authors-command", metavar="COMMAND",
        help="shell command that runs the authors' MNIST curves (their incremental.py's "
        "run_mnist) from a clean state in its own environment; part 3 times it in every round",
    )  # fmt: skip
    args = parser.parse_args()
    if min(args.n_jobs, args.rounds, args.job_rounds) < 1:
        parser.error("--n-jobs, --rounds and --job-rounds must be positive integers")
    if not args.skip_job and not is_commit(args.baseline):
        parser.error(f"--baseline: {args.baseline!r} is not a commit of this repository")
    pairs = args.pairs.split(",")
    tasks = default_tasks(pairs)
    groups: dict[object, list[CurveTask]] = {}
    for task in tasks:
        groups.setdefault(curve_group(task), []).append(task)
    if not args.skip_cold:
        report_warm_cold(list(groups.values()), args.n_jobs)
    report_paths(list(groups.values()), args.rounds, args.n_jobs)
    if not args.skip_job:
        report_job(args.baseline, args.job_rounds, args.n_jobs, pairs, args.authors_command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
