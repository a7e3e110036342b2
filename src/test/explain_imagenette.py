"""Explain backdoored Imagenette predictions: ``python src/test/explain_imagenette.py``.

Also ``python -m backdoor_curves.test.explain_imagenette``. The models see frozen AlexNet
fc7 features; the gradients go through the network to the image. The driver is
:mod:`backdoor_curves.experiments.explain.cli` (see ``--help``); results go to
``runs/imagenette/explanations/<pair>_<trigger>/`` (``--out-dir`` changes the root)::

    python src/test/explain_imagenette.py --pair 6-0 --clf svm,logistic,svm-rbf --device cuda
    python src/test/explain_imagenette.py --profile smoke --weights alexnet.pth   # seconds on a CPU

See ``docs/method.md``, section "Explanations".
"""

from backdoor_curves.experiments.explain.cli import dataset_main

__all__ = ["main"]

main = dataset_main("imagenette")

if __name__ == "__main__":
    from backdoor_curves.utilities.commands import exit_process

    exit_process(main())
