"""Accuracy metrics of the backdoor threat model.

Inside:

- :func:`accuracy`: fraction of equal labels.
- :func:`clean_accuracy` (CA): accuracy of a model on the clean test set.
- :func:`backdoor_accuracy` (BA): accuracy of a model on the backdoor test set with respect to
  the *target* labels, i.e. the attack success rate.

The model functions accept any object with ``predict(X)`` taking a 2-D ``(n_samples,
n_features)`` array (scikit-learn estimators, our classifiers). Flatten images first with
``X.reshape(len(X), -1)``. Accuracy on the poisoned training set is :func:`clean_accuracy`
called with the poisoned training arrays.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["Predictor", "accuracy", "backdoor_accuracy", "clean_accuracy"]


class Predictor(Protocol):
    """Anything with ``predict(X) -> labels`` on a 2-D feature array."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels of shape ``(n_samples,)`` for ``X`` of shape ``(n_samples, n_features)``."""
        ...


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of samples whose predicted label equals the true label.

    Parameters
    ----------
    y_true : numpy.ndarray of shape (n_samples,)
        Reference labels.
    y_pred : numpy.ndarray of shape (n_samples,)
        Predicted labels.

    Returns
    -------
    float
        ``mean(y_true == y_pred)``, in ``[0, 1]``.

    Raises
    ------
    ValueError
        If either array is not 1-D, their lengths differ, or they are empty.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array of labels; got shape {labels.shape}")
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true and y_pred must have the same length; got {len(y_true)} and {len(y_pred)}"
        )
    if len(y_true) == 0:
        raise ValueError("accuracy of an empty set is undefined; got 0 labels")
    return float(np.mean(y_true == y_pred))


def _model_accuracy(model: Predictor, X: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of ``model.predict(X)`` against ``y``, with ``X`` checked to be 2-D."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features); got shape {X.shape} "
            "(flatten images with X.reshape(len(X), -1))"
        )
    if len(X) != len(y):
        raise ValueError(f"got {len(X)} samples but {len(y)} labels; they must match")
    return accuracy(y, model.predict(X))


def clean_accuracy(model: Predictor, X: np.ndarray, y: np.ndarray) -> float:
    """Clean accuracy (CA): accuracy of ``model`` on clean data.

    Parameters
    ----------
    model : Predictor
        Fitted model with ``predict``.
    X : numpy.ndarray of shape (n_samples, n_features)
        Clean test inputs (flattened images or features).
    y : numpy.ndarray of shape (n_samples,)
        Their true labels.

    Returns
    -------
    float
        CA in ``[0, 1]``.
    """
    return _model_accuracy(model, X, y)


def backdoor_accuracy(model: Predictor, X_backdoor: np.ndarray, y_target: np.ndarray) -> float:
    """Backdoor accuracy (BA), the attack success rate.

    The fraction of backdoor test points (eligible test points carrying their source-class
    trigger, see :func:`backdoor_curves.attacks.poisoning.backdoor_test_set`) that ``model``
    classifies as their *target* label.

    Parameters
    ----------
    model : Predictor
        Fitted model with ``predict``.
    X_backdoor : numpy.ndarray of shape (n_samples, n_features)
        Triggered test inputs (flattened images or features).
    y_target : numpy.ndarray of shape (n_samples,)
        Target labels of the backdoor (not the true labels).

    Returns
    -------
    float
        BA in ``[0, 1]``.
    """
    return _model_accuracy(model, X_backdoor, y_target)
