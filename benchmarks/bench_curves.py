"""Warm-started beta paths vs independent cold fits, and the time of ``incremental_curves.py``.

    python benchmarks/bench_curves.py [--n-jobs 2] [--pairs 7-1,3-0,5-2]

1. For every curve of the default MNIST grid (3 pairs x 5 models x 2 lambdas x 3 poison
   fractions, 20 betas, embedded digits) it fits the path twice: incrementally
   (``BinaryClassifier.beta_path``: warm starts, exact ridge path) and with an independent cold
   fit per beta. It prints the fitting core-seconds of both per model and in total, their ratio
   (target: warm at least 3x faster), and the largest differences between the two (objective,
   relative; test-set scores, absolute; predictions that differ).
2. It times the whole default ``python incremental_curves.py`` (curves, deviation, figures)
   into a temporary folder (target: under 45 s with ``--n-jobs 2``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.config import mnist_config
from backdoor_curves.experiments.curves.cell import CurveTask
from backdoor_curves.experiments.problem import DataRequest, load_pair, poisoned_problem

ROOT = Path(__file__).resolve().parent.parent


def compare_path(task: CurveTask) -> dict[str, object]:
    """Fit one curve warm and cold; return timings and the largest differences."""
    problem = poisoned_problem(
        load_pair(task.data, None), task.trigger, task.poison_fraction, task.seed, "pixels"
    )
    X, y, is_poison = problem.X_train, problem.y_train, problem.is_poison
    C = 1.0 / task.lam
    gram = make_classifier(task.clf, C, task.gamma).kernel(X, X)
    path = make_classifier(task.clf, C, task.gamma).beta_path(
        X, y, is_poison, task.betas, gram=gram
    )
    warm_seconds, cold_seconds = 0.0, 0.0
    objective_gap, score_gap, flips = 0.0, 0.0, 0
    for beta in task.betas:
        weight = np.where(is_poison, beta, 1.0)
        start = time.perf_counter()
        warm = next(path)
        warm_seconds += time.perf_counter() - start
        start = time.perf_counter()
        cold = make_classifier(task.clf, C, task.gamma).fit(X, y, weight, gram=gram)
        cold_seconds += time.perf_counter() - start
        j_warm, j_cold = warm.objective(X, y, weight), cold.objective(X, y, weight)
        objective_gap = max(objective_gap, abs(j_warm - j_cold) / abs(j_cold))
        f_warm, f_cold = (
            warm.decision_function(problem.X_test),
            cold.decision_function(problem.X_test),
        )
        score_gap = max(score_gap, float(np.abs(f_warm - f_cold).max()))
        flips += int(np.count_nonzero((f_warm > 0) != (f_cold > 0)))
    model = task.clf if task.gamma is None else f"{task.clf} g={task.gamma:g}"
    return {
        "model": model,
        "warm_seconds": warm_seconds,
        "cold_seconds": cold_seconds,
        "objective_gap": objective_gap,
        "score_gap": score_gap,
        "prediction_flips": flips,
    }


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


def main() -> int:
    """Run both benchmarks and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--pairs", default="7-1,3-0,5-2")
    args = parser.parse_args()
    tasks = default_tasks(args.pairs.split(","))
    with_one_thread = Parallel(n_jobs=args.n_jobs, backend="loky", inner_max_num_threads=1)
    rows = pd.DataFrame(with_one_thread(delayed(compare_path)(task) for task in tasks))
    per_model = rows.groupby("model")[["warm_seconds", "cold_seconds"]].sum()
    per_model["speed-up"] = per_model["cold_seconds"] / per_model["warm_seconds"]
    print(f"1. {len(tasks)} curves x {len(tasks[0].betas)} betas: fitting core-seconds")
    print(per_model.round(2).to_string())
    warm, cold = rows["warm_seconds"].sum(), rows["cold_seconds"].sum()
    print(f"   total: warm {warm:.1f} s, cold {cold:.1f} s, speed-up {cold / warm:.1f}x "
          "(target >= 3x)")  # fmt: skip
    print(f"   same outputs: max relative objective gap {rows['objective_gap'].max():.1e}, "
          f"max test-score gap {rows['score_gap'].max():.1e}, "
          f"{rows['prediction_flips'].sum()} differing test predictions")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, str(ROOT / "incremental_curves.py"), "--n-jobs", str(args.n_jobs),
             "--out-dir", tmp, "--quiet"],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wall = time.perf_counter() - start
    print(f"2. python incremental_curves.py --n-jobs {args.n_jobs} (3 pairs, curves + deviation "
          f"+ figures): {wall:.1f} s wall (target < 45 s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
