r"""Explaining a backdoored prediction, measured (``docs/method.md``, "Explanations").

Two explanations of a fitted binary model ``f`` at a triggered test image ``x_t`` with the
attacker's target label ``y_t`` (signed, in {-1, +1}):

**Input gradient.** ``g(x_t) = d f(x_t) / d x``. On pixels it is the model's own
:meth:`~backdoor_curves.classifiers.base.BinaryClassifier.input_gradient` (the weight image
``w`` for linear models; ``-2 gamma sum_i alpha_i y_i k(x_i, x)(x - x_i)`` for the RBF SVM).
On deep features ``phi(x)`` it is ``d f(phi(x)) / d x``, obtained with autograd through any
``torch.nn.Module`` extractor (:mod:`backdoor_curves.classifiers.nn.input_gradients`, the only
part of the explanations that needs torch; this module never imports it). The **trigger share**

    share(g) = sum_{p in M} |g_p| / sum_p |g_p|

is the part of the attribution mass inside the trigger mask ``M``; an attribution blind to
the trigger would get the mask's share of the image area, ``|M| / n_pixels``.

**Training-point influence.** The exact derivative of the target margin ``y_t f(x_t)`` at the
fitted optimum with respect to the weight ``s_j`` of every training point ``j`` (the weight
of the C-form objective ``1/2 ||w||^2 + C sum_i s_i loss_i``):

    I_tj = d (y_t f(x_t)) / d s_j .

Positive ``I_tj`` means that up-weighting ``j`` pushes ``x_t`` towards the target label. The
influence on the test loss is ``loss'(y_t f_t) I_tj / y_t`` with ``loss'`` the derivative in
``f``; it ranks the points the same way wherever ``loss' != 0`` but vanishes for the hinge loss
beyond the margin, so the ranking uses the margin. The **top-k** points are the ``k`` largest
``|I_tj|`` and the **poison share** is the fraction of poisons among them (to compare with
the poison fraction of the training set).

Adjoint form: one linear solve per test image, never one per training point.

- Smooth primal models (logistic, ridge; ``x1 = [x, 1]``, ``H`` the objective's Hessian):
  ``d theta / d s_j = -H^{-1} C loss'(f_j) x1_j``, so with ``v_t = H^{-1} x1_t`` (one solve)
  ``I_tj = -y_t C loss'(y_j, f_j) x1_j^T v_t`` for every ``j`` at once.
- SVMs (KKT system ``B = [[Q_SS, y_S], [y_S^T, 0]]`` over the margin support vectors ``S``,
  see :mod:`backdoor_curves.classifiers.svm`): only points that are (or enter as) error
  vectors move the solution, with ``d alpha_j / d s_j = C``; then
  ``d f_t / d s_j = C y_j (k(x_t, x_j) - u_t^T [y_S k(x_S, x_j); 1])`` with
  ``u_t = B^{-1} [y_S k(x_S, x_t); 1]`` (one solve, ``B`` symmetric). Points that do not
  move the solution have ``I_tj = 0``.

The forward form (``weight_sensitivity`` of each model, one solve per training point) is the
oracle of the adjoint one in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.dual import margin_hessian
from backdoor_curves.classifiers.losses import to_signed
from backdoor_curves.classifiers.primal import PrimalLinearModel
from backdoor_curves.classifiers.svm import KernelSVM, dual_margins, dual_sets, kkt_factor

__all__ = [
    "FeatureMap",
    "PixelFeatures",
    "TrainingInfluence",
    "poison_share",
    "top_k_influential",
    "training_influence",
    "trigger_share",
]


@dataclass(frozen=True)
class TrainingInfluence:
    """Influence of every training point on the target margin of some test points.

    Attributes
    ----------
    margin : ndarray of shape (n_eval, n_train)
        ``I_tj = d (y_t f(x_t)) / d s_j`` (see the module docstring); NaN when undefined.
    n_solves : int
        Right-hand sides solved with the Hessian / KKT factor: one per test point.
    damping : float
        Damping of the factored system (0.0 when none was needed).
    condition_number : float
        Condition number estimate of the factored system (NaN when none was factored).
    status : str
        ``"ok"`` or why the influence is undefined.
    """

    margin: np.ndarray
    n_solves: int
    damping: float
    condition_number: float
    status: str = "ok"


def trigger_share(gradient: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Share of the attribution mass ``|g|`` inside the trigger mask, per image.

    Parameters
    ----------
    gradient : ndarray of shape (n_images, n_pixels) or (n_images, C, H, W)
        Input gradients.
    mask : ndarray of bool, n_pixels values in total
        Trigger mask (``(C, H, W)`` or flat).

    Returns
    -------
    ndarray of shape (n_images,)
        ``sum_{p in M} |g_p| / sum_p |g_p|`` in [0, 1]; NaN for an all-zero gradient.
    """
    magnitude = np.abs(np.asarray(gradient, dtype=np.float64)).reshape(len(gradient), -1)
    flat_mask = np.asarray(mask, dtype=bool).ravel()
    if flat_mask.size != magnitude.shape[1]:
        raise ValueError(
            f"mask has {flat_mask.size} pixels but the gradients have {magnitude.shape[1]}"
        )
    total = magnitude.sum(axis=1)
    inside = magnitude[:, flat_mask].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)


