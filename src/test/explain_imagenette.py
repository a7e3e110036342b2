"""Explain backdoored Imagenette predictions (SPEC 5.4): ``python src/test/explain_imagenette.py``.

Also runnable as ``python -m backdoor_curves.test.explain_imagenette``. The models are fitted on the
frozen AlexNet fc7 features of the images (SPEC 5.5): the driver extracts them once into the
feature cache before the grid, and the input gradient of a fitted model's decision is taken
with autograd through the network down to the image, ``d f(phi(x)) / d x``. Everything else
is the shared explanation driver :mod:`backdoor_curves.experiments.explain` (see ``--help``).

Needs the Imagenette data under ``--data-dir`` (or ``--download``) and AlexNet's ImageNet weights
(``--weights PATH``, or torchvision's file in the torch hub cache, or ``--download``).
Results go to ``runs/imagenette/explanations/<pair>_<trigger>/`` (``--out-dir`` changes the root)::

    python src/test/explain_imagenette.py --pair 6-0 --clf svm,logistic,svm-rbf --device cuda
    python src/test/explain_imagenette.py --profile smoke --weights alexnet.pth   # seconds on a CPU
"""

from __future__ import annotations

from collections.abc import Sequence

from backdoor_curves.experiments import explain

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the Imagenette explanations; return the exit status."""
    return explain.main(argv, dataset="imagenette")


if __name__ == "__main__":
    # Import main from the installed module, not from __main__, so that process pools
    # pickle the worker function by reference.
    from backdoor_curves.test import explain_imagenette
    from backdoor_curves.utilities.cli import exit_process

    exit_process(explain_imagenette.main())
