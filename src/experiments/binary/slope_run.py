"""A learning-slope run from its typed settings: validate, plan the run folders, record them.

:func:`run_slope` takes the :class:`SlopeSettings` the command line
(:mod:`backdoor_curves.experiments.binary.slope`) builds and runs the steps every grid driver
shares (:mod:`backdoor_curves.experiments.driver`) with the slope sweep's own plan: one run
folder per (pair, trigger), the ``-pair`` runs with the main (or chosen) trigger, then
``--also-double-trigger``'s with the dataset's double-size (or faint) trigger, all recorded as
one stream of tasks. One task is a (classifier, gamma, seed) sweep over the ``C`` grid, computed
by :func:`~backdoor_curves.experiments.binary.slope_cell.run_slope_task`.
"""

from __future__ import annotations

from dataclasses import dataclass

from backdoor_curves.analyses.safe_region import SafetyCriteria
from backdoor_curves.attacks.triggers import TriggerKind, TriggerSpec
from backdoor_curves.classifiers.registry import classifier_names, parse_classifier, uses_gamma
from backdoor_curves.experiments.binary.safe_step import write_safe_regions
from backdoor_curves.experiments.binary.slope_cell import (
    SLOPE_COLUMNS,
    SLOPE_IDENTITY,
    SlopeTask,
    run_slope_task,
    slope_group,
)
from backdoor_curves.experiments.config import DatasetConfig
from backdoor_curves.experiments.driver import (
    DriverPlan,
    DriverSettings,
    FigureStep,
    RunFolder,
    draw_figures,
    open_stage,
    recorded_runs,
    report_step,
    start_run,
)
from backdoor_curves.experiments.feature_stage import CachedFeatures, PoisonVariant
from backdoor_curves.experiments.flags import pairs_from_args
from backdoor_curves.experiments.problem import DataRequest, load_pairs, poisoned_images
from backdoor_curves.experiments.recording import data_variant, run_folder_name
from backdoor_curves.naming import trigger_spec_label
from backdoor_curves.utilities.commands import name_list
from backdoor_curves.utilities.data import PairTask

__all__ = ["SlopeSettings", "run_slope"]


@dataclass(frozen=True)
class SlopeSettings:
    """The slope sweep's flags, typed (validated by :func:`run_slope`).

    Attributes
    ----------
    common : DriverSettings
        The flags every grid driver shares.
    pairs : str or None
        ``-pair``: comma-separated class pairs (None: the configuration's).
    classifiers : str or None
        ``-clf``: comma-separated classifier names (None: all).
    trigger_kind : TriggerKind or None
        ``-trigger_type`` (None: the configuration's trigger).
    trigger_size : int or None
        ``-trigger_size``: the badnet patch side.
    trigger_eps : float or None
        ``--trigger-eps``: the invisible trigger's amplitude.
    double_trigger : bool
        ``--double-trigger``: the configuration's double-size (or faint) trigger.
    also_double_trigger : str or None
        ``--also-double-trigger``: pairs also run with the double trigger.
    poison_fraction : float or None
        ``-ppoison`` (None: the configuration's).
    C_values, gamma_values : tuple of float or None
        ``--C`` and ``--gamma`` grids (None: the configuration's).
    run_name : str or None
        ``--run-name``: the results sub-folder.
    figures : FigureStep
        ``--no-figures`` (skip), ``--figures-only`` (only) or neither (draw).
    safety : SafetyCriteria
        ``--safe-margin`` and ``--safe-level``: the criteria of each run's ``safe_region.csv``.
    """

    common: DriverSettings
    pairs: str | None = None
    classifiers: str | None = None
    trigger_kind: TriggerKind | None = None
    trigger_size: int | None = None
    trigger_eps: float | None = None
    double_trigger: bool = False
    also_double_trigger: str | None = None
    poison_fraction: float | None = None
    C_values: tuple[float, ...] | None = None
    gamma_values: tuple[float, ...] | None = None
    run_name: str | None = None
    figures: FigureStep = FigureStep.DRAW
    safety: SafetyCriteria = SafetyCriteria()


