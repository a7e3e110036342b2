r"""Explanations of backdoored predictions over the regularisation grid.

The dataset scripts ``src/test/explain_<dataset>.py`` are :func:`dataset_main` of their dataset.
For every classifier, ``C`` of the paper grid
and seed, the clean model (``beta = 0``: poisons weighted 0) and the poisoned model
(``beta = 1``) are fitted, and on ``n_images`` triggered test images (target labels):

- the input gradient of the decision function, and its **trigger share**: the part of
  ``sum |g|`` inside the trigger mask (the ``area_share`` column is the mask's share of the
  image, what an attribution blind to the trigger would get);
- the exact influence ``I_tj = d (y_t f(x_t)) / d s_j`` of every training point (one solve
  per image, :func:`~backdoor_curves.attacks.explanations.training_influence`), its top-k by
  ``|I_tj|`` and the **poison share** among them (``poison_fraction`` is the reference).

One table row per (classifier, gamma, ``C``, seed, beta) with the means over the images.
One grid task is a (classifier, gamma, seed) sweep over ``C`` (warm starts in increasing
``C``, one Gram matrix). After the grid, a few images of the first seed are explained in full
for figure F7 (``examples_<clf>.npz``: images, gradient maps, top-k training images with their
labels and poison flags) at two values of ``C`` (``--example-C``; by default the strongest and
the weakest regularisation at which the poisoned model has influential training points, see
:func:`choose_example_C`), and the figures are drawn from the files. Example::

    python src/test/explain_mnist.py --pair 7-1 --clf svm,logistic --k 7 --n-images 50

How images become model inputs is a :class:`~backdoor_curves.attacks.explanations.FeatureMap`
of the dataset's feature stage (:mod:`backdoor_curves.experiments.explain.gradients`): pixels
for MNIST; for CIFAR-10 and Imagenette the frozen AlexNet fc7 features (``docs/data.md``, "Deep
features and the feature cache"), which the driver extracts once into the feature cache before
the grid, with the input gradient of a
fitted model's decision taken with autograd through the network down to the image,
``d f(phi(x)) / d x``. Those two need the dataset under ``--data-dir`` (or ``--download``) and
AlexNet's ImageNet weights (``--weights PATH``, torchvision's file in the torch hub cache, or
``--download``); ``--profile smoke`` runs in seconds on a CPU.

This module is the command line: the flags and their typed settings
(:class:`~backdoor_curves.experiments.explain.run.ExplainSettings`). Validating, planning and
recording live in :mod:`backdoor_curves.experiments.explain.run`, one cell in
:mod:`backdoor_curves.experiments.explain.cell`, the F7 examples in
:mod:`backdoor_curves.experiments.explain.examples`, the measures of an explanation in
:mod:`backdoor_curves.analyses.explanation`.

See ``docs/method.md``, section "Explanations".
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from backdoor_curves.experiments.config import get_config
from backdoor_curves.experiments.explain.run import ExplainSettings, run_explain
from backdoor_curves.experiments.flags import (
    add_common_arguments,
    add_feature_arguments,
    add_report_argument,
    driver_settings_from_args,
    figure_step_from_args,
)
from backdoor_curves.utilities.commands import DriverParser, float_list, report_errors

__all__ = [
    "IMAGE_DEFAULTS",
    "build_parser",
    "dataset_main",
    "dispatch_main",
    "main",
    "settings_from_args",
]

#: ``--n-images`` and ``--n-show`` defaults per profile (the smoke test sets are tiny).
IMAGE_DEFAULTS = {"paper": (50, 3), "smoke": (4, 2)}


def build_parser(dataset: str = "mnist", prog: str | None = None) -> argparse.ArgumentParser:
    """Parser of the explanation script of ``dataset`` (deep-feature flags for deep datasets)."""
    parser = DriverParser(
        prog=prog or f"python src/test/explain_{dataset}.py",
        description=f"Explain backdoored predictions on {dataset}: input gradients (share "
        "inside the trigger) and top-k influential training points (share of poisons), "
        "clean vs poisoned models, over the regularisation grid; figure F7 and a summary.",
    )
    parser.set_defaults(dataset=dataset)
    parser.add_argument(
        "--profile",
        choices=tuple(IMAGE_DEFAULTS),
        default="paper",
        help="paper grids (default) or a tiny smoke grid (seconds on a CPU)",
    )
    parser.add_argument("-pair", "--pair", default=None, help="class pair(s) a-b, comma-separated")
    parser.add_argument(
        "-clf",
        "--clf",
        default=None,
        help="classifier(s), comma-separated: svm, svm-rbf, logistic, ridge "
        "(default: svm, logistic, svm-rbf)",
    )
    parser.add_argument(
        "--k", type=int, default=7, help="top-k influential training points (default 7)"
    )
    parser.add_argument(
        "--n-images",
        type=int,
        default=None,
        help="triggered test images explained per seed (default 50; smoke profile 4)",
    )
    parser.add_argument(
        "--n-show", type=int, default=None, help="images shown in figure F7 (default 3; smoke 2)"
    )
    parser.add_argument(
        "--C", dest="C_values", type=float_list, default=None, help="override the C grid"
    )
    parser.add_argument(
        "--example-C",
        dest="example_C",
        type=float_list,
        default=None,
        metavar="C1,C2",
        help="the two C values figure F7 shows (default: the strongest and the weakest "
        "regularisation of the grid at which the poisoned model has influential points)",
    )
    parser.add_argument(
        "--gamma",
        type=float,
        default=None,
        help="RBF gamma (default: the middle of the dataset's gamma grid)",
    )
    figures = parser.add_mutually_exclusive_group()
    figures.add_argument(
        "--no-figures", action="store_true", help="write the tables and examples only"
    )
    figures.add_argument(
        "--figures-only",
        action="store_true",
        help="compute nothing: redraw F7 and the summary of the run folders these flags "
        "point at (OUT_DIR/explanations/<run>/figures)",
    )
    add_common_arguments(parser, default_out=f"runs/{get_config(dataset).results_name}")
    add_report_argument(parser)
    if get_config(dataset).features != "pixels":
        add_feature_arguments(parser)
    return parser


def settings_from_args(args: argparse.Namespace) -> ExplainSettings:
    """Return the typed settings of the parsed flags of :func:`build_parser`.

    ``--n-images`` and ``--n-show`` default to the profile's :data:`IMAGE_DEFAULTS` (``--n-show``
    at most ``--n-images``).

    Raises
    ------
    ValueError
        An invalid execution combination (e.g. ``--scheduler`` without ``--backend dask``).
    """
    n_images, n_show = IMAGE_DEFAULTS[args.profile]
    n_images = n_images if args.n_images is None else args.n_images
    deep = get_config(args.dataset).features != "pixels"
    return ExplainSettings(
        common=driver_settings_from_args(args, features=deep, reference=False, report=True),
        pairs=args.pair,
        classifiers=args.clf,
        k=args.k,
        n_images=n_images,
        n_show=min(n_show, n_images) if args.n_show is None else args.n_show,
        C_values=args.C_values,
        example_C=args.example_C,
        gamma=args.gamma,
        figures=figure_step_from_args(args),
    )


def dataset_main(dataset: str) -> Callable[[Sequence[str] | None], int]:
    """Return the ``main(argv=None)`` of the explanation script of ``dataset``.

    The scripts ``src/test/explain_<dataset>.py`` are this function of their dataset; their
    workers run :func:`run_explain_task` of this module, so nothing of the script itself is
    pickled and it can run by path or as a module alike.
    """

    def script_main(argv: Sequence[str] | None = None) -> int:
        return main(argv, dataset=dataset)

    script_main.__doc__ = f"Run the {dataset} explanations; return the exit status."
    return script_main


def dispatch_main(argv: Sequence[str] | None = None) -> int:
    """``backdoor-curves explain DATASET [FLAGS...]``: the explanation script of ``DATASET``."""
    arguments = list(argv or ())
    datasets = ("mnist", "cifar10", "imagenette")
    if not arguments or arguments[0] in ("-h", "--help"):
        print(f"usage: backdoor-curves explain {{{','.join(datasets)}}} [FLAGS...]\n"
              "backdoor-curves explain DATASET --help lists the flags.")  # fmt: skip
        return 0 if arguments else 2
    if arguments[0] not in datasets:
        print(
            f"backdoor-curves explain: error: unknown dataset {arguments[0]!r}; valid: "
            f"{', '.join(datasets)}",
            file=sys.stderr,
        )
        return 2
    return main(arguments[1:], dataset=arguments[0])


def main(argv: Sequence[str] | None = None, *, dataset: str = "mnist") -> int:
    """Run the explanation grid of ``dataset`` and draw its figures; return the exit status.

    The dataset's configuration says what the models see: pixels (MNIST), or AlexNet fc7
    features (CIFAR-10, Imagenette), extracted once into the feature cache before the grid
    and differentiated through the network for the input gradients. Results go to
    ``OUT_DIR/explanations/<pair>_<trigger><variant>/`` (``OUT_DIR`` defaults to
    ``runs/<dataset>``; the committed reference is ``results/<dataset>``). Bad input is one
    line on stderr and exit status 2, with nothing written.
    """

    @report_errors
    def checked(arguments: Sequence[str] | None) -> int:
        return _run(arguments, dataset)

    return checked(argv)


def _run(argv: Sequence[str] | None, dataset: str) -> int:
    return run_explain(settings_from_args(build_parser(dataset).parse_args(argv)))
