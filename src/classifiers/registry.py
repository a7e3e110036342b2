"""Names of the binary models and how to build them."""

from __future__ import annotations

from enum import StrEnum

from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.linear import LogisticClassifier, RidgeClassifier
from backdoor_curves.classifiers.svm import RBFSVM, LinearSVM

__all__ = ["ClassifierName", "make_classifier", "parse_classifier"]


class ClassifierName(StrEnum):
    """The binary models of the paper (SPEC section 4)."""

    SVM = "svm"
    SVM_RBF = "svm-rbf"
    LOGISTIC = "logistic"
    RIDGE = "ridge"

    @property
    def uses_gamma(self) -> bool:
        """Whether the model has a kernel width ``gamma``."""
        return self is ClassifierName.SVM_RBF


def parse_classifier(name: str | ClassifierName) -> ClassifierName:
    """Return the classifier called ``name``; unknown names raise listing the valid ones."""
    try:
        return ClassifierName(name)
    except ValueError:
        valid = ", ".join(c.value for c in ClassifierName)
        raise ValueError(f"unknown classifier {name!r}; valid classifiers: {valid}") from None


def make_classifier(
    name: str | ClassifierName,
    C: float,
    gamma: float | None = None,
    *,
    warm_start: bool = False,
) -> BinaryClassifier:
    """Build an unfitted model.

    Parameters
    ----------
    name : str
        One of ``svm``, ``svm-rbf``, ``logistic``, ``ridge``.
    C : float
        Inverse regularisation strength (> 0).
    gamma : float, optional
        RBF kernel width; required for ``svm-rbf`` and rejected otherwise.
    warm_start : bool
        Refits start from the previous solution (ignored by ridge, which is solved exactly).
    """
    kind = parse_classifier(name)
    if kind.uses_gamma and gamma is None:
        raise ValueError("svm-rbf needs gamma")
    if not kind.uses_gamma and gamma is not None:
        raise ValueError(f"{kind.value} has no gamma (got gamma={gamma!r})")
    if kind is ClassifierName.SVM:
        return LinearSVM(C, warm_start=warm_start)
    if kind is ClassifierName.SVM_RBF:
        return RBFSVM(C, gamma=float(gamma), warm_start=warm_start)  # type: ignore[arg-type]  # checked above
    if kind is ClassifierName.LOGISTIC:
        return LogisticClassifier(C, warm_start=warm_start)
    return RidgeClassifier(C)
