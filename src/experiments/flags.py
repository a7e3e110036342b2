"""The flags every driver shares, and the typed settings built from them.

Command-line modules call :func:`add_dataset_arguments` and :func:`add_common_arguments`
(data, output, seeds, device and the execution flags of :func:`add_execution_arguments`) on a
:class:`~backdoor_curves.utilities.commands.DriverParser`, then turn the parsed namespace into
typed objects right here: :func:`config_from_args` (a
:class:`~backdoor_curves.experiments.config.DatasetConfig`), :func:`pairs_from_args`,
:func:`data_request_from_args` (a :class:`~backdoor_curves.experiments.problem.DataRequest`),
:func:`execution_config_from_args` (an
:class:`~backdoor_curves.utilities.backends.ExecutionConfig`), and the settings every grid driver
shares, :func:`driver_settings_from_args` (a
:class:`~backdoor_curves.experiments.driver.DriverSettings`). Only command-line modules see an
``argparse.Namespace``; everything they call takes these typed settings.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from backdoor_curves.analyses.safe_region import (
    DEFAULT_BA_LEVEL,
    DEFAULT_CA_MARGIN,
    SafetyCriteria,
)
from backdoor_curves.experiments.config import DatasetConfig, profile_config
from backdoor_curves.experiments.driver import DriverSettings, FigureStep
from backdoor_curves.experiments.feature_extraction import FeatureSettings
from backdoor_curves.experiments.problem import DataRequest
from backdoor_curves.experiments.recording import default_run_root
from backdoor_curves.utilities.backends import Backend, ExecutionConfig
from backdoor_curves.utilities.commands import name_list, seed_list
from backdoor_curves.utilities.data import DATASETS, dataset_info, parse_pair

__all__ = [
    "add_common_arguments",
    "add_data_arguments",
    "add_dataset_arguments",
    "add_execution_arguments",
    "add_feature_arguments",
    "add_output_arguments",
    "add_reference_arguments",
    "add_report_argument",
    "add_safety_arguments",
    "config_from_args",
    "data_request_from_args",
    "driver_settings_from_args",
    "execution_config_from_args",
    "feature_settings_from_args",
    "figure_step_from_args",
    "out_dir_from_args",
    "pairs_from_args",
    "reference_from_args",
    "safety_criteria_from_args",
]


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the data flags: --data-dir, --download, --data-seed, --n-train, --n-test."""
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data-dir",
        default=None,
        help="dataset root (default: $BACKDOOR_CURVES_DATA, else ./data)",
    )
    data.add_argument(
        "--download", action="store_true", help="download the dataset with torchvision if missing"
    )
    data.add_argument("--data-seed", type=int, default=None, help="seed of the train/test draw")
    data.add_argument("--n-train", type=int, default=None, help="training points per pair")
    data.add_argument("--n-test", type=int, default=None, help="test points per pair")


def add_output_arguments(parser: argparse.ArgumentParser, *, default_out: str) -> None:
    """Add the "output" group: ``--out-dir`` (the run's results root, ``default_out``)."""
    output = parser.add_argument_group("output")
    output.add_argument("--out-dir", default=None, help=f"results folder (default: {default_out})")


def add_reference_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--reference`` and ``--fail-on-difference`` (drivers compared with a reference).

    Such a driver writes under ``--out-dir`` (default: the ignored run root ``runs/<dataset>``)
    and compares its tables at the end with the committed reference (``--reference``, default
    ``results/<dataset>``); see :func:`reference_check_from_args`.
    """
    reference = parser.add_argument_group("reference")
    reference.add_argument(
        "--reference",
        default=None,
        metavar="DIR",
        help="committed reference tables this run is compared with at the end "
        "(default: results/<dataset>; 'none' skips the comparison)",
    )
    reference.add_argument(
        "--fail-on-difference",
        action="store_true",
        help="exit with status 1 when a cell differs from the reference (for CI)",
    )


def add_report_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--no-report``: by default a grid driver ends by writing ``OUT_DIR/report.html``."""
    parser.add_argument(
        "--no-report",
        action="store_true",
        help="do not write OUT_DIR/report.html at the end (the HTML report of the results "
        "folder; backdoor-curves report OUT_DIR writes it later)",
    )


