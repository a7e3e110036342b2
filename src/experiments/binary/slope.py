r"""Backdoor learning-slope sweep (SPEC 5.1).

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

Planning and recording live here; one cell's computation lives in
:mod:`backdoor_curves.experiments.binary.slope_cell`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from backdoor_curves.attacks.triggers import TriggerKind, TriggerSpec
from backdoor_curves.classifiers.registry import (
    classifier_names,
    parse_classifier,
    uses_gamma,
)
from backdoor_curves.experiments.binary.safe_step import write_safe_regions
from backdoor_curves.experiments.binary.slope_cell import (
    SLOPE_COLUMNS,
    SLOPE_IDENTITY,
    SlopeTask,
    run_slope_task,
    slope_group,
)
from backdoor_curves.experiments.config import DatasetConfig
from backdoor_curves.experiments.feature_extraction import open_feature_stage
from backdoor_curves.experiments.feature_stage import CachedFeatures, PoisonVariant
from backdoor_curves.experiments.figure_step import draw_run_figures
from backdoor_curves.experiments.flags import (
    add_common_arguments,
    add_dataset_arguments,
    add_feature_arguments,
    add_reference_arguments,
    add_safety_arguments,
    config_from_args,
    data_request_from_args,
    execution_config_from_args,
    feature_settings_from_args,
    out_dir_from_args,
    pairs_from_args,
    reference_check_from_args,
    run_settings_from_args,
    safety_criteria_from_args,
)
from backdoor_curves.experiments.problem import (
    DataRequest,
    load_pair,
    poisoned_images,
)
from backdoor_curves.experiments.recording import (
    RunGrid,
    RunSettings,
    check_same_data,
    data_variant,
    record_runs,
    run_folder_name,
)
from backdoor_curves.experiments.workspace import WorkspaceFactory
from backdoor_curves.naming import trigger_spec_label
from backdoor_curves.utilities.atomic import check_writable
from backdoor_curves.utilities.backends import check_scheduler, shared_workers
from backdoor_curves.utilities.commands import (
    DriverParser,
    bounded_float_list,
    name_list,
    report_errors,
)
from backdoor_curves.utilities.data import PairTask
from backdoor_curves.utilities.store import ResultStore

__all__ = ["SLOPE_COLUMNS", "SlopeTask", "build_parser", "main", "run_slope_task"]

#: Largest ``--C`` and ``--gamma`` accepted: far beyond any grid of the paper, and where every
#: model's solver still reaches an exact optimum on 64-bit floats.
MAX_C = 1e8
MAX_GAMMA = 1e4


# --- command line ------------------------------------------------------------------------------
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
        help=f"override the C grid, e.g. 0.01,1,100 (each in (0, {MAX_C:g}])",
    )
    parser.add_argument(
        "--gamma",
        dest="gamma_values",
        type=bounded_float_list("gamma values", 0.0, MAX_GAMMA),
        default=None,
        help=f"override the RBF gamma grid (each in (0, {MAX_GAMMA:g}])",
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
    add_feature_arguments(parser)
    add_safety_arguments(parser)
    return parser


def _trigger(
    args: argparse.Namespace, config: DatasetConfig, *, double: bool | None = None
) -> TriggerSpec:
    """Return the trigger the flags ask for; ``double`` overrides ``--double-trigger``."""
    double = args.double_trigger if double is None else double
    base = config.double_trigger if double else config.main_trigger
    kind = TriggerKind(args.trigger_type) if args.trigger_type else base.kind
    if kind is TriggerKind.BADNET:
        if args.trigger_eps is not None:
            raise ValueError("--trigger-eps applies to the invisible trigger only")
        size = args.trigger_size if args.trigger_size is not None else base.size
        return TriggerSpec.badnet(size if size is not None else 3)
    if args.trigger_size is not None:
        raise ValueError("-trigger_size applies to the badnet trigger only")
    eps = args.trigger_eps if args.trigger_eps is not None else base.eps
    return TriggerSpec.invisible(eps) if eps is not None else TriggerSpec.invisible()


def _classifiers(text: str | None) -> tuple[str, ...]:
    names = name_list(text, "classifiers")
    return classifier_names() if names is None else tuple(map(parse_classifier, names))


def _tasks(
    args: argparse.Namespace,
    config: DatasetConfig,
    request: DataRequest,
    features: str | CachedFeatures,
    trigger: TriggerSpec,
    fraction: float,
) -> list[SlopeTask]:
    seeds = _seeds(args, config)
    tasks = []
    for clf in _classifiers(args.clf):
        C_values = args.C_values or config.slope_grid.C_values(clf)
        gammas = (args.gamma_values or config.slope_grid.rbf_gamma) if uses_gamma(clf) else (None,)
        for gamma in gammas:
            tasks += [
                SlopeTask(request, features, trigger, fraction, clf, gamma, tuple(C_values), seed)
                for seed in seeds
            ]
    return tasks


def _seeds(args: argparse.Namespace, config: DatasetConfig) -> tuple[int, ...]:
    return tuple(args.seeds) if args.seeds else config.seeds


def _draw_figures(
    args: argparse.Namespace, config: DatasetConfig, out_dir: Path, request: DataRequest
) -> int:
    """Draw the slope figures of the run folders the flags point at (``--figures-only``)."""
    variant = data_variant(request, config, args.profile)
    run_names = (args.run_name,) if args.run_name else ()
    for path in draw_run_figures(out_dir, ("slope",), variant, run_names):
        if path.suffix == ".png" and not args.quiet:
            print(f"[slope] figure {path}")
    return 0


@dataclass(frozen=True)
class _Run:
    """One run folder of the invocation: a pair, its trigger, its data and its tasks."""

    request: DataRequest
    pair_data: PairTask
    trigger: TriggerSpec
    run_dir: Path
    tasks: list[SlopeTask]


def _plan_triggers(
    args: argparse.Namespace, config: DatasetConfig
) -> list[tuple[str, TriggerSpec]]:
    """Return the (pair, trigger) of every run: the -pair runs, then --also-double-trigger's."""
    plan = [(pair, _trigger(args, config)) for pair in pairs_from_args(args.pair, config)]
    if args.also_double_trigger is None:
        return plan
    trigger_flags = (args.trigger_type, args.trigger_size, args.trigger_eps)
    if args.double_trigger or args.run_name or any(flag is not None for flag in trigger_flags):
        raise ValueError(
            "--also-double-trigger runs the dataset's main and double triggers; it cannot be "
            "combined with --double-trigger, --trigger-type, -trigger_size, --trigger-eps or "
            "--run-name"
        )
    double = _trigger(args, config, double=True)
    double_pairs = pairs_from_args(args.also_double_trigger, config, "--also-double-trigger")
    return plan + [(pair, double) for pair in double_pairs]


