"""The columns of the network experiment's tables, and the betas of the head's own curve.

``results.csv`` (written by the grid, one row per (arch, beta, p, seed, epochs)) has
:data:`NETWORK_COLUMNS`; its ``head_*`` columns are filled at ``beta = 0`` only (the head
slope of :mod:`backdoor_curves.experiments.nn.head`), NaN elsewhere. The tables derived from
it after the grid (:mod:`backdoor_curves.experiments.nn.tables`) have the columns named there.
"""

from __future__ import annotations

__all__ = [
    "COMPARED",
    "HEAD_BETAS",
    "HEAD_COLUMNS",
    "IDENTITY",
    "NETWORK_COLUMNS",
    "head_curve_column",
]

HEAD_BETAS: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
"""Positive betas of the head's exact curve (its tangent is checked on them)."""


def head_curve_column(beta: float) -> str:
    """Column of the head's backdoor CE at ``beta``, e.g. ``head_ce_1e-05``."""
    return f"head_ce_{beta:g}"


HEAD_COLUMNS: tuple[str, ...] = (
    "head_slope_if", "head_slope_fd", "head_tangent_valid_until", "head_backdoor_ce",
    *(head_curve_column(beta) for beta in HEAD_BETAS),
    "head_damping", "head_gradient_norm", "head_cg_iterations", "head_status",
)  # fmt: skip
"""Head-slope columns of ``results.csv`` (see ``experiments/nn/head.py``)."""

NETWORK_COLUMNS: tuple[str, ...] = (
    "dataset", "data_source", "arch", "width", "pretrained", "weights_sha256",
    "trigger", "trigger_size", "trigger_eps", "poison_weighting", "beta", "epochs",
    "poison_fraction", "n_poison", "seed", "n_train", "n_test", "lr", "momentum",
    "weight_decay", "batch_size",
    "clean_acc", "backdoor_acc", "clean_ce", "backdoor_ce", "train_loss",
    "train_seconds", "eval_seconds", "device",
    *HEAD_COLUMNS,
)  # fmt: skip
"""Columns of ``results.csv``: one row per (arch, beta, p, seed, epochs)."""

IDENTITY: tuple[str, ...] = (
    "dataset", "data_source", "arch", "width", "pretrained", "trigger", "trigger_size",
    "trigger_eps", "poison_weighting", "beta", "epochs", "poison_fraction", "n_train",
    "n_test", "lr", "momentum", "weight_decay", "batch_size",
)  # fmt: skip
"""Columns naming a cell across seeds: the statistics over seeds are taken per identity."""

COMPARED: tuple[tuple[str, str], ...] = (
    ("clean_acc", "CA"),
    ("backdoor_acc", "BA"),
    ("backdoor_ce", "backdoor CE"),
)
"""``(column, label)`` of the numbers a rerun is compared on with the reference."""
