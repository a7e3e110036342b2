"""Explain backdoored MNIST predictions (SPEC 5.4): ``python src/test/explain_mnist.py``.

Also runnable as ``python -m backdoor_curves.test.explain_mnist``. The models see pixels, so
the input gradients are the models' own; everything else is the shared explanation driver
:mod:`backdoor_curves.experiments.explain` (see ``--help``). Results go to
``results/mnist/explanations/<pair>_<trigger>/``::

    python src/test/explain_mnist.py --pair 7-1 --clf svm,logistic,svm-rbf --k 7 --n-images 50
"""

from __future__ import annotations

from collections.abc import Sequence

from backdoor_curves.experiments import explain

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the MNIST explanations; return the exit status."""
    return explain.main(argv, dataset="mnist")


if __name__ == "__main__":
    # Import main from the installed module, not from __main__, so that process pools
    # pickle the worker function by reference.
    from backdoor_curves.test import explain_mnist
    from backdoor_curves.utilities.cli import exit_process

    exit_process(explain_mnist.main())
