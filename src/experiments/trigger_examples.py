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
from backdoor_curves.experiments.config import get_config
from backdoor_curves.experiments.problem import DataRequest, load_pair
from backdoor_curves.plots.triggers import plot_trigger_examples
from backdoor_curves.utilities.cli import DriverParser, pairs_from_args, report_errors
from backdoor_curves.utilities.data import DATASETS, dataset_info, parse_pair
from backdoor_curves.utilities.results import check_writable

__all__ = ["build_parser", "main"]


def build_parser() -> DriverParser:
    """Parser of the trigger-examples figure."""
    parser = DriverParser(
        prog="python -m backdoor_curves.experiments.trigger_examples",
        description="Figure: clean and triggered examples of each class of a pair.",
    )
    parser.add_argument("--dataset", default="mnist", choices=sorted(DATASETS))
    parser.add_argument("--pair", default=None, help="class pair a-b (default: the first pair)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the badnet patterns")
    parser.add_argument("--data-dir", default=None, help="dataset root")
    parser.add_argument("--out-dir", default=None, help="default: results/<dataset>")
    return parser


@report_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Draw the figure; return the exit status."""
    args = build_parser().parse_args(argv)
    config = get_config(args.dataset)
    (pair,) = pairs_from_args(args.pair or config.pairs[0], config)
    classes = parse_pair(pair, dataset_info(config.dataset).n_classes)
    request = DataRequest(config.dataset, pair, config.n_train, config.n_test, config.data_seed)
    pair_data = load_pair(request, args.data_dir, verbose=True)
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
    raise SystemExit(main())
