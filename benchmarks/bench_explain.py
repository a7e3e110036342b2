"""Time ``src/test/explain_mnist.py`` over the whole grid and count solves per image.

    python benchmarks/bench_explain.py [--n-jobs 2] [--pair 7-1,3-0,5-2]

Runs the script (embedded MNIST digits, paper grid: svm, logistic, svm-rbf x 10 C x 5 seeds x
beta in {0, 1}, 50 triggered images per seed) into a temporary folder, so nothing under
``results/`` changes, and prints:

- wall time of the grid (and of the F7 examples and start-up on top; figures are skipped);
- the Hessian / KKT right-hand sides solved per explained image (1 by design: the influence
  of all training points comes from one adjoint solve per image and model);
- for one fitted model per classifier, the time of the adjoint influence against the forward
  derivative (``weight_sensitivity``, one right-hand side per training point), both giving
  the same numbers.

Numbers vary with the machine's load; compare ratios measured in one run.
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

from backdoor_curves.attacks.explanations import training_influence
from backdoor_curves.classifiers.losses import to_signed
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.config import mnist_config
from backdoor_curves.experiments.explain.cell import explained_problem
from backdoor_curves.experiments.problem import DataRequest, load_pair

ROOT = Path(__file__).resolve().parent.parent
MODELS = (("svm", 1.0, None), ("logistic", 1.0, None), ("svm-rbf", 10.0, 5e-3))


def adjoint_vs_forward() -> None:
    """Time both forms of the influence on the real 750-point 7-1 problem, 50 images."""
    config = mnist_config()
    pair_task = load_pair(DataRequest("mnist", "7-1", None, None, 999), None)
    problem = explained_problem(pair_task, config.main_trigger, 0.1, 1, 50, "pixels")
    n_train = len(problem.y_train)
    for name, C, gamma in MODELS:
        model = make_classifier(name, C, gamma).fit(problem.X_train, problem.y_train)
        start = time.perf_counter()
        adjoint = training_influence(
            model, problem.X_train, problem.y_train, None, problem.X_images, problem.y_images
        )
        adjoint_seconds = time.perf_counter() - start
        start = time.perf_counter()
        forward = model.weight_sensitivity(
            problem.X_train, problem.y_train, None, problem.X_images, np.arange(n_train)
        )
        forward_seconds = time.perf_counter() - start
        expected = to_signed(problem.y_images)[:, None] * forward.decision
        error = np.max(np.abs(adjoint.margin - expected)) / max(np.max(np.abs(expected)), 1e-300)
        print(
            f"  {name:<9} C={C:<5g} adjoint {adjoint_seconds:6.3f} s "
            f"({adjoint.n_solves / 50:.0f} solve/image) | forward {forward_seconds:6.3f} s "
            f"({n_train} right-hand sides) | max rel. difference {error:.1e}"
        )


def main() -> int:
    """Run the benchmark and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--pair", default="7-1,3-0,5-2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable, str(ROOT / "src" / "test" / "explain_mnist.py"), "--pair", args.pair,
            "--n-jobs", str(args.n_jobs), "--out-dir", tmp, "--no-figures", "--quiet",
        ]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        total = time.perf_counter() - start
        tables = Path(tmp).glob("explanations/*/results.csv")
        table = pd.concat(pd.read_csv(path) for path in tables)
    print(f"explain_mnist.py --pair {args.pair} (n_jobs={args.n_jobs}): {total:.1f} s wall")
    print(f"  {len(table)} rows (clf x C x seed x beta); cell work {table['seconds'].sum():.1f} s")
    print(f"  solves per image: {sorted(table['solves_per_image'].unique())}")
    print(table.groupby("clf")["seconds"].sum().round(1).to_string())
    print("adjoint vs forward influence (750 training points, 50 images):")
    adjoint_vs_forward()
    return 0


if __name__ == "__main__":
    sys.exit(main())
