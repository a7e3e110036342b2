"""The CLI layer: every flag the drivers share, and the typed settings built from them.

Drivers call :func:`add_dataset_arguments` and :func:`add_common_arguments` (data, output,
seeds, device and the execution flags of :func:`add_execution_arguments`) on a
:class:`DriverParser`, then turn the parsed namespace into typed objects right here:
:func:`config_from_args` (a :class:`~backdoor_curves.experiments.config.DatasetConfig`),
:func:`pairs_from_args`, :func:`data_request_from_args`
(a :class:`~backdoor_curves.experiments.problem.DataRequest`), :func:`execution_config_from_args`
(an :class:`~backdoor_curves.utilities.grid.ExecutionConfig`) and :func:`run_settings_from_args`
(a :class:`~backdoor_curves.experiments.recording.RunSettings`). Nothing below this layer sees an
``argparse.Namespace``. :func:`report_errors` turns user errors into one line and exit status 2.
"""

from __future__ import annotations

import argparse
import functools
import gc
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from backdoor_curves.experiments.config import DatasetConfig, profile_config
from backdoor_curves.experiments.feature_stage import FeatureSettings
from backdoor_curves.experiments.problem import DataRequest
from backdoor_curves.experiments.recording import RunSettings, default_run_root
from backdoor_curves.experiments.reference import ReferenceCheck
from backdoor_curves.utilities.data import DATASETS, dataset_info, parse_pair
from backdoor_curves.utilities.grid import Backend, ExecutionConfig

__all__ = [
    "DriverParser",
    "add_common_arguments",
    "add_data_arguments",
    "add_dataset_arguments",
    "add_execution_arguments",
    "add_feature_arguments",
    "add_output_arguments",
    "add_reference_arguments",
    "check_unique",
    "config_from_args",
    "data_request_from_args",
    "execution_config_from_args",
    "exit_process",
    "feature_settings_from_args",
    "float_list",
    "int_list",
    "name_list",
    "out_dir_from_args",
    "pairs_from_args",
    "reference_check_from_args",
    "report_errors",
    "run_settings_from_args",
]


class DriverParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line: ``prog: error: message``."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message`` (no usage block) and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _number_list(text: str, kind: Callable[[str], float | int], what: str) -> tuple:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"empty list of {what}")
    try:
        values = tuple(kind(item) for item in items)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of {what}"
        ) from None
    try:
        check_unique(values, what)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return values


def check_unique(values: Sequence[object], what: str) -> None:
    """Raise ``ValueError`` naming the repeated entries of ``values`` (a list of ``what``)."""
    repeated = sorted({str(v) for v in values if list(values).count(v) > 1})
    if repeated:
        raise ValueError(f"repeated {what}: {', '.join(repeated)}")


def name_list(text: str | None, what: str) -> tuple[str, ...] | None:
    """Split a comma-separated list of names (None stays None).

    Raises
    ------
    ValueError
        If the list is empty or repeats a name.
    """
    if text is None:
        return None
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise ValueError(f"empty list of {what}")
    check_unique(names, what)
    return names


def float_list(text: str) -> tuple[float, ...]:
    """Parse ``"1e-3,0.1,10"`` into floats (argparse ``type``)."""
    return _number_list(text, float, "numbers")


def int_list(text: str) -> tuple[int, ...]:
    """Parse ``"1,10,11"`` into integers (argparse ``type``)."""
    return _number_list(text, int, "integers")


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


def add_common_arguments(parser: argparse.ArgumentParser, *, default_out: str) -> None:
    """Add the flags every grid driver shares (SPEC section 1).

    The data flags (:func:`add_data_arguments`), ``--out-dir`` (:func:`add_output_arguments`),
    ``--seeds``, ``--device`` and the execution flags of :func:`add_execution_arguments`.
    """
    add_data_arguments(parser)
    add_output_arguments(parser, default_out=default_out)
    parser.add_argument(
        "--seeds", type=int_list, default=None, help="experiment seeds, e.g. 1,10,11,100,101"
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


def reference_check_from_args(
    args: argparse.Namespace, config: DatasetConfig, kind: str
) -> ReferenceCheck:
    """Return the end-of-run comparison with the reference of the ``kind`` tables.

    The reference root is ``--reference``, else the configuration's ``results/<dataset>``;
    ``--reference none`` turns the comparison off; ``--fail-on-difference`` makes a difference
    exit status 1.
    """
    text = args.reference if args.reference is not None else config.results_dir
    root = None if text.lower() == "none" else Path(text)
    return ReferenceCheck(kind, root, fail_on_difference=args.fail_on_difference)


def run_settings_from_args(
    args: argparse.Namespace, driver: str, execution: ExecutionConfig
) -> RunSettings:
    """Return the :class:`RunSettings` of a run (``--profile``, ``--device``, ``--data-dir``)."""
    return RunSettings(
        driver=driver,
        profile=args.profile,
        device=args.device,
        data_dir=args.data_dir,
        execution=execution,
    )


def report_errors(main: Callable[[Sequence[str] | None], int]) -> Callable[..., int]:
    """Wrap a driver's ``main``: user errors become one line on stderr and exit status 2.

    ``ValueError``, ``FileNotFoundError``, ``PermissionError`` and ``ConnectionError`` (an
    unreachable Dask scheduler) are the errors our code raises for bad input, with messages
    meant for the user; anything else is a bug and keeps its traceback. Ctrl-C exits with
    130 after the grid engine saved the finished cells.
    """

    @functools.wraps(main)
    def wrapped(argv: Sequence[str] | None = None) -> int:
        try:
            return main(argv)
        except (ValueError, FileNotFoundError, PermissionError, ConnectionError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted: finished cells were saved; rerun to resume", file=sys.stderr)
            return 130

    return wrapped


def exit_process(status: int) -> NoReturn:
    """End a command-line process with ``status`` (the ``__main__`` block of every driver).

    The interpreter's last garbage collection walks every object still alive, and torch,
    torchvision (which imports ``torch._dynamo`` and sympy) and matplotlib leave millions of
    them: after a deep-feature run that walk alone took about 2 s here, to free memory the
    operating system reclaims anyway. ``gc.freeze()`` takes them out of the collector's reach
    first. Exit handlers (worker pools, progress bars) still run; only objects kept alive by
    reference cycles are not finalised, which Python does not promise at exit either.
    """
    gc.freeze()
    sys.exit(status)