def _trigger(settings: SlopeSettings, config: DatasetConfig, *, double: bool) -> TriggerSpec:
    """Return the trigger the flags ask for, based on the main or the double trigger."""
    base = config.double_trigger if double else config.main_trigger
    kind = base.kind if settings.trigger_kind is None else settings.trigger_kind
    if kind is TriggerKind.BADNET:
        if settings.trigger_eps is not None:
            raise ValueError("--trigger-eps applies to the invisible trigger only")
        size = settings.trigger_size if settings.trigger_size is not None else base.size
        return TriggerSpec.badnet(size if size is not None else 3)
    if settings.trigger_size is not None:
        raise ValueError("-trigger_size applies to the badnet trigger only")
    eps = settings.trigger_eps if settings.trigger_eps is not None else base.eps
    return TriggerSpec.invisible(eps) if eps is not None else TriggerSpec.invisible()


def _classifiers(text: str | None) -> tuple[str, ...]:
    names = name_list(text, "classifiers")
    return classifier_names() if names is None else tuple(map(parse_classifier, names))


#: Largest ``C`` and ``gamma`` accepted: far beyond any grid of the paper, and where every
#: model's solver still reaches an exact optimum on 64-bit floats.
MAX_C = 1e8
MAX_GAMMA = 1e4


def _in_range(values: tuple[float, ...] | None, what: str, high: float) -> None:
    """Raise ``ValueError`` unless every value lies in ``(0, high]``."""
    outside = [v for v in values or () if not 0.0 < v <= high]
    if outside:
        shown = ", ".join(f"{v:g}" for v in outside)
        raise ValueError(f"{what} must lie in (0, {high:g}], got {shown}")


def _poison_fraction(settings: SlopeSettings, config: DatasetConfig) -> float:
    fraction = settings.poison_fraction
    fraction = config.poison_fraction if fraction is None else fraction
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"-ppoison must be in (0, 1), got {fraction}")
    return fraction


def plan_triggers(settings: SlopeSettings, config: DatasetConfig) -> list[tuple[str, TriggerSpec]]:
    """Return the (pair, trigger) of every run: the -pair runs, then --also-double-trigger's.

    Raises
    ------
    ValueError
        A bad pair or trigger, or ``--also-double-trigger`` with a trigger flag.
    """
    pairs = pairs_from_args(settings.pairs, config)
    main = _trigger(settings, config, double=settings.double_trigger)
    plan = [(pair, main) for pair in pairs]
    if settings.also_double_trigger is None:
        return plan
    trigger_flags = (settings.trigger_kind, settings.trigger_size, settings.trigger_eps)
    if settings.double_trigger or settings.run_name or any(f is not None for f in trigger_flags):
        raise ValueError(
            "--also-double-trigger runs the dataset's main and double triggers; it cannot be "
            "combined with --double-trigger, --trigger-type, -trigger_size, --trigger-eps or "
            "--run-name"
        )
    double = _trigger(settings, config, double=True)
    also = pairs_from_args(settings.also_double_trigger, config, "--also-double-trigger")
    return plan + [(pair, double) for pair in also]


def slope_tasks(
    settings: SlopeSettings,
    request: DataRequest,
    features: str | CachedFeatures,
    trigger: TriggerSpec,
    fraction: float,
) -> tuple[SlopeTask, ...]:
    """Plan one run folder's grid: classifier-, then gamma-, then seed-major.

    The tasks of one (classifier, gamma) share the clean-model ``C`` sweep: the grid groups
    them (:func:`~backdoor_curves.experiments.binary.slope_cell.slope_group`).
    """
    config = settings.common.config
    seeds = settings.common.seeds_or(config.seeds)
    tasks: list[SlopeTask] = []
    for clf in _classifiers(settings.classifiers):
        C_values = tuple(settings.C_values or config.slope_grid.C_values(clf))
        grid = settings.gamma_values or config.slope_grid.rbf_gamma
        for gamma in grid if uses_gamma(clf) else (None,):
            tasks += [
                SlopeTask(request, features, trigger, fraction, clf, gamma, C_values, seed)
                for seed in seeds
            ]
    return tuple(tasks)


def _draw_figures(settings: SlopeSettings, request: DataRequest) -> None:
    """Draw the slope figures of the run folders the settings point at."""
    common = settings.common
    variant = data_variant(request, common.config, common.profile)
    run_names = (settings.run_name,) if settings.run_name else ()
    draw_figures("slope", common.out_dir, ("slope",), variant, run_names, echo=not common.quiet)