def top_k_influential(influence: np.ndarray, k: int) -> np.ndarray:
    """Return the indices of the ``k`` training points of largest ``|I_tj|`` per test point.

    Parameters
    ----------
    influence : ndarray of shape (n_eval, n_train)
        Influences ``I_tj``.
    k : int
        Number of points, ``1 <= k <= n_train``.

    Returns
    -------
    ndarray of shape (n_eval, k), int
        Most influential first; ties broken by the lower index (deterministic).
    """
    n_train = np.shape(influence)[1]
    if not (isinstance(k, int | np.integer) and 1 <= k <= n_train):
        raise ValueError(f"k must be an integer in [1, {n_train}] (the training set), got {k!r}")
    order = np.argsort(-np.abs(influence), axis=1, kind="stable")
    return order[:, :k]


def poison_share(top: np.ndarray, is_poison: np.ndarray) -> np.ndarray:
    """Fraction of poisons among each row of top-k indices, shape (n_eval,)."""
    return np.asarray(is_poison, dtype=bool)[top].mean(axis=1)


def training_influence(
    model: BinaryClassifier,
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    X_eval: np.ndarray,
    y_eval: np.ndarray,
) -> TrainingInfluence:
    """Influence of every training point on the target margins, in adjoint form.

    Parameters
    ----------
    model : BinaryClassifier
        Fitted on ``(X, y, sample_weight)``: a linear or RBF SVM, logistic or ridge model.
    X : ndarray of shape (n_train, n_features)
        Training inputs.
    y : ndarray of shape (n_train,)
        Training labels in {0, 1}.
    sample_weight : ndarray of shape (n_train,) or None
        The weights ``s_i`` of the fit (e.g. 0 for poisons at ``beta = 0``).
    X_eval : ndarray of shape (n_eval, n_features)
        Test points (triggered images).
    y_eval : ndarray of shape (n_eval,)
        Their labels in {0, 1} (the target labels).

    Returns
    -------
    TrainingInfluence
        ``margin[t, j] = d (y_t f(x_t)) / d s_j`` for every training point ``j``, from one
        solve per test point (see the module docstring).
    """
    X = np.asarray(X, dtype=np.float64)
    X_eval = np.asarray(X_eval, dtype=np.float64)
    signed_eval = to_signed(y_eval)
    if isinstance(model, KernelSVM):
        result = _svm_decision_influence(model, X, y, X_eval)
    elif isinstance(model, PrimalLinearModel):
        result = _primal_decision_influence(model, X, y, sample_weight, X_eval)
    else:
        raise ValueError(
            f"no influence for {type(model).__name__}; supported: LinearSVM, RBFSVM, "
            "LogisticClassifier, RidgeClassifier"
        )
    return TrainingInfluence(
        margin=signed_eval[:, None] * result.margin,
        n_solves=result.n_solves,
        damping=result.damping,
        condition_number=result.condition_number,
        status=result.status,
    )