def add_common_arguments(parser: argparse.ArgumentParser, *, default_out: str) -> None:
    """Add the flags every grid driver shares (``docs/drivers.md``, "Flags the grid drivers share").

    The data flags (:func:`add_data_arguments`), ``--out-dir`` (:func:`add_output_arguments`),
    ``--seeds``, ``--device`` and the execution flags of :func:`add_execution_arguments`.
    """
    add_data_arguments(parser)
    add_output_arguments(parser, default_out=default_out)
    parser.add_argument(
        "--seeds", type=seed_list, default=None, help="experiment seeds, e.g. 1,10,11,100,101"
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="torch device for feature extraction / networks (the binary models run on CPU)",
    )
    add_execution_arguments(parser)


def add_feature_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the deep-feature flags (CIFAR-10, Imagenette): ``--weights``, ``--feature-cache``.

    ``--download`` (:func:`add_data_arguments`) also lets torchvision fetch the AlexNet
    weights, and ``--device`` (:func:`add_common_arguments`) says where the network runs.
    """
    group = parser.add_argument_group("deep features (cifar10, imagenette)")
    group.add_argument(
        "--weights",
        default=None,
        metavar="PATH",
        help="AlexNet state-dict file (default: torchvision's alexnet-owt-7be5be79.pth in the "
        "torch hub cache, $TORCH_HOME/hub/checkpoints)",
    )
    group.add_argument(
        "--feature-cache",
        default=None,
        metavar="DIR",
        help="folder of the extracted features (default: DATA_DIR/features)",
    )


def feature_settings_from_args(args: argparse.Namespace) -> FeatureSettings:
    """Build the :class:`FeatureSettings` (flags of :func:`add_feature_arguments`)."""
    return FeatureSettings(
        weights=None if args.weights is None else Path(args.weights),
        download=args.download,
        device=args.device,
        cache_dir=None if args.feature_cache is None else Path(args.feature_cache),
        quiet=args.quiet,
    )


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--dataset`` and ``--profile`` (the configuration a driver runs)."""
    parser.add_argument("--dataset", default="mnist", choices=sorted(DATASETS), help="dataset")
    parser.add_argument(
        "--profile",
        choices=("paper", "smoke"),
        default="paper",
        help="paper grids (default) or a tiny smoke grid that runs in seconds",
    )


