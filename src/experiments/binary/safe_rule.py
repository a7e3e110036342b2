"""Score the slope-only rule against the safe region of a results root's slope tables.

Run as ``python -m backdoor_curves.experiments.binary.safe_rule RESULTS_ROOT`` (e.g.
``results/mnist``). Reads ``RESULTS_ROOT/slope/<pair>_<trigger>/results.csv`` (the folders of
the configuration's data, no suffix), runs the protocol of
:mod:`backdoor_curves.analyses.rule_evaluation` (threshold tuned on the surrogate trigger,
leave-one-pair-out, transfer to the other triggers, the clean-accuracy-only baseline) and
writes into ``RESULTS_ROOT/safe_rule/`` (or ``--out``): ``scores.csv`` (one row per evaluation,
group and seed), ``summary.csv`` (per evaluation and attacker trigger) and
``summary_by_model.csv``. ``docs/safe_hyperparameters.md`` reads the MNIST numbers.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from backdoor_curves.analyses.rule_evaluation import evaluate_rule
from backdoor_curves.experiments.binary.safe_step import read_slope_table
from backdoor_curves.experiments.flags import add_safety_arguments, safety_criteria_from_args
from backdoor_curves.experiments.recording import folder_variant
from backdoor_curves.utilities.atomic import atomic_write_text, check_writable
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


def _slope_tables(root: Path) -> pd.DataFrame:
    folders = sorted(path.parent for path in (root / "slope").glob("*/results.csv"))
    frames = [read_slope_table(folder) for folder in folders if not folder_variant(folder.name)]
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        raise FileNotFoundError(
            f"no slope tables under {str(root / 'slope')!r}; run the slope driver first "
            "(e.g. ./run_mnist.sh all) or give the folder that holds slope/"
        )
    return pd.concat(frames, ignore_index=True)


def _csv_text(table: pd.DataFrame) -> str:
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


@report_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Score the rule; return the exit status."""
    args = build_parser().parse_args(argv)
    criteria = safety_criteria_from_args(args)
    evaluation = evaluate_rule(_slope_tables(args.results_root), criteria, args.surrogate)
    out = args.out if args.out is not None else args.results_root / "safe_rule"
    check_writable(out)
    summary = evaluation.summary()
    files = {
        "scores.csv": evaluation.scores,
        "summary.csv": summary,
        "summary_by_model.csv": evaluation.summary(("clf",)),
    }
    for name, table in files.items():
        atomic_write_text(out / name, _csv_text(table))
    if not args.quiet:
        print(f"safe region: {criteria.describe()}; rule tuned on {args.surrogate}: "
              f"theta <= {evaluation.rule.threshold:g}")  # fmt: skip
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(summary.round(3).to_string(index=False))
        print(f"wrote {', '.join(str(out / name) for name in files)}")
    return 0


if __name__ == "__main__":
    from backdoor_curves.utilities.commands import exit_process

    exit_process(main())
