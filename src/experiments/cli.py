"""The ``backdoor-curves`` command: one entry point for every driver of the package.

::

    backdoor-curves slope --dataset mnist -pair 7-1 -clf svm     # learning-slope sweep
    backdoor-curves curves                                        # incremental_curves.py
    backdoor-curves explain mnist --pair 7-1                      # src/test/explain_mnist.py
    backdoor-curves nn --profile quick                            # the ResNet experiment
    backdoor-curves plots runs/mnist                              # redraw figures from tables
    backdoor-curves reference compare runs/mnist results/mnist    # compare with the reference
    backdoor-curves triggers                                      # trigger examples figure
    backdoor-curves report runs/mnist                             # runs/mnist/report.html

``python -m backdoor_curves`` is the same command. Each subcommand is the ``main`` of one
command-line module and takes that module's flags (``backdoor-curves slope --help``). A
subcommand's module is imported only when it runs, so ``slope`` never imports torch and
``--help`` answers at once.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["COMMANDS", "main"]


@dataclass(frozen=True)
class Command:
    """A subcommand: the module whose ``main(argv) -> int`` runs it, and one line of help."""

    module: str
    summary: str
    function: str = "main"

    def load(self) -> Callable[[Sequence[str] | None], int]:
        """Import the module and return its entry point."""
        module = importlib.import_module(self.module)
        entry: Callable[[Sequence[str] | None], int] = getattr(module, self.function)
        return entry


COMMANDS: dict[str, Command] = {
    "slope": Command(
        "backdoor_curves.experiments.binary.slope",
        "backdoor learning slope sweeps (what run_mnist.sh, run_cifar.sh, run_imagenette.sh run)",
    ),
    "curves": Command(
        "backdoor_curves.experiments.curves.cli",
        "learning curves and parameter deviation (incremental_curves.py)",
    ),
    "explain": Command(
        "backdoor_curves.experiments.explain.cli",
        "explanations of clean and poisoned models: explain {mnist,cifar10,imagenette} ...",
        "dispatch_main",
    ),
    "nn": Command(
        "backdoor_curves.experiments.nn.backdoor_slope",
        "beta-weighted ResNet training and the head slope (src/experiments/nn/backdoor_slope.py)",
    ),
    "plots": Command(
        "backdoor_curves.plots.cli", "draw every figure of a results folder from its tables"
    ),
    "reference": Command(
        "backdoor_curves.experiments.reference",
        "compare a run with the committed reference tables, or update them",
    ),
    "report": Command(
        "backdoor_curves.experiments.report.cli",
        "the HTML report of a results folder (RESULTS_DIR/report.html)",
    ),
    "triggers": Command(
        "backdoor_curves.experiments.trigger_examples",
        "the figure of clean and triggered example images",
    ),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {command.summary}" for name, command in COMMANDS.items()]
    return (
        "usage: backdoor-curves COMMAND [FLAGS...]\n\n"
        "Backdoor learning curves, learning slope and parameter deviation "
        "(Cina et al., arXiv 2106.07214).\n\ncommands:\n"
        + "\n".join(lines)
        + "\n\nbackdoor-curves COMMAND --help lists the flags of a command."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``backdoor-curves COMMAND [FLAGS...]``; return the exit status.

    Without a command, or with ``-h`` / ``--help``, prints the list of commands; an unknown
    command is one line on stderr and exit status 2.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] in ("-h", "--help"):
        print(_usage(), file=sys.stdout if arguments else sys.stderr)
        return 0 if arguments else 2
    name, rest = arguments[0], arguments[1:]
    if name not in COMMANDS:
        print(
            f"backdoor-curves: error: unknown command {name!r}; valid commands: "
            f"{', '.join(COMMANDS)} (see --help)",
            file=sys.stderr,
        )
        return 2
    return COMMANDS[name].load()(rest)
