"""One call of the network driver, after its flags are validated: the grid and what follows.

:func:`run_network_experiment` decodes the images once into ``<out dir>/decoded`` (the
workers memory-map them), runs the grid of (arch, beta, p, seed) tasks
(:mod:`backdoor_curves.experiments.nn.worker`) resumably into ``<out dir>/results.csv``,
writes the derived tables (:mod:`backdoor_curves.experiments.nn.tables`) and the manifest,
prints the head-slope answer (does the head slope rank the networks' backdoor learning?),
compares the table with the reference statistically
(:mod:`backdoor_curves.experiments.nn.comparison`) and draws figure F8.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from backdoor_curves.experiments.nn.columns import HEAD_BETAS, NETWORK_COLUMNS
from backdoor_curves.experiments.nn.comparison import compare_with_reference
from backdoor_curves.experiments.nn.config import NetworkConfig
from backdoor_curves.experiments.nn.data import decode_once
from backdoor_curves.experiments.nn.tables import (
    head_curve_table,
    head_slope_ranking,
    head_slope_table,
    seed_summary,
)
from backdoor_curves.experiments.nn.worker import NetworkRun, NetworkTask, run_network_task
from backdoor_curves.naming import trigger_spec_label
from backdoor_curves.plots.network import plot_network_curves
from backdoor_curves.utilities.atomic import atomic_write_text
from backdoor_curves.utilities.backends import ExecutionConfig
from backdoor_curves.utilities.grid import run_grid
from backdoor_curves.utilities.store import ResultStore

__all__ = ["NetworkRequest", "config_id", "network_tasks", "run_network_experiment"]


@dataclass(frozen=True)
class NetworkRequest:
    """Everything one driver call asks for, validated and typed.

    Attributes
    ----------
    config : NetworkConfig
        The profile with the command-line overrides.
    data_dir : str or None
        ``--data-dir``.
    device : torch.device
        The resolved ``--device``.
    amp : bool
        Mixed precision on CUDA (not ``--no-amp``).
    weights_paths : tuple of (str, str)
        Architecture name -> verified weights file.
    out_dir : Path
        Where the tables go (``runs/<dataset>/nn``).
    reference_dir : Path or None
        The reference folder compared with (``results/<dataset>/nn``); None: no comparison.
    fail_on_difference : bool
        Exit status 1 when a cell lies outside the seeds' spread.
    plot : bool
        Draw figure F8.
    execution : ExecutionConfig
    """

    config: NetworkConfig
    data_dir: str | None
    device: torch.device
    amp: bool
    weights_paths: tuple[tuple[str, str], ...]
    out_dir: Path
    reference_dir: Path | None
    fail_on_difference: bool
    plot: bool
    execution: ExecutionConfig


def config_id(config: NetworkConfig) -> str:
    """Short fingerprint of everything but the grid axes, so changed settings recompute."""
    fields = asdict(config)
    for axis in ("name", "archs", "betas", "fractions", "seeds"):
        fields.pop(axis)
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class KeyedTask:
    """Task with the settings fingerprint in its key (resume never mixes settings)."""

    config_id: str
    task: NetworkTask


def _run_keyed(keyed: KeyedTask, *, run: NetworkRun) -> list[dict[str, Any]]:
    return run_network_task(keyed.task, run=run)


def network_tasks(config: NetworkConfig) -> list[KeyedTask]:
    """Return the grid: every (arch, p, seed, beta), keyed with :func:`config_id`."""
    fingerprint = config_id(config)
    return [
        KeyedTask(fingerprint, NetworkTask(arch, beta, fraction, seed))
        for arch in config.archs
        for fraction in config.fractions
        for seed in config.seeds
        for beta in config.betas
    ]


def _write_tables(out_dir: Path, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write the derived tables; return the head-slope table and its ranking."""
    heads = head_slope_table(table)
    ranking = head_slope_ranking(heads)
    derived = {
        "summary.csv": seed_summary(table),
        "head_slope.csv": heads,
        "head_curve.csv": head_curve_table(table),
        "head_slope_rank.csv": ranking,
    }
    for name, frame in derived.items():
        atomic_write_text(out_dir / name, frame.to_csv(index=False))
    return heads, ranking


def _head_lines(heads: pd.DataFrame, ranking: pd.DataFrame) -> list[str]:
    """Return the head slope's check on its own curve and its answer on the ranking."""
    lines = []
    for arch, group in heads.groupby("arch", sort=True):
        ok = group[group["head_status"] == "ok"]
        if ok.empty:
            lines.append(f"{arch}: no head slope computed ({group['head_status'].iloc[0]})")
            continue
        ratio = ok["head_slope_ratio"].to_numpy(dtype=float)
        valid = ok["head_tangent_valid_until"].to_numpy(dtype=float)
        lines.append(
            f"{arch}: head slope vs its own curve at beta = {HEAD_BETAS[0]:g}: slope_if / "
            f"slope_fd in [{np.nanmin(ratio):.4f}, {np.nanmax(ratio):.4f}]; tangent valid up "
            f"to beta = {np.nanmin(valid):g} .. {np.nanmax(valid):g} ({len(ok)} networks)"
        )
        for _, row in ranking[ranking["arch"] == arch].iterrows():
            lines.append(
                f"{arch}: does the head slope rank the networks' backdoor learning? Spearman "
                f"{row['spearman']:.2f} (p = {row['p_value']:.2g}, {row['n_networks']} "
                f"networks over p, epochs, seeds) against the {row['measure']}"
            )
    return lines


def run_network_experiment(request: NetworkRequest, emit: Callable[[str], None] = print) -> int:
    """Run the grid and everything after it (module docstring); return the exit status."""
    config, out_dir = request.config, request.out_dir
    decoded = decode_once(
        config.dataset,
        request.data_dir,
        config.n_train,
        config.n_test,
        config.data_seed,
        out_dir / "decoded",
    )
    run = NetworkRun(config, decoded, request.device.type, request.amp, request.weights_paths)
    tasks = network_tasks(config)
    emit(
        f"[nn] {config.name}: {config.dataset}, {', '.join(a.value for a in config.archs)}, "
        f"{trigger_spec_label(config.trigger)}, {len(tasks)} runs of {max(config.epochs)} "
        f"epochs on {request.device}, seeds {', '.join(map(str, config.seeds))}"
    )
    store = ResultStore(out_dir, NETWORK_COLUMNS)
    report = run_grid(
        tasks,
        functools.partial(_run_keyed, run=run),
        store,
        request.execution,
        description="nn",
    )
    heads, ranking = _write_tables(out_dir, report.table)
    store.write_manifest(
        config={
            "driver": "nn.backdoor_slope",
            "network": asdict(config),
            "config_id": config_id(config),
            "head_betas": list(HEAD_BETAS),
            "device": request.device.type,
            "amp": request.amp,
            "weights": dict(request.weights_paths),
            "execution": asdict(request.execution),
        },
        data_source=decoded.source,
        timings=report.timings(),
    )
    emit(
        f"[nn] {report.n_computed} runs computed, {report.n_skipped} resumed, "
        f"{report.seconds:.0f} s -> {out_dir}"
    )
    for line in _head_lines(heads, ranking):
        emit(f"[nn] {line}")
    status = 0
    if request.reference_dir is not None:
        comparison = compare_with_reference(out_dir, request.reference_dir)
        status = comparison.report(emit, fail_on_difference=request.fail_on_difference)
    if request.plot:
        for path in plot_network_curves(out_dir):
            emit(f"[nn] figure {path}")
    return status
