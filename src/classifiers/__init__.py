"""Binary models with the derivatives of their weighted C-form training objective.

``J(theta; s) = 1/2 ||w||^2 + C sum_i s_i loss(y_i, f(x_i))`` for the linear SVM and RBF SVM
(hinge, dual, exact KKT), logistic regression and ridge classification (primal, Newton /
normal equations). See :mod:`backdoor_curves.classifiers.base` for the shared contract.
"""

from backdoor_curves.classifiers.base import BinaryClassifier, WeightSensitivity
from backdoor_curves.classifiers.linear import LogisticClassifier, RidgeClassifier
from backdoor_curves.classifiers.losses import Loss, MarginLoss, get_loss
from backdoor_curves.classifiers.registry import ClassifierName, make_classifier, parse_classifier
from backdoor_curves.classifiers.svm import RBFSVM, KernelSVM, LinearSVM

__all__ = [
    "RBFSVM",
    "BinaryClassifier",
    "ClassifierName",
    "KernelSVM",
    "LinearSVM",
    "LogisticClassifier",
    "Loss",
    "MarginLoss",
    "RidgeClassifier",
    "WeightSensitivity",
    "get_loss",
    "make_classifier",
    "parse_classifier",
]