@report_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Run the slope sweep; return the exit status."""
    args = build_parser().parse_args(argv)
    execution = execution_config_from_args(args)
    check_scheduler(execution)  # an unreachable cluster fails first, writing nothing
    config = config_from_args(args)
    check = reference_check_from_args(args, config, "slope")  # a missing folder: nothing written
    criteria = safety_criteria_from_args(args)  # a margin outside [0, 1]: nothing written
    fraction = config.poison_fraction if args.poison_fraction is None else args.poison_fraction
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"-ppoison must be in (0, 1), got {fraction}")
    plan = _plan_triggers(args, config)
    if args.gamma_values is not None and not any(map(uses_gamma, _classifiers(args.clf))):
        raise ValueError("--gamma applies to svm-rbf only, which -clf does not include")
    out_dir = out_dir_from_args(args, config)
    first_request = data_request_from_args(args, config, plan[0][0])
    if args.figures_only:
        return _draw_figures(args, config, out_dir, first_request)
    loaded = {}
    for pair, trigger in plan:
        if pair not in loaded:
            request = data_request_from_args(args, config, pair)
            loaded[pair] = (
                request,
                load_pair(request, args.data_dir, verbose=True, download=args.download),
            )
        poisoned_images(loaded[pair][1], trigger, fraction, 0)  # validates trigger, poisons
    # A missing weights file fails here; the network loads (and its weights are verified)
    # while extracting, below, before any results folder is made.
    stage = open_feature_stage(
        config.features, feature_settings_from_args(args), args.data_dir, first_request.data_seed
    )
    features = config.features if stage is None else stage.features
    runs = [
        _Run(
            request,
            pair_data,
            trigger,
            out_dir
            / "slope"
            / (args.run_name or run_folder_name(request, trigger, config, args.profile)),
            _tasks(args, config, request, features, trigger, fraction),
        )
        for pair, trigger in plan
        for request, pair_data in [loaded[pair]]
    ]
    for run in runs:
        check_same_data(run.run_dir, run.pair_data.source)
    feature_dir = None
    if stage is not None:
        for run in runs:
            variants = [PoisonVariant(run.trigger, fraction, s) for s in _seeds(args, config)]
            print(stage.extract(run.pair_data, variants))
        feature_dir = str(stage.cache.root)
    for run in runs:
        check_writable(run.run_dir)
    settings = run_settings_from_args(args, "slope", execution)
    with shared_workers():
        _record_slope(runs, feature_dir, settings, config)
    for path in write_safe_regions([run.run_dir for run in runs], criteria):
        if not args.quiet:
            print(f"[slope] safe region ({criteria.describe()}) -> {path}")
    for run in runs:
        check.add(run.run_dir)
    if not args.no_figures:
        _draw_figures(args, config, out_dir, first_request)
    return check.report()


def _record_slope(
    runs: list[_Run],
    feature_dir: str | None,
    settings: RunSettings,
    config: DatasetConfig,
) -> None:
    """Compute (or resume) the grids of every run folder, as one stream of tasks."""
    labels = [f"{run.request.pair} {trigger_spec_label(run.trigger)}" for run in runs]
    for run, label in zip(runs, labels, strict=True):
        print(
            f"[slope] {config.dataset} {label}: data {run.pair_data.source}, "
            f"{run.pair_data.n_train} train / {run.pair_data.n_test} test -> {run.run_dir}"
        )
    grids = [
        RunGrid(
            run.tasks, ResultStore(run.run_dir, SLOPE_COLUMNS, SLOPE_IDENTITY), run.pair_data.source
        )
        for run in runs
    ]
    # The seeds and triggers of one (pair, classifier, gamma) share the clean-model C sweep:
    # one worker takes them together, with one workspace holding the pair loaded here.
    workspaces = WorkspaceFactory(
        {run.request: run.pair_data for run in runs}, settings.data_dir, feature_dir
    )
    description = f"slope {config.dataset} " + (
        labels[0] if len(runs) == 1 else f"({len(runs)} runs)"
    )
    recorded = record_runs(
        grids, run_slope_task, settings, description, group_by=slope_group, context=workspaces
    )
    for grid, label, (report, _) in zip(grids, labels, recorded, strict=True):
        print(
            f"[slope] {label}: {report.n_computed} task(s) computed, {report.n_skipped} "
            f"skipped, done after {report.seconds:.1f} s -> {grid.store.results_path}"
        )


if __name__ == "__main__":
    # Run main() from the importable module, not from __main__, so that process pools
    # pickle the worker function by reference.
    from backdoor_curves.experiments.binary import slope
    from backdoor_curves.utilities.commands import exit_process

    exit_process(slope.main())
