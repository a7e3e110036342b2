"""Explain backdoored MNIST predictions: ``python src/test/explain_mnist.py``.

Also ``python -m backdoor_curves.test.explain_mnist``. The models see pixels, so the input
gradients are the models' own. The driver is
:mod:`backdoor_curves.experiments.explain.cli` (see ``--help``); results go to
``runs/mnist/explanations/<pair>_<trigger>/`` (``--out-dir`` changes the root)::

    python src/test/explain_mnist.py --pair 7-1 --clf svm,logistic,svm-rbf --k 7 --n-images 50

See ``docs/method.md``, section "Explanations".
"""

from backdoor_curves.experiments.explain.cli import dataset_main

__all__ = ["main"]

main = dataset_main("mnist")

if __name__ == "__main__":
    from backdoor_curves.utilities.commands import exit_process

    exit_process(main())
