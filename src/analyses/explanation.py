r"""One fitted model explained on triggered images, and the measures of its explanation.

:func:`explain` takes a model fitted on a poisoned problem (:class:`ExplainedProblem`: the
features the model sees, next to the images they come from) and returns its
:class:`Explanation` of ``n_images`` triggered test images: the input gradients
``g(x_t) = d f(x_t) / d x`` (through the problem's
:class:`~backdoor_curves.attacks.explanations.FeatureMap`), the exact influence
``I_tj = d (y_t f(x_t)) / d s_j`` of every training point (one solve per image,
:func:`~backdoor_curves.attacks.explanations.training_influence`) and its top-k by ``|I_tj|``.

:func:`measure_explanation` summarises it over the images (:class:`ExplanationMeasures`):

- the **trigger share** ``sum_{p in M} |g_p| / sum_p |g_p|`` per image (mean and median), to
  compare with the **area share** ``|M| / n_pixels`` an attribution blind to the trigger gets;
- the **poison share** among the top-k (mean and median), over the images whose top-k is
  *ranked*: its k-th influence is non-zero (a top-k padded with zero influences, e.g. an SVM
  whose training points all lie outside the margin, says nothing about the poisons);
- the **positive share**: the fraction of ranked top-k points with ``I_tj > 0`` (pushing the
  image towards the target label).

The equations of the gradients and influences are in :mod:`backdoor_curves.attacks.explanations`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backdoor_curves.attacks.explanations import (
    FeatureMap,
    poison_share,
    top_k_influential,
    training_influence,
    trigger_share,
)
from backdoor_curves.classifiers.base import BinaryClassifier

__all__ = [
    "NOT_RANKED",
    "ExplainedProblem",
    "Explanation",
    "ExplanationMeasures",
    "explain",
    "measure_explanation",
]

NOT_RANKED = "fewer than k training points with non-zero influence"
"""Status of an explanation whose influences are defined but rank no image's top-k."""


@dataclass(frozen=True)
class ExplainedProblem:
    """A poisoned problem with the images kept next to the features.

    Attributes
    ----------
    train_images : ndarray of shape (n_train, C, H, W)
        Poisoned training images.
    X_train : ndarray of shape (n_train, n_features)
        Their features; ``y_train`` (n_train,) labels in {0, 1}; ``is_poison`` the mask.
    X_test, y_test : ndarray
        Clean test features and labels.
    images : ndarray of shape (n_images, C, H, W)
        The first ``n_images`` triggered test images; ``X_images`` their features and
        ``y_images`` the target labels.
    X_backdoor, y_backdoor : ndarray
        The whole backdoor test set (features, target labels).
    mask : ndarray of shape (C, H, W), bool
        Pixels the trigger may change.
    """

    train_images: np.ndarray
    X_train: np.ndarray
    y_train: np.ndarray
    is_poison: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    images: np.ndarray
    X_images: np.ndarray
    y_images: np.ndarray
    X_backdoor: np.ndarray
    y_backdoor: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class Explanation:
    """Explanation of the ``n_images`` images by one fitted model.

    Attributes
    ----------
    gradient : ndarray of shape (n_images, C, H, W)
        Input gradients of the decision function.
    influence : ndarray of shape (n_images, n_train)
        ``I_tj = d (y_t f(x_t)) / d s_j``.
    top : ndarray of shape (n_images, k), int
        Training indices of the largest ``|I_tj|``, most influential first.
    n_solves, damping, condition_number, status
        As in :class:`~backdoor_curves.attacks.explanations.TrainingInfluence`.
    """

    gradient: np.ndarray
    influence: np.ndarray
    top: np.ndarray
    n_solves: int
    damping: float
    condition_number: float
    status: str


def explain(
    model: BinaryClassifier,
    problem: ExplainedProblem,
    weight: np.ndarray,
    k: int,
    feature_map: FeatureMap,
) -> Explanation:
    """Input gradients and top-k influential training points of a fitted model.

    Parameters
    ----------
    model : BinaryClassifier
        Fitted on ``(problem.X_train, problem.y_train, weight)``.
    problem : ExplainedProblem
        The problem and the images to explain.
    weight : ndarray of shape (n_train,)
        The sample weights ``s_i`` of the fit (0 for poisons at ``beta = 0``).
    k : int
        Size of the top-k, ``1 <= k <= n_train``.
    feature_map : FeatureMap
        How the images became ``problem.X_images`` (the input gradients go back through it).
    """
    influence = training_influence(
        model,
        problem.X_train,
        problem.y_train,
        weight,
        problem.X_images,
        problem.y_images,
    )
    top = top_k_influential(np.nan_to_num(influence.margin, nan=0.0), k)
    return Explanation(
        gradient=feature_map.input_gradient(model, problem.images),
        influence=influence.margin,
        top=top,
        n_solves=influence.n_solves,
        damping=influence.damping,
        condition_number=influence.condition_number,
        status=influence.status,
    )


@dataclass(frozen=True)
class ExplanationMeasures:
    """Measures of one explanation over its images (see the module docstring).

    Attributes
    ----------
    trigger_share, trigger_share_median : float
        Mean and median over the images of the share of ``|g|`` inside the trigger mask (NaN
        when every gradient is zero).
    area_share : float
        The mask's share of the image, ``|M| / n_pixels``.
    poison_share, poison_share_median : float
        Mean and median of the poisons' share of the top-k over the ranked images (NaN when
        none is ranked).
    n_images_ranked : int
        Images whose top-k is ranked (k-th influence non-zero, influence defined).
    positive_share : float
        Fraction of the ranked top-k points with ``I_tj > 0`` (NaN when none is ranked).
    solves_per_image : float
        Hessian / KKT right-hand sides solved per image (1 by design).
    damping, condition_number : float
        Of the factored system.
    status : str
        ``"ok"``, why the influence is undefined, or :data:`NOT_RANKED`.
    """

    trigger_share: float
    trigger_share_median: float
    area_share: float
    poison_share: float
    poison_share_median: float
    n_images_ranked: int
    positive_share: float
    solves_per_image: float
    damping: float
    condition_number: float
    status: str


def _nan_mean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else np.nan


def _nan_median(values: np.ndarray) -> float:
    return float(np.nanmedian(values)) if np.isfinite(values).any() else np.nan


def measure_explanation(explanation: Explanation, problem: ExplainedProblem) -> ExplanationMeasures:
    """Summarise an explanation of ``problem.images`` (see :class:`ExplanationMeasures`)."""
    shares = trigger_share(explanation.gradient, problem.mask)
    picked = np.take_along_axis(explanation.influence, explanation.top, axis=1)
    # A top-k padded with zero influences (ties) says nothing about the poisons.
    ranked = (np.abs(picked[:, -1]) > 0) & (explanation.status == "ok")
    status = explanation.status
    if status == "ok" and not ranked.any():
        status = NOT_RANKED
    poisons = poison_share(explanation.top[ranked], problem.is_poison)
    return ExplanationMeasures(
        trigger_share=_nan_mean(shares),
        trigger_share_median=_nan_median(shares),
        area_share=float(np.mean(problem.mask)),
        poison_share=_nan_mean(poisons),
        poison_share_median=_nan_median(poisons),
        n_images_ranked=int(ranked.sum()),
        positive_share=float(np.mean(picked[ranked] > 0)) if ranked.any() else np.nan,
        solves_per_image=explanation.n_solves / len(problem.images),
        damping=explanation.damping,
        condition_number=explanation.condition_number,
        status=status,
    )
