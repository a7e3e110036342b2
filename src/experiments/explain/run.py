"""An explanation run from its typed settings: validate, plan, record, write F7's examples.

:func:`run_explain` takes the :class:`ExplainSettings` the command line
(:mod:`backdoor_curves.experiments.explain.cli`) builds and runs the steps every grid driver
shares (:mod:`backdoor_curves.experiments.driver`) with the explanations' own plan: one run
folder per pair (``OUT_DIR/explanations/<pair>_<trigger><variant>``), whose grid holds one
task per (seed, classifier), computed by
:func:`~backdoor_curves.experiments.explain.cell.run_explain_task`. The folders are recorded
one after the other; after each, the examples of figure F7
(:mod:`backdoor_curves.experiments.explain.examples`) are written and the figures drawn.

For deep features the driver opens the network for the extraction and takes the examples'
input gradients through it
(:func:`~backdoor_curves.experiments.explain.gradients.stage_gradient_map`); each worker builds
its own from the same weights file, once per group of tasks (the classifiers of one seed,
which one worker takes together and which share one
:class:`~backdoor_curves.experiments.explain.cell.ExplainWorkspace`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from backdoor_curves.attacks.explanations import FeatureMap, PixelFeatures
from backdoor_curves.classifiers.registry import parse_classifier, uses_gamma
from backdoor_curves.experiments.config import DatasetConfig
from backdoor_curves.experiments.driver import (
    DriverPlan,
    DriverSettings,
    FigureStep,
    RecordedRun,
    RunFolder,
    open_stage,
    recorded_runs,
    report_step,
    start_run,
)
from backdoor_curves.experiments.explain.cell import (
    EXPLAIN_COLUMNS,
    ExplainTask,
    ExplainWorkspaces,
    explain_group,
    run_explain_task,
)
from backdoor_curves.experiments.explain.examples import example_C, write_examples
from backdoor_curves.experiments.explain.gradients import stage_gradient_map
from backdoor_curves.experiments.feature_extraction import FeatureSettings, OpenedStage
from backdoor_curves.experiments.feature_stage import CachedFeatures, PoisonVariant, stage_at
from backdoor_curves.experiments.flags import pairs_from_args
from backdoor_curves.experiments.problem import (
    DataRequest,
    FeatureStage,
    load_pairs,
    poisoned_images,
)
from backdoor_curves.experiments.recording import run_folder_name
from backdoor_curves.naming import trigger_spec_label
from backdoor_curves.utilities.commands import name_list
from backdoor_curves.utilities.data import PairTask

__all__ = ["DEFAULT_CLASSIFIERS", "ExplainSettings", "run_explain"]

#: The models of the explanation figures (``docs/method.md``, "Explanations"); ridge can be
#: asked for with ``--clf``.
DEFAULT_CLASSIFIERS: tuple[str, ...] = ("svm", "logistic", "svm-rbf")


@dataclass(frozen=True)
class ExplainSettings:
    """The explanation script's flags, typed (validated by :func:`run_explain`).

    Attributes
    ----------
    common : DriverSettings
        The flags every grid driver shares (``out_dir`` is the results root; the run folders
        go to its ``explanations/``).
    pairs : str or None
        ``--pair``: comma-separated class pairs (None: the configuration's).
    classifiers : str or None
        ``--clf``: comma-separated classifier names (None: :data:`DEFAULT_CLASSIFIERS`).
    k : int
        ``--k``: top-k influential training points.
    n_images : int
        ``--n-images``: triggered test images explained per seed.
    n_show : int
        ``--n-show``: images shown in figure F7.
    C_values : tuple of float or None
        ``--C`` (None: the configuration's grid of each classifier).
    example_C : tuple of float or None
        ``--example-C``: the two ``C`` of figure F7 (None: :func:`example_C` chooses).
    gamma : float or None
        ``--gamma``: the RBF gamma (None: the middle of the configuration's grid).
    figures : FigureStep
        ``--no-figures`` (skip), ``--figures-only`` (only) or neither (draw).
    """

    common: DriverSettings
    pairs: str | None = None
    classifiers: str | None = None
    k: int = 7
    n_images: int = 50
    n_show: int = 3
    C_values: tuple[float, ...] | None = None
    example_C: tuple[float, ...] | None = None
    gamma: float | None = None
    figures: FigureStep = FigureStep.DRAW


def _positive(values: Sequence[float] | None, flag: str) -> None:
    if values is not None and not all(np.isfinite(c) and c > 0 for c in values):
        raise ValueError(f"{flag} values must be positive finite numbers, got {list(values)}")


def check_settings(settings: ExplainSettings) -> None:
    """Check the counts and grids of the settings; raise ValueError naming the flag."""
    if settings.k < 1:
        raise ValueError(f"--k must be >= 1, got {settings.k}")
    if settings.n_images < 1:
        raise ValueError(f"--n-images must be >= 1, got {settings.n_images}")
    if not 1 <= settings.n_show <= settings.n_images:
        raise ValueError(
            f"--n-show must be in [1, --n-images={settings.n_images}], got {settings.n_show}"
        )
    _positive(settings.C_values, "--C")
    _positive(settings.example_C, "--example-C")
    if settings.example_C is not None and len(settings.example_C) != 2:
        raise ValueError(
            f"--example-C takes two C values (strong, weak regularisation), "
            f"got {list(settings.example_C)}"
        )


def _classifiers(text: str | None) -> tuple[str, ...]:
    names = name_list(text, "classifiers")
    return DEFAULT_CLASSIFIERS if names is None else tuple(map(parse_classifier, names))


def _gamma(gamma: float | None, config: DatasetConfig) -> float:
    if gamma is not None:
        if not (np.isfinite(gamma) and gamma > 0):
            raise ValueError(f"--gamma must be a positive finite number, got {gamma}")
        return float(gamma)
    grid = config.slope_grid.rbf_gamma
    return float(grid[len(grid) // 2])


def _check_sizes(settings: ExplainSettings, pair_task: PairTask, first_seed: int) -> None:
    """``--k`` and ``--n-images`` against the pair's training and backdoor test sets."""
    config = settings.common.config
    if settings.k > pair_task.n_train:
        raise ValueError(
            f"--k {settings.k} is larger than the training set ({pair_task.n_train} points)"
        )
    images = poisoned_images(pair_task, config.main_trigger, config.poison_fraction, first_seed)
    if settings.n_images > len(images.X_backdoor):
        raise ValueError(
            f"--n-images {settings.n_images} exceeds the backdoor test set "
            f"({len(images.X_backdoor)} images)"
        )


def explain_tasks(
    settings: ExplainSettings,
    request: DataRequest,
    features: str | CachedFeatures,
    gamma: float,
) -> tuple[ExplainTask, ...]:
    """Plan the grid, seed-major (the tasks of one seed read the same features in a row)."""
    config = settings.common.config
    return tuple(
        ExplainTask(
            data=request,
            features=features,
            trigger=config.main_trigger,
            poison_fraction=config.poison_fraction,
            clf=clf,
            gamma=gamma if uses_gamma(clf) else None,
            C_values=tuple(settings.C_values or config.slope_grid.C_values(clf)),
            seed=seed,
            k=settings.k,
            n_images=settings.n_images,
        )
        for seed in settings.common.seeds_or(config.seeds)
        for clf in _classifiers(settings.classifiers)
    )


def _draw_figures(run_dir: Path) -> list[Path]:
    """Draw F7 and the summary of one run folder (matplotlib is imported only here)."""
    from backdoor_curves.plots.explanations import (  # noqa: PLC0415  # matplotlib only here
        draw_explanation_figures,
    )

    return draw_explanation_figures(run_dir)


def _redraw(run_dirs: Iterable[Path]) -> int:
    """``--figures-only``: draw the figures of existing run folders."""
    for run_dir in run_dirs:
        for path in _draw_figures(run_dir):
            if path.suffix == ".png":
                print(f"[explain] figure {path}")
    return 0


def _finish_folder(
    settings: ExplainSettings,
    recorded: RecordedRun,
    stage: str | FeatureStage,
    feature_map: FeatureMap,
) -> None:
    """Write the F7 examples of a recorded folder, draw its figures, print its summary."""
    folder, report = recorded.folder, recorded.report
    for clf in _classifiers(settings.classifiers):
        task = next(task for task in folder.tasks if task.clf == clf)
        C_pair = example_C(settings.example_C, report.table, task)
        write_examples(
            folder.run_dir / f"examples_{clf}.npz", task, folder.pair_task, stage,
            feature_map, settings.n_show, C_pair,
        )  # fmt: skip
        print(f"[explain] F7 {clf}: C = {C_pair[0]:.3g} and {C_pair[1]:.3g}")
    figures = [] if settings.figures is FigureStep.SKIP else _draw_figures(folder.run_dir)
    print(
        f"[explain] {report.n_computed} task(s) computed, {report.n_skipped} skipped, "
        f"{report.seconds:.1f} s -> {recorded.results_path}; {len(figures)} figure file(s)"
    )


def _loaded_pairs(settings: ExplainSettings) -> list[tuple[DataRequest, PairTask, Path]]:
    """Load every pair, check ``--k`` and ``--n-images`` against it; name its run folder."""
    common = settings.common
    config = common.config
    first_seed = common.seeds_or(config.seeds)[0]
    loaded = []
    requests = [common.request(pair) for pair in pairs_from_args(settings.pairs, config)]
    pair_tasks = load_pairs(requests, common.data_dir, verbose=True, download=common.download)
    for request, pair_task in zip(requests, pair_tasks, strict=True):
        _check_sizes(settings, pair_task, first_seed)
        name = run_folder_name(request, config.main_trigger, config, common.profile)
        loaded.append((request, pair_task, common.out_dir / "explanations" / name))
    return loaded


def _gradient_maps(
    common: DriverSettings, stage: OpenedStage | None
) -> tuple[FeatureMap, FeatureSettings]:
    """Return the driver's gradient map (the F7 examples) and the workers' extractor settings.

    For deep features the network loads here (weights and device verified), before anything
    is written; the workers load the same weights file, without downloading.
    """
    if stage is None:
        return PixelFeatures(), common.features
    worker_features = replace(common.features, weights=stage.weights_path, download=False)
    return stage_gradient_map(stage), worker_features


def _run_folder(
    settings: ExplainSettings,
    loaded: tuple[DataRequest, PairTask, Path],
    features: str | CachedFeatures,
    feature_name: str,
    gamma: float,
) -> RunFolder:
    """Return the results folder of one pair, with its grid."""
    request, pair_task, run_dir = loaded
    config = settings.common.config
    seeds = settings.common.seeds_or(config.seeds)
    trigger = config.main_trigger
    classifiers = list(_classifiers(settings.classifiers))
    return RunFolder(
        request,
        pair_task,
        request.pair,
        run_dir,
        EXPLAIN_COLUMNS,
        explain_tasks(settings, request, features, gamma),
        variants=tuple(PoisonVariant(trigger, config.poison_fraction, s) for s in seeds),
        announce=f"[explain] {config.dataset} {request.pair} {trigger_spec_label(trigger)}: "
        f"data {pair_task.source}, features {feature_name}, {pair_task.n_train} train / "
        f"{pair_task.n_test} test, {classifiers}, k={settings.k}, {settings.n_images} images "
        f"-> {run_dir}",
    )


def run_explain(settings: ExplainSettings) -> int:
    """Run the explanation grid and draw its figures (or only draw); return the exit status.

    What it raises, it raises before anything is written (:func:`.driver.start_run` lists it).
    """
    common = settings.common
    check_settings(settings)
    config = start_run(common)
    gamma = _gamma(settings.gamma, config)
    loaded = _loaded_pairs(settings)
    if settings.figures is FigureStep.ONLY:
        return _redraw(run_dir for _, _, run_dir in loaded)
    stage = open_stage(common, loaded[0][0].data_seed)
    features = config.features if stage is None else stage.features
    feature_map, worker_features = _gradient_maps(common, stage)
    plan = DriverPlan(
        tuple(_run_folder(settings, pair, features, feature_map.name, gamma) for pair in loaded),
        run_explain_task,
        common.run_settings("explain"),
        "explain",
        stage=stage,
        # A worker builds the network's gradient map once for the classifiers of one seed.
        group_by=None if stage is None else explain_group,
        group_context=functools.partial(ExplainWorkspaces, features=worker_features),
        one_stream=False,
    )
    stage_here = stage_at(features, None if stage is None else stage.cache.root, common.data_dir)
    for recorded in recorded_runs(plan):
        _finish_folder(settings, recorded, stage_here, feature_map)
    report_step(common, Path(config.results_dir))
    return 0
