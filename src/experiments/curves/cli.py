r"""Learning curves and parameter deviation (``docs/drivers.md``): ``incremental_curves.py``.

For each model (svm, logistic, ridge, svm-rbf at two gammas), each of its two lambdas
(``C = 1 / lambda``), each poison fraction ``p`` and seed, the optimum ``theta*(beta)`` is
followed along beta (:mod:`backdoor_curves.experiments.curves.cell`): the SVMs' exact
piecewise-affine path with a row at every breakpoint, logistic (predictor-corrector
continuation) and ridge (closed form) with step-size control to a stated tolerance. At every
row the task records the clean and backdoor test loss (mean of the model's own loss), CA, BA
and the parameter deviation

    nu(beta) = 1/2 (1 - cos(w(0), w(beta))),    rho(beta) = ||w(beta)||

(primal weights without bias; the RKHS norm and inner product for the RBF SVM), computed by
:func:`backdoor_curves.analyses.deviation.parameter_deviation`.

Beyond influence functions, made measurable: the influence slope ``slope_if`` (the exact
derivative at beta = 0, :func:`learning_slope`) is compared with the curve's first finite
difference ``slope_fd = (L(beta_1) - L(0)) / beta_1`` (``slope_ratio = slope_if / slope_fd``),
and ``tangent_crossing`` is the largest beta up to which the tangent's predicted
drop ``-slope_if * beta`` stays within 10% of the actual drop ``L(0) - L(beta)``: on the
exact path for the SVMs, at the reported betas and then at the root of the miss on the
followed path for logistic and ridge (NaN when the slope is undefined).
``tangent_valid_until`` is the crossing for logistic and ridge, and for the SVMs the first
breakpoint of the path at which the loss has left the tangent; the equations live in
:mod:`backdoor_curves.analyses.tangent`. This module only orchestrates.

Tables: ``results/<dataset>/curves/<pair>_<trigger>/results.csv`` (one row per beta) and
``results/<dataset>/deviation/<pair>_<trigger>/results.csv`` (every row with
``p = deviation fraction``, derived from the curves table), each with a manifest; runs on
other data than the configuration's get a folder suffix (``_smoke``, ``_n<train>-<test>``,
``_ds<seed>``). Figures (unless ``--no-figures``): ``<out-dir>/figures<suffix>/``, drawn from the
tables of this run's suffix only (:mod:`backdoor_curves.experiments.figure_step`).

This module is the command line: the flags and their typed settings
(:class:`~backdoor_curves.experiments.curves.run.CurvesSettings`). Validating, planning,
recording and the deviation tables live in :mod:`backdoor_curves.experiments.curves.run`; one
curve's computation in :mod:`backdoor_curves.experiments.curves.cell`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from backdoor_curves.experiments.curves.run import CurvesSettings, run_curves
from backdoor_curves.experiments.flags import (
    add_common_arguments,
    add_dataset_arguments,
    add_feature_arguments,
    add_reference_arguments,
    add_report_argument,
    driver_settings_from_args,
    figure_step_from_args,
)
from backdoor_curves.utilities.commands import DriverParser, float_list, report_errors

__all__ = ["build_parser", "main", "settings_from_args"]


def build_parser() -> argparse.ArgumentParser:
    """Parser of ``python incremental_curves.py``."""
    parser = DriverParser(
        prog="python incremental_curves.py",
        description="Backdoor learning curves (loss vs poison weight beta, followed "
        "incrementally) and parameter deviation, then figures F2 and F6.",
    )
    add_dataset_arguments(parser)
    parser.add_argument(
        "--pairs", "-pair", "--pair", dest="pairs", default=None,
        help="class pairs a-b, comma-separated (default: the dataset's three pairs)",
    )  # fmt: skip
    parser.add_argument(
        "--models", "-clf", dest="models", default=None,
        help="svm, logistic, ridge, svm-rbf (both gammas), comma-separated (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--trigger-size", "-trigger_size", dest="trigger_size", type=int, default=None,
        help="badnet patch side (default: the dataset's curve trigger, 6 for MNIST)",
    )  # fmt: skip
    parser.add_argument(
        "--betas", type=float_list, default=None,
        help="poison weights in [0, 1], increasing, starting at 0 (default: the paper's 20)",
    )  # fmt: skip
    parser.add_argument(
        "--poison-fractions", "-ppoison", dest="poison_fractions", type=float_list, default=None,
        help="poison fractions in (0, 1) (default: 0.01,0.1,0.2)",
    )  # fmt: skip
    parser.add_argument(
        "--no-figures", action="store_true", help="write the tables only (draw them later "
        "with python -m backdoor_curves.plots RESULTS_DIR)",
    )  # fmt: skip
    add_common_arguments(parser, default_out="runs/{mnist,cifar,imagenette}")
    add_reference_arguments(parser)
    add_report_argument(parser)
    add_feature_arguments(parser)
    return parser


def settings_from_args(args: argparse.Namespace) -> CurvesSettings:
    """Return the typed settings of the parsed flags of :func:`build_parser`.

    Raises
    ------
    ValueError
        An invalid execution combination (e.g. ``--scheduler`` without ``--backend dask``).
    """
    return CurvesSettings(
        common=driver_settings_from_args(args, report=True),
        pairs=args.pairs,
        models=args.models,
        trigger_size=args.trigger_size,
        betas=args.betas,
        poison_fractions=args.poison_fractions,
        figures=figure_step_from_args(args),
    )


@report_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Run the learning curves and parameter deviation; return the exit status."""
    return run_curves(settings_from_args(build_parser().parse_args(argv)))


if __name__ == "__main__":
    # Run main() from the importable module, not from __main__, so that process pools
    # pickle the worker function by reference.
    from backdoor_curves.experiments.curves import cli as curves
    from backdoor_curves.utilities.commands import exit_process

    exit_process(curves.main())
