r"""Backdoor learning curves of deep networks (SPEC section 5.6).

Run as ``python src/experiments/nn/backdoor_slope.py`` or
``python -m backdoor_curves.experiments.nn.backdoor_slope`` (``--profile quick`` runs on the
embedded MNIST digits in minutes; the default ``paper`` profile fine-tunes ImageNet ResNets
on Imagenette, see ``./run_imagenette.sh imagenette_full``).

One grid task is one (architecture, beta, p, seed): a network is trained once for the
largest requested epoch count on ``mean CE(clean) + beta mean CE(poisons)`` and evaluated
after each requested epoch count (with a constant learning rate the 10-epoch network is the
50-epoch run after 10 epochs). A task returns one row per epoch count: CA, BA, clean and
backdoor cross-entropy, the epoch's training loss and the training time so far.

Beyond the paper, at ``beta = 0`` the task also freezes the network at each epoch count and
computes the exact learning slope of its last layer (a softmax head refitted on the
penultimate features with the run's weight decay; see
:mod:`backdoor_curves.classifiers.nn.softmax_head`), with its finite-difference check on
refitted heads. After the grid, ``head_slope.csv`` compares it per (arch, epochs, p, seed)
with the measured first step of the network's backdoor-loss curve,
``(L_bt(beta_1) - L_bt(0)) / beta_1``. Figure F8 is drawn from the tables.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.nn.pretrained import PretrainedWeights, resolve_weights
from backdoor_curves.classifiers.nn.resnet import Architecture, build_resnet, parse_architecture
from backdoor_curves.classifiers.nn.softmax_head import head_learning_slope
from backdoor_curves.classifiers.nn.weighted_trainer import (
    EpochLog,
    TrainSettings,
    check_beta,
    evaluate,
    penultimate_features,
    train_weighted,
)
from backdoor_curves.experiments.flags import add_common_arguments, execution_config_from_args
from backdoor_curves.experiments.nn.config import PROFILES, NetworkConfig, get_network_config
from backdoor_curves.experiments.nn.data import (
    N_CLASSES,
    check_available,
    load_multiclass,
    poisoned_run,
)
from backdoor_curves.naming import trigger_spec_label
from backdoor_curves.utilities.atomic import atomic_write_text, check_writable
from backdoor_curves.utilities.backends import check_scheduler
from backdoor_curves.utilities.commands import DriverParser, float_list, int_list, report_errors
from backdoor_curves.utilities.grid import run_grid
from backdoor_curves.utilities.store import ResultStore

__all__ = [
    "HEAD_SLOPE_COLUMNS",
    "NETWORK_COLUMNS",
    "NetworkRun",
    "NetworkTask",
    "build_parser",
    "head_slope_table",
    "main",
    "resolve_device",
    "run_network_task",
]

NETWORK_COLUMNS: tuple[str, ...] = (
    "dataset", "data_source", "arch", "width", "pretrained", "weights_sha256",
    "trigger", "trigger_size", "trigger_eps", "beta", "epochs", "poison_fraction", "n_poison",
    "seed", "n_train", "n_test", "lr", "momentum", "weight_decay", "batch_size",
    "clean_acc", "backdoor_acc", "clean_ce", "backdoor_ce", "train_loss",
    "train_seconds", "eval_seconds", "device",
    "head_slope_if", "head_slope_fd", "head_backdoor_ce", "head_damping",
    "head_condition_number", "head_gradient_norm", "head_status",
)  # fmt: skip
"""Columns of ``results.csv``: one row per (arch, beta, p, seed, epochs)."""

HEAD_SLOPE_COLUMNS: tuple[str, ...] = (
    "arch", "epochs", "poison_fraction", "seed", "head_slope_if", "head_slope_fd",
    "curve_beta", "curve_slope", "head_damping", "head_status",
)  # fmt: skip
"""Columns of ``head_slope.csv``: head influence slope vs the curve's first step."""


