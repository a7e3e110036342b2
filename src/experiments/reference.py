"""``backdoor-curves reference compare|update``: a run against the committed reference tables.

``compare RUN_ROOT REFERENCE_ROOT`` compares every table of a run root with the reference
(what the drivers print at the end of a run, after the fact); ``update RUN_ROOT
REFERENCE_ROOT`` copies a finished run's tables over the reference and redraws the reference
figures (the maintainer's command, see ``docs/reproducing.md``). Also
``python -m backdoor_curves.experiments.reference``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from pathlib import Path

from backdoor_curves.experiments.figure_step import draw_run_figures
from backdoor_curves.experiments.reference_tables import (
    ReferenceCheck,
    run_folders,
    update_reference,
)
from backdoor_curves.experiments.table_comparison import COMPARED_KINDS
from backdoor_curves.utilities.commands import DriverParser, report_errors

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Parser of ``backdoor-curves reference``."""
    parser = DriverParser(
        prog="backdoor-curves reference",
        description="Compare a run's tables with the committed reference, or update the "
        "reference from a finished run (tables, manifests, figures).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser("compare", help="compare RUN_ROOT with REFERENCE_ROOT")
    update = commands.add_parser(
        "update", help="copy RUN_ROOT's finished tables over REFERENCE_ROOT and redraw figures"
    )
    for sub in (compare, update):
        sub.add_argument("run_root", type=Path, help="run root, e.g. runs/mnist")
        sub.add_argument("reference_root", type=Path, help="reference root, e.g. results/mnist")
    compare.add_argument(
        "--kinds", default="slope,curves", help="table kinds (default: slope,curves)"
    )
    compare.add_argument(
        "--fail-on-difference", action="store_true", help="exit 1 when a cell differs"
    )
    update.add_argument(
        "--kinds",
        default="slope,curves,deviation",
        help="table kinds to copy (default: slope,curves,deviation)",
    )
    update.add_argument(
        "--no-figures", action="store_true", help="copy the tables only, draw nothing"
    )
    update.add_argument(
        "--all-variants",
        action="store_true",
        help="also copy runs on other data (suffixed folders such as _smoke); default: only "
        "runs on the configuration's data",
    )
    return parser


def _kinds(text: str, allowed: Iterable[str]) -> tuple[str, ...]:
    kinds = tuple(kind.strip() for kind in text.split(",") if kind.strip())
    allowed = tuple(allowed)
    bad = [kind for kind in kinds if kind not in allowed]
    if bad or not kinds:
        raise ValueError(f"--kinds {text!r}: valid kinds are {', '.join(allowed)}")
    return kinds


def _compare_command(args: argparse.Namespace) -> int:
    if not args.run_root.is_dir():
        raise FileNotFoundError(f"run root {str(args.run_root)!r} does not exist")
    status = 0
    for kind in _kinds(args.kinds, COMPARED_KINDS):
        check = ReferenceCheck(
            kind, args.reference_root, fail_on_difference=args.fail_on_difference
        )
        for folder in run_folders(args.run_root, kind, None):
            check.add(folder)
        status = max(status, check.report())
    return status


def _update_command(args: argparse.Namespace) -> int:
    kinds = _kinds(args.kinds, ("slope", "curves", "deviation"))
    variants = None if args.all_variants else ("",)
    written = update_reference(args.run_root, args.reference_root, kinds, variants)
    for folder in written:
        print(f"[reference] updated {folder}")
    if not args.no_figures:
        for path in draw_run_figures(args.reference_root, kinds, ""):
            if path.suffix == ".png":
                print(f"[reference] figure {path}")
    return 0


@report_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Run ``compare`` or ``update``; user errors are one line and exit status 2."""
    args = build_parser().parse_args(argv)
    if args.command == "compare":
        return _compare_command(args)
    return _update_command(args)


if __name__ == "__main__":
    from backdoor_curves.utilities.commands import exit_process

    exit_process(main())