def _validated_plan(settings: SlopeSettings) -> tuple[float, list[tuple[str, TriggerSpec]]]:
    """Check the settings; return the poison fraction and the (pair, trigger) of every run."""
    config = settings.common.config
    fraction = _poison_fraction(settings, config)
    plan = plan_triggers(settings, config)
    _in_range(settings.C_values, "C values", MAX_C)
    _in_range(settings.gamma_values, "gamma values", MAX_GAMMA)
    if settings.gamma_values is not None and not any(
        map(uses_gamma, _classifiers(settings.classifiers))
    ):
        raise ValueError("--gamma applies to svm-rbf only, which -clf does not include")
    return fraction, plan


def _loaded_pairs(
    settings: SlopeSettings, plan: list[tuple[str, TriggerSpec]], fraction: float
) -> dict[str, tuple[DataRequest, PairTask]]:
    """Load every pair once and poison it with each of its triggers (which validates them)."""
    common = settings.common
    requests = {pair: common.request(pair) for pair, _ in plan}
    tasks = load_pairs(
        list(requests.values()), common.data_dir, verbose=True, download=common.download
    )
    loaded = dict(zip(requests, zip(requests.values(), tasks, strict=True), strict=True))
    for pair, trigger in plan:
        poisoned_images(loaded[pair][1], trigger, fraction, 0)
    return loaded


def _run_folder(
    settings: SlopeSettings,
    request: DataRequest,
    pair_task: PairTask,
    trigger: TriggerSpec,
    features: str | CachedFeatures,
    fraction: float,
) -> RunFolder:
    """Return the results folder of one (pair, trigger) run, with its grid."""
    common = settings.common
    config = common.config
    label = f"{request.pair} {trigger_spec_label(trigger)}"
    name = settings.run_name or run_folder_name(request, trigger, config, common.profile)
    run_dir = common.out_dir / "slope" / name
    seeds = common.seeds_or(config.seeds)
    return RunFolder(
        request,
        pair_task,
        label,
        run_dir,
        SLOPE_COLUMNS,
        slope_tasks(settings, request, features, trigger, fraction),
        variants=tuple(PoisonVariant(trigger, fraction, seed) for seed in seeds),
        announce=f"[slope] {config.dataset} {label}: data {pair_task.source}, "
        f"{pair_task.n_train} train / {pair_task.n_test} test -> {run_dir}",
        identity=SLOPE_IDENTITY,
    )


def run_slope(settings: SlopeSettings) -> int:
    """Run the slope sweep (or only its figures); return the exit status.

    What it raises, it raises before anything is written (:func:`.driver.start_run` lists it).
    """
    common = settings.common
    config = start_run(common)
    fraction, plan = _validated_plan(settings)
    first_request = common.request(plan[0][0])
    if settings.figures is FigureStep.ONLY:
        _draw_figures(settings, first_request)
        return 0
    loaded = _loaded_pairs(settings, plan, fraction)
    # A missing weights file fails here; the network loads (and its weights are verified)
    # while extracting, before any results folder is made.
    stage = open_stage(common, first_request.data_seed)
    features = config.features if stage is None else stage.features
    folders = tuple(
        _run_folder(settings, *loaded[pair], trigger, features, fraction) for pair, trigger in plan
    )
    description = f"slope {config.dataset} " + (
        folders[0].label if len(folders) == 1 else f"({len(folders)} runs)"
    )
    # The seeds and triggers of one (pair, classifier, gamma) share the clean-model C sweep:
    # one worker takes them together, with one workspace holding the pair loaded here.
    driver_plan = DriverPlan(
        folders,
        run_slope_task,
        common.run_settings("slope"),
        description,
        stage,
        group_by=slope_group,
    )
    check = common.reference_check("slope")
    for recorded in recorded_runs(driver_plan):
        report = recorded.report
        print(
            f"[slope] {recorded.folder.label}: {report.n_computed} task(s) computed, "
            f"{report.n_skipped} skipped, done after {report.seconds:.1f} s -> "
            f"{recorded.results_path}"
        )
        check.add(recorded.folder.run_dir)
    for path in write_safe_regions([folder.run_dir for folder in folders], settings.safety):
        if not common.quiet:
            print(f"[slope] safe region ({settings.safety.describe()}) -> {path}")
    if settings.figures is FigureStep.DRAW:
        _draw_figures(settings, first_request)
    status = check.report()
    report_step(common, common.reference, check)
    return status