@dataclass(frozen=True)
class NetworkRun:
    """What every task of one driver call shares (picklable, sent to the workers).

    ``weights_paths`` maps an architecture name to its verified weights file (empty when
    training from scratch).
    """

    config: NetworkConfig
    data_dir: str | None
    device: str
    amp: bool
    weights_paths: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class NetworkTask:
    """One training run: architecture, poison weight, poison fraction, seed."""

    arch: Architecture
    beta: float
    poison_fraction: float
    seed: int


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available (use auto or cpu)")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; valid devices are auto, cpu, cuda")
    return torch.device(name)


@functools.lru_cache(maxsize=2)
def _cached_weights(arch: str, path: str) -> PretrainedWeights:
    """Load verified weights once per worker process."""
    return resolve_weights(arch, weights_path=path)


def _head_columns(
    model: torch.nn.Module, data: Any, config: NetworkConfig, device: torch.device
) -> dict[str, Any]:
    """Exact learning slope of ``model``'s last layer on its frozen penultimate features."""
    Z_train = penultimate_features(model, data.train, device)
    Z_backdoor = penultimate_features(model, data.backdoor, device)
    fc = model.fc
    assert isinstance(fc, torch.nn.Linear)
    coef = torch.cat([fc.weight, fc.bias[:, None]], dim=1).detach().cpu().double().numpy()
    result = head_learning_slope(
        Z_train,
        data.train.labels.numpy(),
        data.train.is_poison.numpy(),
        Z_backdoor,
        data.backdoor.labels.numpy(),
        weight_decay=config.weight_decay,
        n_classes=N_CLASSES,
        coef_init=coef,
    )
    return {
        "head_slope_if": result.slope_if,
        "head_slope_fd": result.slope_fd,
        "head_backdoor_ce": result.backdoor_ce,
        "head_damping": result.damping,
        "head_condition_number": result.condition_number,
        "head_gradient_norm": result.gradient_norm,
        "head_status": result.status,
    }


_NO_HEAD = {
    "head_slope_if": float("nan"),
    "head_slope_fd": float("nan"),
    "head_backdoor_ce": float("nan"),
    "head_damping": float("nan"),
    "head_condition_number": float("nan"),
    "head_gradient_norm": float("nan"),
    "head_status": "computed at beta = 0 only",
}


def run_network_task(task: NetworkTask, *, run: NetworkRun) -> list[dict[str, Any]]:
    """Train one network and evaluate it at every requested epoch count (module docstring)."""
    config, device = run.config, torch.device(run.device)
    split = load_multiclass(
        config.dataset, run.data_dir, config.n_train, config.n_test, config.data_seed
    )
    data = poisoned_run(
        split, config.trigger, task.poison_fraction, task.seed, (config.mean, config.std)
    )
    weights_path = dict(run.weights_paths).get(task.arch.value)
    weights = None if weights_path is None else _cached_weights(task.arch.value, weights_path)
    model = build_resnet(
        task.arch,
        N_CLASSES,
        seed=task.seed,
        in_channels=split.X_train.shape[1],
        stem=config.stem,
        weights=weights,
        width=config.width,
    )
    settings = TrainSettings(
        epochs=max(config.epochs),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        batch_size=config.batch_size,
        flip=config.flip,
        amp=run.amp,
    )
    base = {
        "dataset": config.dataset,
        "data_source": split.source,
        "arch": task.arch.value,
        "width": config.width,
        "pretrained": weights is not None,
        "weights_sha256": None if weights is None else weights.sha256,
        "trigger": config.trigger.kind.value,
        "trigger_size": config.trigger.size,
        "trigger_eps": config.trigger.eps,
        "beta": task.beta,
        "poison_fraction": task.poison_fraction,
        "n_poison": data.n_poison,
        "seed": task.seed,
        "n_train": len(data.train),
        "n_test": len(data.test),
        "lr": config.lr,
        "momentum": config.momentum,
        "weight_decay": config.weight_decay,
        "batch_size": config.batch_size,
        "device": device.type,
    }
    rows: list[dict[str, Any]] = []
    train_seconds = 0.0

    def record(log: EpochLog, network: torch.nn.Module) -> None:
        nonlocal train_seconds
        train_seconds += log.seconds
        if log.epoch not in config.epochs:
            return
        start = time.perf_counter()
        clean_acc, clean_ce = evaluate(network, data.test, device)
        backdoor_acc, backdoor_ce = evaluate(network, data.backdoor, device)
        head = _head_columns(network, data, config, device) if task.beta == 0 else _NO_HEAD
        rows.append(
            {
                **base,
                "epochs": log.epoch,
                "clean_acc": clean_acc,
                "backdoor_acc": backdoor_acc,
                "clean_ce": clean_ce,
                "backdoor_ce": backdoor_ce,
                "train_loss": log.train_loss,
                "train_seconds": train_seconds,
                "eval_seconds": time.perf_counter() - start,
                **head,
            }
        )

    train_weighted(
        model, data.train, task.beta, settings, seed=task.seed, device=device, on_epoch_end=record
    )
    return rows


