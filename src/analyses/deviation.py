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

Both are functions of three inner products, ``<w(0), w(0)>``, ``<w(0), w(beta)>`` and
``<w(beta), w(beta)>`` (:func:`deviation_from_products`): :func:`parameter_deviation` takes
them from two fitted models, :func:`path_deviation` from the optima of an exact SVM path at
many betas at once
(:class:`~backdoor_curves.classifiers.exact_path.PathOptima`, quadratic forms of their dual
coefficients with the training kernel).

See ``docs/method.md``, section "Parameter deviation".
"""

from __future__ import annotations

import numpy as np

from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.exact_path import PathOptima

__all__ = ["deviation_from_products", "parameter_deviation", "path_deviation"]


def deviation_from_products(
    reference_norm_sq: float, inner: np.ndarray, norm_sq: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(nu, rho)`` from the inner products of the weights (module docstring).

    Parameters
    ----------
    reference_norm_sq : float
        ``||w(0)||^2``.
    inner : ndarray of shape (m,)
        ``<w(0), w(beta_r)>``.
    norm_sq : ndarray of shape (m,)
        ``||w(beta_r)||^2``.

    Returns
    -------
    nu : ndarray of shape (m,)
        ``1/2 (1 - cos(w(0), w(beta_r)))`` in ``[0, 1]``, the cosine clipped to ``[-1, 1]``;
        NaN where either weight vector is zero (the angle is undefined).
    rho : ndarray of shape (m,)
        ``||w(beta_r)||`` (non-negative).
    """
    norm_ref = np.sqrt(reference_norm_sq)
    rho = np.sqrt(np.asarray(norm_sq, dtype=np.float64))
    undefined = (norm_ref == 0) | (rho == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.clip(np.asarray(inner) / (norm_ref * rho), -1.0, 1.0)
    return np.where(undefined, np.nan, 0.5 * (1.0 - cosine)), rho


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
    nu, rho = deviation_from_products(
        reference.weight_norm_sq(),
        np.array([reference.weight_inner(model)]),
        np.array([model.weight_norm_sq()]),
    )
    return float(nu[0]), float(rho[0])


def path_deviation(optima: PathOptima) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(nu, rho)`` of the optima of an exact SVM path against its start, shape (m,).

    ``w(0)`` is the path's start model (fitted at ``beta = 0``); see
    :func:`deviation_from_products` for the values.
    """
    return deviation_from_products(
        float(optima.start.weight_norm_sq()), optima.start_inner(), optima.weight_norm_sq()
    )
