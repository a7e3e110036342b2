"""``backdoor-curves report RESULTS_DIR``: write the HTML report of a results folder.

Also ``python -m backdoor_curves.experiments.report.cli``. Writes ``RESULTS_DIR/report.html``
and prints its path; a folder with nothing to report is one line and exit status 2, and no
file is written.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from backdoor_curves.experiments.report.page import write_report
from backdoor_curves.utilities.commands import DriverParser, report_errors

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Parser of ``backdoor-curves report``."""
    parser = DriverParser(
        prog="backdoor-curves report",
        description="Write RESULTS_DIR/report.html: run folders with their data, commits and "
        "versions, the comparison with the reference, key tables and every figure with its "
        "caption (one page, no network needed).",
    )
    parser.add_argument(
        "results_dir", metavar="RESULTS_DIR", type=Path, help="results folder, e.g. runs/mnist"
    )
    parser.add_argument(
        "--reference",
        default=None,
        metavar="DIR",
        help="reference the slope and curves tables are compared with (default: "
        "results/<name of RESULTS_DIR> when it exists; 'none' skips the comparison)",
    )
    parser.add_argument(
        "--embed",
        action="store_true",
        help="embed the figures in the page (base64 PNG) so that it can be moved on its own; "
        "by default they are linked by their path relative to RESULTS_DIR",
    )
    return parser


def _reference(text: str | None, results_dir: Path) -> Path | None:
    """Return the ``--reference`` folder: as given, None for ``none``, else ``results/<name>``."""
    if text is None:
        default = Path("results") / results_dir.resolve().name
        return default if default.is_dir() else None
    if text.lower() == "none":
        return None
    if not Path(text).is_dir():
        raise FileNotFoundError(
            f"--reference {text}: no such folder; give the folder of the reference tables "
            "(e.g. results/mnist) or --reference none"
        )
    return Path(text)


@report_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Write the report; print its path. User errors are one line and exit status 2."""
    args = build_parser().parse_args(argv)
    reference = _reference(args.reference, args.results_dir)
    path = write_report(args.results_dir, reference, embed=args.embed)
    print(f"[report] {path}")
    return 0


if __name__ == "__main__":
    from backdoor_curves.utilities.commands import exit_process

    exit_process(main())