def head_slope_table(table: pd.DataFrame) -> pd.DataFrame:
    """Head influence slope vs the first step of the measured backdoor-loss curve.

    For each (arch, epochs, p, seed) with a ``beta = 0`` row: ``curve_beta`` is the smallest
    positive beta of the grid and ``curve_slope = (L_bt(curve_beta) - L_bt(0)) / curve_beta``
    from the networks' backdoor CE (NaN when no positive beta was run).

    Parameters
    ----------
    table : pandas.DataFrame
        ``results.csv`` of this driver.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`HEAD_SLOPE_COLUMNS`, sorted.
    """
    keys = ["arch", "epochs", "poison_fraction", "seed"]
    rows = []
    for values, group in table.groupby(keys, sort=True):
        at_zero = group[group["beta"] == 0]
        if at_zero.empty:
            continue
        positive = group[group["beta"] > 0].sort_values("beta")
        zero = at_zero.iloc[0]
        if positive.empty:
            beta_1, slope = float("nan"), float("nan")
        else:
            first = positive.iloc[0]
            beta_1 = float(first["beta"])
            slope = (float(first["backdoor_ce"]) - float(zero["backdoor_ce"])) / beta_1
        rows.append(
            {
                **dict(zip(keys, values, strict=True)),
                "head_slope_if": zero["head_slope_if"],
                "head_slope_fd": zero["head_slope_fd"],
                "curve_beta": beta_1,
                "curve_slope": slope,
                "head_damping": zero["head_damping"],
                "head_status": zero["head_status"],
            }
        )
    return pd.DataFrame(rows, columns=list(HEAD_SLOPE_COLUMNS))


