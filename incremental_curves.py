"""Backdoor learning curves and parameter deviation (paper Figs. 2 and 6).

    python incremental_curves.py            # MNIST 7-1, 3-0, 5-2, badnet 6x6, embedded digits
    python incremental_curves.py --help     # datasets, pairs, models, grids, parallelism

Needs the package installed (``./run_tests.sh`` or ``./run_mnist.sh`` create ``.venv``; then
``source .venv/bin/activate``). See ``backdoor_curves.experiments.curves.cli``.
"""

from backdoor_curves.experiments.curves.cli import main

if __name__ == "__main__":
    from backdoor_curves.utilities.commands import exit_process

    exit_process(main())
