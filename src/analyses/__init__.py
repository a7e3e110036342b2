"""Analyses of fitted models and learning curves, one module per analysis.

- :mod:`~backdoor_curves.analyses.deviation`: parameter deviation ``nu`` and ``rho`` of a
  model against the unpoisoned one (primal weights or the RKHS form), one model or the optima
  of an exact SVM path at many betas at once.
- :mod:`~backdoor_curves.analyses.tangent`: the tangent check of a learning curve
  (``slope_fd``, ``tangent_valid_until``; exact on an SVM path: ``hinge_tangent_valid_until``,
  the crossing, and ``breakpoint_tangent_valid_until``, the first breakpoint past it).
- :mod:`~backdoor_curves.analyses.explanation`: a fitted model explained on triggered images
  (input gradients, top-k influential training points) and the measures of its explanation.

The learning slope itself (the influence-function derivative) lives in
:mod:`backdoor_curves.attacks.influence`.
"""

from backdoor_curves.analyses.deviation import parameter_deviation, path_deviation
from backdoor_curves.analyses.tangent import (
    TANGENT_TOLERANCE,
    breakpoint_tangent_valid_until,
    hinge_tangent_valid_until,
    slope_fd,
    slope_ratio,
    tangent_valid_until,
)

__all__ = [
    "TANGENT_TOLERANCE",
    "breakpoint_tangent_valid_until",
    "hinge_tangent_valid_until",
    "parameter_deviation",
    "path_deviation",
    "slope_fd",
    "slope_ratio",
    "tangent_valid_until",
]