def build_parser() -> argparse.ArgumentParser:
    """Parser of the network driver."""
    parser = DriverParser(
        prog="python src/experiments/nn/backdoor_slope.py",
        description="Backdoor learning curves of ResNets trained with beta-weighted poisons "
        "(SPEC 5.6): CA, BA and losses per (arch, beta, epochs, p, seed), the head's influence "
        "slope at beta = 0, and figure F8.",
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="paper",
        help="paper: ImageNet ResNet18/50 on Imagenette (GPU); quick: embedded MNIST, minutes "
        "on a CPU; smoke: tiny (tests)",
    )
    parser.add_argument("--arch", default=None, help="comma-separated: resnet18, resnet50")
    parser.add_argument("--betas", type=float_list, default=None, help="poison weights in [0, 1]")
    parser.add_argument("--epochs", type=int_list, default=None, help="epoch counts, e.g. 10,50")
    parser.add_argument(
        "-ppoison", "--fractions", dest="fractions", type=float_list, default=None,
        help="poisoning fractions in (0, 1), e.g. 0.05,0.15",
    )  # fmt: skip
    parser.add_argument(
        "--trigger-eps", type=float, default=None, metavar="K",
        help="invisible trigger amplitude in 1/255 units (paper: 10; 75 for the visible one)",
    )  # fmt: skip
    training = parser.add_argument_group("training")
    training.add_argument("--lr", type=float, default=None, help="SGD learning rate")
    training.add_argument("--momentum", type=float, default=None, help="SGD momentum")
    training.add_argument("--weight-decay", type=float, default=None, help="L2 / weight decay")
    training.add_argument("--batch-size", type=int, default=None, help="images per batch")
    training.add_argument("--width", type=int, default=None, help="base width (small stem)")
    training.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    weights = parser.add_argument_group("pretrained weights")
    weights.add_argument(
        "--no-pretrained", action="store_true", help="train from scratch (no ImageNet weights)"
    )
    weights.add_argument(
        "--weights", default=None, metavar="PATH",
        help="ImageNet state dict (one architecture), or resnet18=PATH,resnet50=PATH; default: "
        "torchvision's file in the torch hub cache (--download fetches it)",
    )  # fmt: skip
    parser.add_argument("--no-plot", action="store_true", help="do not draw figure F8")
    add_common_arguments(parser, default_out="results/<dataset>/nn")
    return parser


