"""Validation of the user's arrays, in scikit-learn's conventions, for the binary analyses.

The user's labels are any two values (``classes``, sorted as ``np.unique`` sorts them); the
models here use 0 for ``classes[0]`` and 1 for ``classes[1]``, the class a positive decision
function predicts, as scikit-learn's ``classes_[1]``. Arrays are read, never written: a
float64 array is used as it is, anything else is converted into a new array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_X_y

__all__ = ["TrainingSet", "check_kernel_matrix", "evaluation_set", "training_set"]


@dataclass(frozen=True)
class TrainingSet:
    """A validated poisoned training set.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features), float64
        Features, or the symmetric training kernel matrix (n_samples, n_samples).
    y : ndarray of shape (n_samples,), int64
        Labels in {0, 1} (index into ``classes``).
    is_poison : ndarray of shape (n_samples,), bool
        Poison mask (at least one poison; the clean points hold both classes).
    classes : ndarray of shape (2,)
        The user's two labels, sorted.
    """

    X: np.ndarray
    y: np.ndarray
    is_poison: np.ndarray
    classes: np.ndarray

    def weights(self, beta: float) -> np.ndarray:
        """Sample weights ``s_i``: 1 on the clean points, ``beta`` on the poisons."""
        return np.where(self.is_poison, beta, 1.0)


def training_set(X: object, y: object, is_poison: object) -> TrainingSet:
    """Validate a poisoned binary training set.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features (finite, dense), or a kernel matrix (see :func:`check_kernel_matrix`).
    y : array-like of shape (n_samples,)
        Two distinct labels, any type ``np.unique`` sorts.
    is_poison : array-like of shape (n_samples,), bool
        True on the poisons.

    Raises
    ------
    ValueError
        Naming the argument: wrong shapes, non-finite values, not two classes, a mask that
        is not boolean or flags no poison, clean points of one class only.
    TypeError
        For sparse ``X`` (dense data is required).
    """
    features: np.ndarray
    targets: np.ndarray
    features, targets = check_X_y(X, y, dtype=np.float64)
    check_classification_targets(targets)
    classes = np.unique(targets)
    if classes.size != 2:
        raise ValueError(
            f"y has {classes.size} classes {classes.tolist()}; supported: a binary target "
            "(exactly 2 classes)"
        )
    mask = np.asarray(is_poison)
    if mask.dtype != np.bool_ or mask.shape != targets.shape:
        raise ValueError(
            f"is_poison must be a bool mask of shape {targets.shape}, got {mask.dtype} {mask.shape}"
        )
    if not mask.any():
        raise ValueError("is_poison flags no training point; the analyses need poisons")
    labels = (targets == classes[1]).astype(np.int64)
    if np.unique(labels[~mask]).size != 2:
        raise ValueError("the clean points (is_poison False) must hold both classes of y")
    return TrainingSet(features, labels, mask, classes)


def evaluation_set(
    X: object, y: object, training: TrainingSet, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validate an evaluation set (backdoor or clean test set) against a training set.

    Parameters
    ----------
    X : array-like of shape (n_eval, n_features)
        Features with as many columns as the training set (kernel rows against the training
        points for a precomputed kernel).
    y : array-like of shape (n_eval,)
        Labels among the training set's two classes.
    training : TrainingSet
    name : str
        The argument's name in messages (``"X_backdoor"``, ``"X_test"``).

    Returns
    -------
    X : ndarray of shape (n_eval, n_features), float64
    y : ndarray of shape (n_eval,), int64
        Labels in {0, 1}.
    """
    features: np.ndarray = check_array(X, dtype=np.float64, input_name=name)
    if features.shape[1] != training.X.shape[1]:
        raise ValueError(
            f"{name} has {features.shape[1]} columns, expected {training.X.shape[1]} as X"
        )
    labels_name = "y" + name[1:]
    targets = np.asarray(y)
    if targets.shape != (features.shape[0],):
        raise ValueError(
            f"{labels_name} has shape {targets.shape}, expected ({features.shape[0]},)"
        )
    unknown = np.setdiff1d(targets, training.classes)
    if unknown.size:
        raise ValueError(
            f"{labels_name} holds labels {unknown.tolist()} that are not classes of y "
            f"{training.classes.tolist()}"
        )
    return features, (targets == training.classes[1]).astype(np.int64)


def check_kernel_matrix(X: np.ndarray) -> None:
    """Raise a ValueError unless ``X`` is a square, symmetric kernel matrix.

    Symmetric to ``1e-12`` of its largest entry (rounding in a kernel computed by blocks).
    """
    if X.shape[0] != X.shape[1]:
        raise ValueError(
            f"X must be the (n_samples, n_samples) kernel matrix for kernel='precomputed', "
            f"got shape {X.shape}"
        )
    scale = max(float(np.abs(X).max()), 1.0)
    if not np.allclose(X, X.T, rtol=0.0, atol=1e-12 * scale):
        raise ValueError("X must be a symmetric kernel matrix for kernel='precomputed'")
