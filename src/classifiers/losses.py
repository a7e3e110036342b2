"""Margin losses of the binary models and their derivatives with respect to the score.

Every loss takes signed labels ``y`` in {-1, +1} and scores ``f = f(x; theta)`` and is
differentiated with respect to ``f`` (the chain rule to the parameters lives in the models):

==========  =========================  ============================  ==================
name        loss(y, f)                 d loss / d f                  d2 loss / d f2
==========  =========================  ============================  ==================
hinge       max(0, 1 - y f)            -y * [y f < 1]                0 (almost everywhere)
logistic    log(1 + exp(-y f))         -y * sigmoid(-y f)            sigmoid(y f) sigmoid(-y f)
squared     (y - f)^2                  -2 (y - f)                    2
==========  =========================  ============================  ==================

The hinge derivative uses the active set ``y f < 1`` (the subgradient 0 is taken on the kink).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy.special import expit

__all__ = ["Loss", "MarginLoss", "get_loss", "to_signed"]


class Loss(StrEnum):
    """Names of the margin losses."""

    HINGE = "hinge"
    LOGISTIC = "logistic"
    SQUARED = "squared"


def to_signed(y: np.ndarray) -> np.ndarray:
    """Map binary labels {0, 1} to signed labels {-1, +1} (float64).

    Raises
    ------
    ValueError
        If ``y`` holds values other than 0 and 1.
    """
    y = np.asarray(y)
    positive = y == 1
    if not (positive | (y == 0)).all():
        bad = np.setdiff1d(np.unique(y), [0, 1])
        raise ValueError(f"binary labels must be 0 or 1, got {bad[:5].tolist()}")
    return np.where(positive, 1.0, -1.0)


@dataclass(frozen=True)
class MarginLoss:
    """A margin loss with its first and second derivative in the score ``f``."""

    name: Loss

    def value(self, y: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Per-sample loss, shape (n,); ``y`` signed in {-1, +1}."""
        margin = y * f
        if self.name is Loss.HINGE:
            return np.maximum(0.0, 1.0 - margin)
        if self.name is Loss.LOGISTIC:
            return np.logaddexp(0.0, -margin)
        return (y - f) ** 2

    def first_derivative(self, y: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Per-sample d loss / d f, shape (n,)."""
        margin = y * f
        if self.name is Loss.HINGE:
            return np.where(margin < 1.0, -y, 0.0)
        if self.name is Loss.LOGISTIC:
            return -y * expit(-margin)
        return -2.0 * (y - f)

    def second_derivative(self, y: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Per-sample d2 loss / d f2, shape (n,)."""
        margin = y * f
        if self.name is Loss.HINGE:
            return np.zeros_like(margin)
        if self.name is Loss.LOGISTIC:
            return expit(margin) * expit(-margin)
        return np.full_like(margin, 2.0)


def get_loss(name: str | Loss) -> MarginLoss:
    """Return the margin loss called ``name`` (one of hinge, logistic, squared)."""
    try:
        return MarginLoss(Loss(name))
    except ValueError:
        valid = ", ".join(loss.value for loss in Loss)
        raise ValueError(f"unknown loss {name!r}; valid losses: {valid}") from None