def _config_from_args(args: argparse.Namespace) -> NetworkConfig:
    """Return the profile's configuration with the command-line overrides, validated."""
    config = get_network_config(args.profile)
    overrides: dict[str, Any] = {}
    if args.arch is not None:
        names = [name.strip() for name in args.arch.split(",") if name.strip()]
        overrides["archs"] = tuple(parse_architecture(name) for name in names)
    if args.betas is not None:
        overrides["betas"] = tuple(check_beta(beta) for beta in args.betas)
    if args.epochs is not None:
        if min(args.epochs) < 1:
            raise ValueError(f"epoch counts must be >= 1, got {list(args.epochs)}")
        overrides["epochs"] = tuple(sorted(args.epochs))
    if args.fractions is not None:
        bad = [p for p in args.fractions if not 0 < p < 1]
        if bad:
            raise ValueError(f"poisoning fraction p must be in (0, 1), got {bad[0]}")
        overrides["fractions"] = tuple(args.fractions)
    if args.seeds is not None:
        overrides["seeds"] = tuple(args.seeds)
    if args.trigger_eps is not None:
        if config.trigger.eps is None:
            raise ValueError(
                f"--trigger-eps needs an invisible trigger; {args.profile} uses badnet"
            )
        if not 0 < args.trigger_eps <= 255:
            raise ValueError(f"--trigger-eps must be in (0, 255], got {args.trigger_eps}")
        overrides["trigger"] = TriggerSpec.invisible(args.trigger_eps / 255)
    for name in ("lr", "momentum", "weight_decay", "batch_size", "width"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.no_pretrained:
        overrides["pretrained"] = False
    if args.n_train is not None:
        overrides["n_train"] = args.n_train
    if args.n_test is not None:
        overrides["n_test"] = args.n_test
    if args.data_seed is not None:
        overrides["data_seed"] = args.data_seed
    config = replace(config, **overrides)
    if 0.0 not in config.betas:
        raise ValueError(f"the betas {list(config.betas)} must include 0 (the head slope)")
    TrainSettings(
        epochs=max(config.epochs),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        batch_size=config.batch_size,
    )  # validates the optimiser settings
    return config


def _weights_paths(
    config: NetworkConfig, text: str | None, download: bool
) -> tuple[tuple[str, str], ...]:
    """Resolve (and verify) the weights file of every architecture before any work."""
    if not config.pretrained:
        if text is not None:
            raise ValueError("--weights conflicts with --no-pretrained (or a from-scratch profile)")
        return ()
    explicit: dict[str, str] = {}
    if text is not None:
        for item in (part.strip() for part in text.split(",") if part.strip()):
            if "=" in item:
                arch, path = item.split("=", 1)
                explicit[parse_architecture(arch.strip()).value] = path.strip()
            elif len(config.archs) == 1:
                explicit[config.archs[0].value] = item
            else:
                raise ValueError(
                    f"--weights {item!r}: with several architecture name each, "
                    "e.g. resnet18=PATH,resnet50=PATH"
                )
    resolved = []
    for arch in config.archs:
        weights = resolve_weights(
            arch.value, weights_path=explicit.get(arch.value), download=download
        )
        resolved.append((arch.value, str(weights.path)))
    return tuple(resolved)


def _config_id(config: NetworkConfig) -> str:
    """Short fingerprint of everything but the grid axes, so changed settings recompute."""
    import hashlib
    import json

    fields = asdict(config)
    for axis in ("name", "archs", "betas", "fractions", "seeds"):
        fields.pop(axis)
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class _KeyedTask:
    """Task with the settings fingerprint in its key (resume never mixes settings)."""

    config_id: str
    task: NetworkTask


def _run_keyed(keyed: _KeyedTask, *, run: NetworkRun) -> list[dict[str, Any]]:
    return run_network_task(keyed.task, run=run)


@report_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Run the network grid, write the tables and figure F8; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        execution = execution_config_from_args(args)
        check_scheduler(execution)  # an unreachable cluster fails first, writing nothing
    except ValueError as error:
        parser.error(str(error))
    config = _config_from_args(args)
    device = resolve_device(args.device)
    weights_paths = _weights_paths(config, args.weights, args.download)
    check_available(config.dataset, args.data_dir, download=args.download)
    suffix = "" if config.name != "smoke" else "_smoke"
    out_dir = Path(args.out_dir or f"results/{config.dataset}/nn{suffix}")
    check_writable(out_dir)
    run = NetworkRun(config, args.data_dir, device.type, not args.no_amp, weights_paths)
    config_id = _config_id(config)
    tasks = [
        _KeyedTask(config_id, NetworkTask(arch, beta, fraction, seed))
        for arch in config.archs
        for fraction in config.fractions
        for seed in config.seeds
        for beta in config.betas
    ]
    print(
        f"[nn] {config.name}: {config.dataset}, {', '.join(a.value for a in config.archs)}, "
        f"{trigger_spec_label(config.trigger)}, {len(tasks)} runs of {max(config.epochs)} "
        f"epochs on {device}"
    )
    store = ResultStore(out_dir, NETWORK_COLUMNS)
    report = run_grid(
        tasks, functools.partial(_run_keyed, run=run), store, execution, description="nn"
    )
    heads = head_slope_table(report.table)
    atomic_write_text(out_dir / "head_slope.csv", heads.to_csv(index=False))
    sources = sorted(set(report.table["data_source"].dropna()))
    store.write_manifest(
        config={
            "driver": "nn.backdoor_slope",
            "network": asdict(config),
            "config_id": config_id,
            "device": device.type,
            "amp": run.amp,
            "weights": dict(weights_paths),
            "execution": asdict(execution),
        },
        data_source=", ".join(sources),
        timings=report.timings(),
    )
    print(
        f"[nn] {report.n_computed} runs computed, {report.n_skipped} resumed, "
        f"{report.seconds:.0f} s -> {out_dir}"
    )
    if not args.no_plot:
        from backdoor_curves.plots.network import plot_network_curves

        for path in plot_network_curves(out_dir):
            print(f"[nn] figure {path}")
    return 0


if __name__ == "__main__":
    # Run main() from the importable module, not from __main__, so that process pools
    # pickle the worker function by reference.
    from backdoor_curves.experiments.nn import backdoor_slope
    from backdoor_curves.utilities.commands import exit_process

    exit_process(backdoor_slope.main())