def _with_bias(X: np.ndarray) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))])


def _primal_decision_influence(
    model: PrimalLinearModel,
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    X_eval: np.ndarray,
) -> TrainingInfluence:
    """``d f_t / d s_j = -C loss'(y_j, f_j) x1_j^T H^{-1} x1_t`` for all ``t``, ``j``."""
    solver = model.hessian_solver(X, y, sample_weight)
    adjoint = solver.solve(_with_bias(X_eval).T)  # (d + 1, n_eval): v_t = H^{-1} x1_t
    slope = model.margin_loss.first_derivative(to_signed(y), model.decision_function(X))
    decision = -(model.C * slope)[None, :] * (_with_bias(X) @ adjoint).T
    return TrainingInfluence(decision, X_eval.shape[0], solver.damping, solver.condition_number)


def _svm_decision_influence(
    model: KernelSVM,
    X: np.ndarray,
    y: np.ndarray,
    X_eval: np.ndarray,
) -> TrainingInfluence:
    """``d f_t / d s_j = C y_j (k_tj - u_t^T [y_S K_Sj; 1])`` for entering ``j``, else 0.

    A ``precomputed`` model's ``X`` and ``X_eval`` are the kernel matrices themselves.
    """
    signed = to_signed(y)
    K = X if model.precomputed else model.kernel(X, X)
    decision = np.zeros((X_eval.shape[0], X.shape[0]))
    margin_set, error = dual_sets(model.alpha_, model.upper_)
    free = np.flatnonzero(margin_set)
    if free.size == 0:
        decision[:] = np.nan
        return TrainingInfluence(decision, 0, 0.0, np.nan, "no margin support vectors")
    m = dual_margins(K, signed, model.alpha_, model.intercept_)
    entering = np.flatnonzero(error | ((model.upper_ == 0) & (m < 0)))
    kkt = kkt_factor(margin_hessian(K, signed, free), signed[free])
    K_eval = X_eval if model.precomputed else model.kernel(X_eval, X)  # (n_eval, n_train)
    u_s, u_b = kkt.solve(signed[free, None] * K_eval[:, free].T, np.ones(X_eval.shape[0]))
    through_kkt = u_s.T @ (signed[free, None] * K[np.ix_(free, entering)]) + np.reshape(
        u_b, (-1, 1)
    )
    decision[:, entering] = model.C * signed[entering] * (K_eval[:, entering] - through_kkt)
    return TrainingInfluence(decision, X_eval.shape[0], kkt.damping, kkt.condition_number)


# --- what the models see: pixels or deep features ------------------------------------------
class FeatureMap(Protocol):
    """How images become model inputs, and how a model's decision is differentiated back.

    Implementations: :class:`PixelFeatures` (flattened pixels) and
    :class:`~backdoor_curves.classifiers.nn.input_gradients.TorchFeatures` (any
    ``torch.nn.Module`` extractor, e.g. AlexNet fc7).

    Attributes
    ----------
    name : str
        What the models see, for the result tables: ``"pixels"``, or the extractor with its
        weights (e.g. ``"alexnet-fc7 sha256:1a2b3c4d5e6f"``), so that tables of other
        features never pass for each other.
    """

    name: str

    def features(self, images: np.ndarray) -> np.ndarray:
        """Model inputs of shape (n, n_features), float64, for images (n, C, H, W) in [0, 1]."""
        ...

    def input_gradient(self, model: BinaryClassifier, images: np.ndarray) -> np.ndarray:
        """``d f(features(x)) / d x`` of a fitted model, shape (n, C, H, W), float64."""
        ...


class PixelFeatures:
    """The identity feature map: the models see the flattened pixels."""

    name = "pixels"

    def features(self, images: np.ndarray) -> np.ndarray:
        """Flatten (n, C, H, W) images to (n, C*H*W) float64."""
        return np.asarray(images, dtype=np.float64).reshape(len(images), -1)

    def input_gradient(self, model: BinaryClassifier, images: np.ndarray) -> np.ndarray:
        """Return the model's own input gradient, reshaped to the images' shape."""
        return model.input_gradient(self.features(images)).reshape(np.shape(images))
