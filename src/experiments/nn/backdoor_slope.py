"""Backdoor learning curves of deep networks: the command line (``docs/networks.md``).

Run as ``python src/experiments/nn/backdoor_slope.py``, ``backdoor-curves nn`` or
``python -m backdoor_curves.experiments.nn.backdoor_slope`` (``--profile quick`` runs on the
embedded MNIST digits in minutes; the default ``paper`` profile fine-tunes ImageNet ResNets
on Imagenette, see ``./run_imagenette.sh imagenette_full``).

This module turns the flags into a validated
:class:`~backdoor_curves.experiments.nn.run.NetworkRequest` (every bad input is one line and
exit status 2 before anything is written) and hands it to
:func:`~backdoor_curves.experiments.nn.run.run_network_experiment`: the grid of networks
(:mod:`~backdoor_curves.experiments.nn.worker`), the head slope at each network's own last
layer (:mod:`~backdoor_curves.experiments.nn.head`), the tables over seeds
(:mod:`~backdoor_curves.experiments.nn.tables`), the statistical comparison with the
reference ``results/<dataset>/nn`` (:mod:`~backdoor_curves.experiments.nn.comparison`) and
figure F8. Tables go to ``runs/<dataset>/nn`` unless ``--out-dir`` says otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.nn.settings import (
    PoisonWeighting,
    TrainSettings,
    check_beta,
    parse_architecture,
    parse_weighting,
)
from backdoor_curves.experiments.flags import (
    add_common_arguments,
    add_reference_arguments,
    execution_config_from_args,
)
from backdoor_curves.experiments.nn.config import PROFILES, NetworkConfig, get_network_config
from backdoor_curves.utilities.atomic import check_writable
from backdoor_curves.utilities.backends import check_scheduler
from backdoor_curves.utilities.commands import DriverParser, float_list, int_list, report_errors

if TYPE_CHECKING:
    from backdoor_curves.experiments.nn.run import NetworkRequest

# The modules that train and evaluate networks import torch: they are imported when a run is
# prepared, not when the parser is built, so that ``--help`` and flag errors are immediate.

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Parser of the network driver."""
    parser = DriverParser(
        prog="python src/experiments/nn/backdoor_slope.py",
        description="Backdoor learning curves of ResNets trained with beta-weighted poisons: "
        "CA, BA and losses per (arch, beta, epochs, p, seed) with means and spreads over "
        "seeds, the influence slope of each network's own last layer at beta = 0 checked on "
        "that head's exact curve, and figure F8.",
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="paper",
        help="paper: ImageNet ResNet18/50 on Imagenette (GPU); quick: embedded MNIST, 3 "
        "seeds, minutes on a CPU; smoke: tiny (tests)",
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
    training.add_argument(
        "--poison-weighting",
        choices=[w.value for w in PoisonWeighting],
        default=None,
        help="batch-mean (default, the authors'): mean CE(clean) + beta mean CE(poisons) per "
        "batch; per-sample: a poison counts as beta clean samples",
    )
    parser.add_argument(
        "--head-damping",
        type=float,
        default=None,
        metavar="MU",
        help="damping of the head slope (default: (1 - momentum) / (lr x SGD steps), the "
        "early-stopping equivalent of the run)",
    )
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
    add_common_arguments(parser, default_out="runs/<dataset>/nn")
    add_reference_arguments(parser)
    return parser


def _checked_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    bad = [p for p in fractions if not 0 < p < 1]
    if bad:
        raise ValueError(f"poisoning fraction p must be in (0, 1), got {bad[0]}")
    return tuple(fractions)


def _grid_overrides(args: argparse.Namespace, config: NetworkConfig) -> dict[str, Any]:
    """Return the overrides of the grid axes and the trigger."""
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
        overrides["fractions"] = _checked_fractions(args.fractions)
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
    return overrides


def _config_from_args(args: argparse.Namespace) -> NetworkConfig:
    """Return the profile's configuration with the command-line overrides, validated."""
    config = get_network_config(args.profile)
    overrides = _grid_overrides(args, config)
    for name in ("lr", "momentum", "weight_decay", "batch_size", "width", "n_train", "n_test"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.data_seed is not None:
        overrides["data_seed"] = args.data_seed
    if args.no_pretrained:
        overrides["pretrained"] = False
    if args.poison_weighting is not None:
        overrides["poison_weighting"] = parse_weighting(args.poison_weighting)
    if args.head_damping is not None:
        if not args.head_damping >= 0:
            raise ValueError(f"--head-damping must be >= 0, got {args.head_damping}")
        overrides["head_damping"] = args.head_damping
    config = replace(config, **overrides)
    if 0.0 not in config.betas:
        raise ValueError(f"the betas {list(config.betas)} must include 0 (the head slope)")
    if config.head_damping == 0 and config.weight_decay == 0:
        raise ValueError(
            "--head-damping 0 needs a weight decay > 0 (the head's Hessian is singular)"
        )
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
    from backdoor_curves.classifiers.nn.pretrained import resolve_weights  # noqa: PLC0415

    resolved = []
    for arch in config.archs:
        weights = resolve_weights(
            arch.value, weights_path=explicit.get(arch.value), download=download
        )
        resolved.append((arch.value, str(weights.path)))
    return tuple(resolved)


def _folder_name(config: NetworkConfig) -> str:
    """``nn``, or ``nn_smoke`` for the smoke profile (never mixed with the real tables)."""
    return "nn" if config.name != "smoke" else "nn_smoke"


def _request_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> NetworkRequest:
    """Validate every flag and the data, weights and output folder; write nothing."""
    try:
        execution = execution_config_from_args(args)
        check_scheduler(execution)  # an unreachable cluster fails first, writing nothing
    except ValueError as error:
        parser.error(str(error))
    config = _config_from_args(args)
    from backdoor_curves.experiments.nn.data import check_available  # noqa: PLC0415
    from backdoor_curves.experiments.nn.devices import (  # noqa: PLC0415
        default_worker_count,
        resolve_device,
    )
    from backdoor_curves.experiments.nn.run import NetworkRequest  # noqa: PLC0415

    device = resolve_device(args.device)
    if args.n_jobs is None and not args.scheduler:
        execution = dataclasses.replace(execution, n_jobs=default_worker_count(device))
    weights_paths = _weights_paths(config, args.weights, args.download)
    check_available(config.dataset, args.data_dir, download=args.download)
    out_dir = Path(args.out_dir or Path("runs") / config.dataset / _folder_name(config))
    reference_root = args.reference if args.reference is not None else f"results/{config.dataset}"
    reference_dir = (
        None if reference_root.lower() == "none" else Path(reference_root) / _folder_name(config)
    )
    check_writable(out_dir)
    return NetworkRequest(
        config=config,
        data_dir=args.data_dir,
        device=device,
        amp=not args.no_amp,
        weights_paths=weights_paths,
        out_dir=out_dir,
        reference_dir=reference_dir,
        fail_on_difference=args.fail_on_difference,
        plot=not args.no_plot,
        execution=execution,
    )


@report_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Run the network grid, write the tables and figure F8; return the exit status."""
    parser = build_parser()
    request = _request_from_args(parser.parse_args(argv), parser)
    from backdoor_curves.experiments.nn.run import run_network_experiment  # noqa: PLC0415

    return run_network_experiment(request)


if __name__ == "__main__":
    # Run main() from the importable module, not from __main__, so that process pools
    # pickle the worker function by reference.
    from backdoor_curves.experiments.nn import backdoor_slope
    from backdoor_curves.utilities.commands import exit_process

    exit_process(backdoor_slope.main())
