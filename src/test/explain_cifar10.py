"""Explain backdoored CIFAR-10 predictions: ``python src/test/explain_cifar10.py``.

Also ``python -m backdoor_curves.test.explain_cifar10``. The models see frozen AlexNet fc7
features; the gradients go through the network to the image. The driver is
:mod:`backdoor_curves.experiments.explain.cli` (see ``--help``); results go to
``runs/cifar/explanations/<pair>_<trigger>/`` (``--out-dir`` changes the root)::

    python src/test/explain_cifar10.py --pair 6-0 --clf svm,logistic,svm-rbf --device cuda
    python src/test/explain_cifar10.py --profile smoke --weights alexnet.pth   # seconds on a CPU

See ``docs/method.md``, section "Explanations".
"""

from backdoor_curves.experiments.explain.cli import dataset_main

__all__ = ["main"]

main = dataset_main("cifar10")

if __name__ == "__main__":
    from backdoor_curves.utilities.commands import exit_process

    exit_process(main())
