"""The head slope of one trained network, checked on that head's own exact curve.

At ``beta = 0`` and each requested epoch count, the worker freezes the network and:

1. takes its penultimate features of the (poisoned) training set and of the backdoor test set
   (eval mode) and its own last layer ``Theta_0 = [W, b]`` as the expansion point;
2. computes the damped influence slope of that head at ``Theta_0``
   (:func:`~backdoor_curves.classifiers.nn.head_influence.proximal_head_slope`), with the
   trainer's poison weighting, the run's weight decay and the damping ``mu`` of the run
   (default: the early-stopping damping of the SGD steps taken so far);
3. computes the exact curve of the same proximal head on the frozen features at the small
   betas :data:`~backdoor_curves.experiments.nn.columns.HEAD_BETAS`
   (:func:`~backdoor_curves.classifiers.nn.head_influence.proximal_head_curve`), and checks
   the tangent on it as for the shallow models (:mod:`backdoor_curves.analyses.tangent`):
   ``head_slope_fd = (L(beta_1) - L(0)) / beta_1`` on that curve and
   ``head_tangent_valid_until``.

Everything runs in float64 on the network's device. See ``docs/networks.md``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from backdoor_curves.analyses.tangent import slope_fd, tangent_valid_until
from backdoor_curves.classifiers.nn.head_influence import (
    HeadProblem,
    proximal_head_curve,
    proximal_head_slope,
)
from backdoor_curves.classifiers.nn.weighted_trainer import penultimate_features
from backdoor_curves.experiments.nn.columns import HEAD_BETAS, HEAD_COLUMNS, head_curve_column
from backdoor_curves.experiments.nn.data import PoisonedRun

__all__ = ["NO_HEAD", "head_columns"]

NO_HEAD: dict[str, Any] = {
    **{column: float("nan") for column in HEAD_COLUMNS},
    "head_cg_iterations": -1,
    "head_status": "computed at beta = 0 only",
}
"""Head columns of a row with ``beta > 0``."""


def _last_layer(model: torch.nn.Module) -> torch.Tensor:
    """``[W, b]`` of ``model.fc``, float64, shape ``(K, d + 1)``."""
    fc = model.fc
    if not isinstance(fc, torch.nn.Linear):
        raise TypeError(f"the network's last layer must be a Linear fc, got {type(fc).__name__}")
    return torch.cat([fc.weight, fc.bias[:, None]], dim=1).detach().to(torch.float64)


def _finite_prefix(values: list[float]) -> int:
    """Length of the leading run of finite values."""
    for index, value in enumerate(values):
        if not math.isfinite(value):
            return index
    return len(values)


def head_columns(
    model: torch.nn.Module,
    data: PoisonedRun,
    device: torch.device,
    *,
    weight_decay: float,
    damping: float,
    per_sample: bool,
) -> dict[str, Any]:
    """Head slope, its head's exact curve and the tangent check (module docstring).

    Parameters
    ----------
    model : torch.nn.Module
        The trained network (a ResNet with ``fc``), on ``device``.
    data : PoisonedRun
        Its poisoned training set and backdoor test set.
    device : torch.device
    weight_decay : float
        ``lambda`` of the run.
    damping : float
        ``mu``.
    per_sample : bool
        The run's poison weighting is per sample (else the per-batch means).

    Returns
    -------
    dict
        The :data:`~backdoor_curves.experiments.nn.columns.HEAD_COLUMNS` of one row.
    """
    problem = HeadProblem.from_features(
        penultimate_features(model, data.train, device),
        data.train.labels,
        data.train.is_poison,
        penultimate_features(model, data.backdoor, device),
        data.backdoor.labels,
        weight_decay=weight_decay,
        per_sample=per_sample,
    )
    theta0 = _last_layer(model).to(problem.X.device)
    slope = proximal_head_slope(problem, theta0, damping)
    betas = (0.0, *HEAD_BETAS)
    curve = proximal_head_curve(problem, theta0, damping, betas)
    kept = _finite_prefix(curve)
    status = slope.status
    if status == "ok" and kept < len(betas):
        status = f"head refit did not converge at beta = {betas[kept]:g}"
    return {
        "head_slope_if": slope.slope,
        "head_slope_fd": slope_fd(betas[:kept], curve[:kept]),
        "head_tangent_valid_until": tangent_valid_until(betas[:kept], curve[:kept], slope.slope),
        "head_backdoor_ce": slope.backdoor_loss,
        **{head_curve_column(b): loss for b, loss in zip(HEAD_BETAS, curve[1:], strict=True)},
        "head_damping": slope.damping,
        "head_gradient_norm": slope.gradient_norm,
        "head_cg_iterations": slope.cg_iterations,
        "head_status": status,
    }
