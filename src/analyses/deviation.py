r"""Parameter deviation of a poisoned model from the unpoisoned one (paper Fig. 6).

For the model ``w(beta)`` fitted with poison weight ``beta`` and the reference ``w(0)``:

.. math::

    \nu(\beta) = \tfrac12 \bigl(1 - \cos(w(0), w(\beta))\bigr), \qquad
    \rho(\beta) = \lVert w(\beta) \rVert,

with :math:`\cos(u, v) = \langle u, v \rangle / (\lVert u \rVert \lVert v \rVert)` clipped to
``[-1, 1]``, so ``nu`` lies in ``[0, 1]`` (0: same direction, 1: opposite). ``w`` is the
weight vector without the bias. For the linear models the inner product is the Euclidean one
of the primal weights; for the RBF SVM it is the RKHS one,

.. math::

    \langle w, w' \rangle = \sum_{i, j} \alpha_i y_i \, k(x_i, x'_j) \, \alpha'_j y'_j,

computed by each model from its own support vectors
(:meth:`~backdoor_curves.classifiers.base.BinaryClassifier.weight_inner`), so coefficients of
two models can never be misaligned.

See ``docs/method.md``, section "Parameter deviation".
"""

from __future__ import annotations

import numpy as np

from backdoor_curves.classifiers.base import BinaryClassifier

__all__ = ["parameter_deviation"]


def parameter_deviation(
    reference: BinaryClassifier, model: BinaryClassifier
) -> tuple[float, float]:
    """Return ``(nu, rho)`` of ``model`` against ``reference`` (see the module docstring).

    Parameters
    ----------
    reference : BinaryClassifier
        The fitted beta = 0 model ``w(0)``.
    model : BinaryClassifier
        A fitted model ``w(beta)`` of the same kind (same kernel).

    Returns
    -------
    nu : float
        ``1/2 (1 - cos(w(0), w(beta)))`` in ``[0, 1]``; NaN when either weight vector is zero
        (the angle is undefined).
    rho : float
        ``||w(beta)||`` (non-negative).
    """
    norm_ref = np.sqrt(reference.weight_norm_sq())
    rho = float(np.sqrt(model.weight_norm_sq()))
    if norm_ref == 0 or rho == 0:
        return float("nan"), rho
    cosine = np.clip(reference.weight_inner(model) / (norm_ref * rho), -1.0, 1.0)
    return float(0.5 * (1.0 - cosine)), rho
