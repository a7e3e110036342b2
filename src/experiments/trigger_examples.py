"""Figure of clean and triggered examples of a class pair.

Run as ``python -m backdoor_curves.experiments.trigger_examples [--dataset mnist --pair 7-1]``.

Shows, for each class of the pair, the first training image clean and with each trigger of
the dataset's configuration (MNIST: badnet 3x3, badnet 6x6 and the invisible grid); the
badnet patterns are drawn from the given seed, one per source class. Writes
``<out-dir>/triggers_<dataset>_<pair>.{pdf,png}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.experiments.flags import (
    add_data_arguments,
    add_dataset_arguments,
    add_output_arguments,
    config_from_args,
    data_request_from_args,
    pairs_from_args,
)
from backdoor_curves.experiments.problem import load_pair
from backdoor_curves.plots.triggers import plot_trigger_examples
from backdoor_curves.utilities.atomic import check_writable
from backdoor_curves.utilities.commands import DriverParser, report_errors
from backdoor_curves.utilities.data import dataset_info, parse_pair

__all__ = ["build_parser", "main"]


def build_parser() -> DriverParser:
    """Parser of the trigger-examples figure."""
    parser = DriverParser(
        prog="python -m backdoor_curves.experiments.trigger_examples",
        description="Figure: clean and triggered examples of each class of a pair.",
    )
    add_dataset_arguments(parser)
    parser.add_argument("--pair", default=None, help="class pair a-b (default: the first pair)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the badnet patterns")
    add_data_arguments(parser)
    add_output_arguments(parser, default_out="results/<dataset>")
    return parser


@report_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Draw the figure; return the exit status."""
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    (pair,) = pairs_from_args(args.pair or config.pairs[0], config)
    classes = parse_pair(pair, dataset_info(config.dataset).n_classes)
    request = data_request_from_args(args, config, pair)
    pair_data = load_pair(request, args.data_dir, verbose=True, download=args.download)
    specs: list[TriggerSpec] = [config.main_trigger, config.double_trigger]
    if all(spec.kind.value == "badnet" for spec in specs):
        specs.append(TriggerSpec.invisible())
    rng = np.random.default_rng(args.seed)
    triggers = [spec.build(pair_data.image_shape, 2, rng) for spec in specs]
    out_dir = Path(args.out_dir or config.results_dir)
    check_writable(out_dir)
    names = [f"class {c} (label {label})" for label, c in enumerate(classes)]
    stem = out_dir / f"triggers_{config.dataset}_{pair}"
    for path in plot_trigger_examples(pair_data.X_train, pair_data.y_train, triggers, names, stem):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    from backdoor_curves.utilities.commands import exit_process

    exit_process(main())