def add_execution_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--n-jobs``, ``--backend``, ``--scheduler``, ``--force`` and ``--quiet``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Parser of a driver; the options go into an "execution" argument group.
    """
    group = parser.add_argument_group("execution")
    group.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        metavar="N",
        help="parallel worker processes (default: one per core; 1 runs in-process, handy "
        "for debugging); with --backend dask and no --scheduler, the size of a local Dask "
        "cluster; with --scheduler the cluster decides",
    )
    group.add_argument(
        "--backend",
        choices=[b.value for b in Backend],
        default=Backend.LOKY.value,
        help="loky: joblib processes on this machine (default); dask: a dask.distributed "
        "cluster (see --scheduler)",
    )
    group.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDR",
        help="address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786 (with "
        "--backend dask; without it a local cluster of --n-jobs workers is started)",
    )
    group.add_argument(
        "--connect-timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for the Dask scheduler before giving up (default 5)",
    )
    group.add_argument(
        "--worker-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="stop when a Dask cluster has had no worker for this long (default 60)",
    )
    group.add_argument(
        "--force",
        action="store_true",
        help="recompute cells already in the results folder (default: skip them, resume)",
    )
    group.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (it is also hidden when stderr is not a terminal)",
    )


def execution_config_from_args(args: argparse.Namespace) -> ExecutionConfig:
    """Build the :class:`ExecutionConfig` from options added by :func:`add_execution_arguments`.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    ExecutionConfig
        Without ``--n-jobs``: one worker per core, or 1 with a Dask scheduler.

    Raises
    ------
    ValueError
        For an invalid combination (e.g. ``--scheduler`` without ``--backend dask``).
    """
    n_jobs = args.n_jobs
    if n_jobs is None:
        n_jobs = 1 if args.scheduler else -1
    return ExecutionConfig(
        n_jobs=n_jobs,
        backend=Backend(args.backend),
        scheduler=args.scheduler,
        force=args.force,
        quiet=args.quiet,
        connect_timeout=args.connect_timeout,
        worker_timeout=args.worker_timeout,
    )


def config_from_args(args: argparse.Namespace) -> DatasetConfig:
    """Return the configuration chosen by ``--dataset`` and ``--profile``."""
    return profile_config(args.dataset, args.profile)


def pairs_from_args(
    text: str | None, config: DatasetConfig, flag: str = "-pair / --pair"
) -> tuple[str, ...]:
    """Return the pairs of a comma-separated flag, validated (default: the config's pairs).

    ``flag`` names the flag in the error message.
    """
    pairs = name_list(text, "pairs") or config.pairs
    n_classes = dataset_info(config.dataset).n_classes
    for pair in pairs:
        try:
            parse_pair(pair, n_classes)
        except ValueError as error:
            raise ValueError(f"{error} (flag {flag})") from None
    return tuple(pairs)


def data_request_from_args(
    args: argparse.Namespace, config: DatasetConfig, pair: str
) -> DataRequest:
    """Return the data request of ``pair`` (``--n-train``, ``--n-test``, ``--data-seed``)."""
    return DataRequest(
        config.dataset,
        pair,
        config.n_train if args.n_train is None else args.n_train,
        config.n_test if args.n_test is None else args.n_test,
        config.data_seed if args.data_seed is None else args.data_seed,
    )


def out_dir_from_args(args: argparse.Namespace, config: DatasetConfig) -> Path:
    """Return the run's results root: ``--out-dir``, else ``runs/<dataset>`` (not the reference)."""
    return Path(args.out_dir) if args.out_dir else default_run_root(config)


def reference_from_args(args: argparse.Namespace, config: DatasetConfig) -> Path | None:
    """Return the root of ``--reference`` (default ``results/<dataset>``; ``none``: None).

    An explicit ``--reference`` that is not a folder is an error, raised with the other
    flags' errors, before any work.
    """
    text = args.reference if args.reference is not None else config.results_dir
    root = None if text.lower() == "none" else Path(text)
    if args.reference is not None and root is not None and not root.is_dir():
        raise FileNotFoundError(
            f"--reference {text}: no such folder; give the folder of the reference tables "
            f"(e.g. {config.results_dir}) or --reference none to skip the comparison"
        )
    return root


def driver_settings_from_args(
    args: argparse.Namespace, *, features: bool = True, reference: bool = True, report: bool = False
) -> DriverSettings:
    """Return the typed :class:`DriverSettings` of the flags every grid driver shares.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by a parser with :func:`add_dataset_arguments` (or a ``dataset`` default and
        ``--profile``) and :func:`add_common_arguments`.
    features : bool
        The parser has :func:`add_feature_arguments` (else the deep-feature stage gets only
        ``--device`` and ``--quiet``).
    reference : bool
        The parser has :func:`add_reference_arguments` (else nothing is compared).
    report : bool
        The parser has :func:`add_report_argument` (else no report is written).

    Raises
    ------
    ValueError
        An invalid execution combination (see :func:`execution_config_from_args`).
    """
    execution = execution_config_from_args(args)
    config = config_from_args(args)
    return DriverSettings(
        config=config,
        profile=args.profile,
        out_dir=out_dir_from_args(args, config),
        data_dir=args.data_dir,
        download=args.download,
        n_train=args.n_train,
        n_test=args.n_test,
        data_seed=args.data_seed,
        seeds=tuple(args.seeds) if args.seeds else None,
        device=args.device,
        execution=execution,
        features=(
            feature_settings_from_args(args)
            if features
            else FeatureSettings(device=args.device, quiet=args.quiet)
        ),
        reference=reference_from_args(args, config) if reference else None,
        fail_on_difference=args.fail_on_difference if reference else False,
        report=not args.no_report if report else False,
    )


def figure_step_from_args(args: argparse.Namespace) -> FigureStep:
    """Return the figure step of ``--no-figures`` and, where a driver has it, ``--figures-only``."""
    if getattr(args, "figures_only", False):
        return FigureStep.ONLY
    return FigureStep.SKIP if args.no_figures else FigureStep.DRAW


def add_safety_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--safe-margin`` and ``--safe-level``: the criteria of ``safe_region.csv``."""
    safety = parser.add_argument_group("safe region (docs/safe_hyperparameters.md)")
    safety.add_argument(
        "--safe-margin",
        type=float,
        default=DEFAULT_CA_MARGIN,
        metavar="M",
        help="a safe cell's mean clean accuracy is at least the best cell's minus M, in [0, 1] "
        f"(default {DEFAULT_CA_MARGIN:g})",
    )
    safety.add_argument(
        "--safe-level",
        type=float,
        default=DEFAULT_BA_LEVEL,
        metavar="L",
        help="a safe cell's mean backdoor accuracy is at most L, in [0, 1] "
        f"(default {DEFAULT_BA_LEVEL:g})",
    )


def safety_criteria_from_args(args: argparse.Namespace) -> SafetyCriteria:
    """Return the validated :class:`SafetyCriteria` (a value outside [0, 1] raises)."""
    return SafetyCriteria(margin=args.safe_margin, level=args.safe_level)
