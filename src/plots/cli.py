"""Command line of the plotting step: ``python -m backdoor_curves.plots RESULTS_DIR``.

Inside: :func:`build_parser` and :func:`main`. Options: ``--only KIND`` (one table kind),
``--format pdf png``, ``--out DIR`` (default ``RESULTS_DIR/figures``), ``--quiet``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from backdoor_curves.plots.figures import draw_figures
from backdoor_curves.plots.registry import table_kinds
from backdoor_curves.plots.style import FORMATS
from backdoor_curves.plots.tables import load_requested_tables

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of ``python -m backdoor_curves.plots``."""
    parser = argparse.ArgumentParser(
        prog="python -m backdoor_curves.plots",
        description="Draw the paper's figures from the result tables under RESULTS_DIR "
        "(never recomputes); writes RESULTS_DIR/figures/*.pdf and *.png.",
    )
    parser.add_argument(
        "results_dir",
        metavar="RESULTS_DIR",
        type=Path,
        help="folder with slope/, curves/ and/or deviation/ tables, e.g. results/mnist",
    )
    parser.add_argument(
        "--only", choices=table_kinds(), help="draw only the figures of this table kind"
    )
    parser.add_argument(
        "--format",
        dest="formats",
        nargs="+",
        choices=FORMATS,
        default=list(FORMATS),
        help="file formats (default: pdf png)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="figures folder (default: RESULTS_DIR/figures)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not list the written figures")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the plotting step; return 0 on success and 2 when there is nothing valid to plot."""
    args = build_parser().parse_args(argv)
    kinds = (args.only,) if args.only else table_kinds()
    try:
        tables = load_requested_tables(args.results_dir, kinds)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    formats = tuple(dict.fromkeys(args.formats))
    out_dir = args.out if args.out is not None else args.results_dir / "figures"
    written = draw_figures(tables, out_dir, formats)
    if not args.quiet:
        for stem, suffixes in _by_stem(written).items():
            print(f"wrote {stem} [{', '.join(suffixes)}]")
    return 0


def _by_stem(paths: list[Path]) -> dict[Path, list[str]]:
    """Group written files by figure: ``{stem: [format, ...]}`` in writing order."""
    stems: dict[Path, list[str]] = {}
    for path in paths:
        stem, _, fmt = str(path).rpartition(".")
        stems.setdefault(Path(stem), []).append(fmt)
    return stems
