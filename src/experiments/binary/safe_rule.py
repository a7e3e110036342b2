"""Command line: score the slope-only rule against the safe region of a results root.

Run as ``python -m backdoor_curves.experiments.binary.safe_rule RESULTS_ROOT`` (e.g.
``results/mnist``). Reads ``RESULTS_ROOT/slope/<pair>_<trigger>/results.csv`` (the folders of
the configuration's data, no suffix), runs the protocol of
:mod:`backdoor_curves.analyses.rule_evaluation` (threshold tuned on the surrogate trigger,
leave-one-pair-out, transfer to the other triggers, the clean-accuracy-only baseline) and
writes ``scores.csv``, ``summary.csv`` and ``summary_by_model.csv`` into
``RESULTS_ROOT/safe_rule/`` (or ``--out``;
:func:`~backdoor_curves.experiments.binary.safe_step.write_rule_evaluation`).
``docs/safe_hyperparameters.md`` reads the MNIST numbers.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from backdoor_curves.experiments.binary.safe_step import write_rule_evaluation
from backdoor_curves.experiments.flags import add_safety_arguments, safety_criteria_from_args
from backdoor_curves.utilities.commands import DriverParser, report_errors

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Parser of the rule's scoring command."""
    parser = DriverParser(
        prog="python -m backdoor_curves.experiments.binary.safe_rule",
        description="Score the slope-only hyper-parameter rule against the safe region of the "
        "slope tables under RESULTS_ROOT (docs/safe_hyperparameters.md).",
    )
    parser.add_argument("results_root", metavar="RESULTS_ROOT", type=Path)
    parser.add_argument(
        "--surrogate",
        default="badnet3",
        help="trigger the defender computes the slope with (default badnet3)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default RESULTS_ROOT/safe_rule)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not print the summary")
    add_safety_arguments(parser)
    return parser


@report_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Score the rule; return the exit status."""
    args = build_parser().parse_args(argv)
    criteria = safety_criteria_from_args(args)
    out = args.out if args.out is not None else args.results_root / "safe_rule"
    evaluation, written = write_rule_evaluation(args.results_root, criteria, args.surrogate, out)
    if not args.quiet:
        print(f"safe region: {criteria.describe()}; rule tuned on {args.surrogate}: "
              f"theta <= {evaluation.rule.threshold:g}")  # fmt: skip
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(evaluation.summary().round(3).to_string(index=False))
        print(f"wrote {', '.join(map(str, written))}")
    return 0


if __name__ == "__main__":
    from backdoor_curves.utilities.commands import exit_process

    exit_process(main())
