r"""Backdoor learning-slope sweep (``docs/drivers.md``).

Run as ``python -m backdoor_curves.experiments.binary.slope`` (``./run_mnist.sh`` does).

For every classifier, hyperparameter and seed: poison a fraction of the training set with the
trigger, fit the model on the clean points (``beta = 0``), compute the exact learning slope
``s = d L_bt / d beta`` and its pairwise influences, fit the poisoned model (``beta = 1``) and
the model of the unpoisoned training set, and record clean and backdoor accuracy.

One grid task is a (pair, trigger, classifier, gamma, seed) sweep over the ``C`` grid: ``C``
runs in increasing order with warm starts (the previous optimum is the next start) and the
kernel (Gram) matrix is computed once. The model of the unpoisoned training set does not
depend on the seed; each worker process computes its ``C`` sweep once and reuses it. A task
returns one row per ``C``. Example::

    python -m backdoor_curves.experiments.binary.slope --dataset mnist -pair 7-1 -clf svm \\
        -trigger_size 3 --n-jobs 2

``--also-double-trigger PAIRS`` adds the double-size (or faint) trigger's runs to the same
invocation, so that every grid of ``./run_<dataset>.sh all`` shares one worker pool (the workers
start, import and load the data once) and one stream of tasks (no worker waits for the end of a
run; :func:`~backdoor_curves.experiments.recording.record_runs`). The runs end by drawing the
slope figures of every table of their data variant (``--no-figures`` skips them;
``--figures-only`` only draws).

This module is the command line: the flags and their typed settings
(:class:`~backdoor_curves.experiments.binary.slope_run.SlopeSettings`). Validating, planning and
recording live in :mod:`backdoor_curves.experiments.binary.slope_run`; one cell's computation in
:mod:`backdoor_curves.experiments.binary.slope_cell`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from backdoor_curves.attacks.triggers import TriggerKind
from backdoor_curves.experiments.binary.slope_run import MAX_C, MAX_GAMMA, SlopeSettings, run_slope
from backdoor_curves.experiments.flags import (
    add_common_arguments,
    add_dataset_arguments,
    add_feature_arguments,
    add_reference_arguments,
    add_report_argument,
    add_safety_arguments,
    driver_settings_from_args,
    figure_step_from_args,
    safety_criteria_from_args,
)
from backdoor_curves.utilities.commands import DriverParser, bounded_float_list, report_errors

__all__ = ["build_parser", "main", "settings_from_args"]


def build_parser() -> argparse.ArgumentParser:
    """Parser of the slope driver (original single-dash flags kept as aliases)."""
    parser = DriverParser(
        prog="python -m backdoor_curves.experiments.binary.slope",
        description="Backdoor learning slope sweep: influence-function slope at beta=0, "
        "clean and backdoor accuracy of the poisoned models, over the paper's grids.",
    )
    add_dataset_arguments(parser)
    parser.add_argument(
        "-pair",
        "--pair",
        default=None,
        help="class pair(s) a-b, comma-separated "
        "(default: the dataset's three pairs); class a -> label 0, class b -> label 1",
    )
    parser.add_argument(
        "-clf",
        "--clf",
        default=None,
        help="classifier(s), comma-separated: svm, svm-rbf, logistic, ridge (default: all)",
    )
    parser.add_argument(
        "-trigger_type",
        "--trigger-type",
        choices=[k.value for k in TriggerKind],
        default=None,
        help="trigger kind (default: the dataset's main trigger)",
    )
    parser.add_argument(
        "-trigger_size",
        "--trigger-size",
        type=int,
        default=None,
        help="badnet patch side in pixels",
    )
    parser.add_argument(
        "--trigger-eps",
        type=float,
        default=None,
        help="invisible trigger amplitude in [0, 1] (e.g. 0.0392 = 10/255)",
    )
    parser.add_argument(
        "--double-trigger",
        action="store_true",
        help="use the dataset's double-size (or faint) trigger (paper Fig. 5)",
    )
    parser.add_argument(
        "--also-double-trigger",
        metavar="PAIRS",
        default=None,
        help="after the -pair runs with the main trigger, also run the double-size (or faint) "
        "trigger on these pairs, comma-separated, in the same invocation and worker pool "
        "(what ./run_<dataset>.sh all does)",
    )
    parser.add_argument(
        "-ppoison",
        "--poison-fraction",
        type=float,
        default=None,
        help="fraction of the training set replaced by poisons (default 0.1)",
    )
    parser.add_argument(
        "--C",
        dest="C_values",
        type=bounded_float_list("C values", 0.0, MAX_C),
        default=None,
        help="override the C grid, e.g. 0.01,1,100",
    )
    parser.add_argument(
        "--gamma",
        dest="gamma_values",
        type=bounded_float_list("gamma values", 0.0, MAX_GAMMA),
        default=None,
        help="override the RBF gamma grid",
    )
    parser.add_argument(
        "--save_results",
        action="store_true",
        help="accepted for compatibility: results are always saved",
    )
    parser.add_argument(
        "--run-name",
        default=None,
        help="results sub-folder of OUT_DIR/slope (default: PAIR_TRIGGER, e.g. 7-1_badnet3, "
        "with a suffix for non-default data: _smoke, _n<train>-<test>, _ds<seed>)",
    )
    figures = parser.add_mutually_exclusive_group()
    figures.add_argument(
        "--figures-only",
        action="store_true",
        help="compute nothing: draw the slope figures of the tables these flags point at "
        "(OUT_DIR/slope/*<suffix>, or --run-name) into OUT_DIR/figures<suffix>",
    )
    figures.add_argument(
        "--no-figures",
        action="store_true",
        help="write the tables only (by default the runs end by drawing the figures of every "
        "table of their data variant, as --figures-only does)",
    )
    add_common_arguments(parser, default_out="runs/{mnist,cifar,imagenette}")
    add_reference_arguments(parser)
    add_report_argument(parser)
    add_feature_arguments(parser)
    add_safety_arguments(parser)
    return parser


def settings_from_args(args: argparse.Namespace) -> SlopeSettings:
    """Return the typed settings of the parsed flags of :func:`build_parser`.

    Raises
    ------
    ValueError
        An invalid execution combination (e.g. ``--scheduler`` without ``--backend dask``), or
        ``--safe-margin`` / ``--safe-level`` outside [0, 1].
    """
    return SlopeSettings(
        common=driver_settings_from_args(args, report=True),
        pairs=args.pair,
        classifiers=args.clf,
        trigger_kind=None if args.trigger_type is None else TriggerKind(args.trigger_type),
        trigger_size=args.trigger_size,
        trigger_eps=args.trigger_eps,
        double_trigger=args.double_trigger,
        also_double_trigger=args.also_double_trigger,
        poison_fraction=args.poison_fraction,
        C_values=args.C_values,
        gamma_values=args.gamma_values,
        run_name=args.run_name,
        figures=figure_step_from_args(args),
        safety=safety_criteria_from_args(args),
    )


@report_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Run the slope sweep; return the exit status."""
    return run_slope(settings_from_args(build_parser().parse_args(argv)))


if __name__ == "__main__":
    # Run main() from the importable module, not from __main__, so that process pools
    # pickle the worker function by reference.
    from backdoor_curves.experiments.binary import slope
    from backdoor_curves.utilities.commands import exit_process

    exit_process(slope.main())
