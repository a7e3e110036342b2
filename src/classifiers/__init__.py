"""Binary models with the derivatives of their weighted C-form training objective.

``J(theta; s) = 1/2 ||w||^2 + C sum_i s_i loss(y_i, f(x_i))`` for the linear SVM and RBF SVM
(hinge, dual, exact KKT), logistic regression and ridge classification (primal, Newton /
normal equations), each also on precomputed kernel matrices. See
:mod:`backdoor_curves.classifiers.base` for the shared contract and
:mod:`backdoor_curves.classifiers.registry` for adding a model by name. The torch networks are
in :mod:`backdoor_curves.classifiers.nn`, which this package does not import.
"""

from backdoor_curves.classifiers.base import BinaryClassifier, WeightSensitivity
from backdoor_curves.classifiers.inputs import FitData
from backdoor_curves.classifiers.kernel_svm import KernelSVM
from backdoor_curves.classifiers.kernels import Kernel, LinearKernel, RBFKernel
from backdoor_curves.classifiers.logistic import LogisticClassifier
from backdoor_curves.classifiers.losses import Loss, MarginLoss, get_loss
from backdoor_curves.classifiers.primal import PrimalLinearModel
from backdoor_curves.classifiers.registry import (
    classifier_names,
    make_classifier,
    parse_classifier,
    register_classifier,
    uses_gamma,
)
from backdoor_curves.classifiers.ridge import RidgeClassifier
from backdoor_curves.classifiers.svm import RBFSVM, LinearSVM

__all__ = [
    "RBFSVM",
    "BinaryClassifier",
    "FitData",
    "Kernel",
    "KernelSVM",
    "LinearKernel",
    "LinearSVM",
    "LogisticClassifier",
    "Loss",
    "MarginLoss",
    "PrimalLinearModel",
    "RBFKernel",
    "RidgeClassifier",
    "WeightSensitivity",
    "classifier_names",
    "get_loss",
    "make_classifier",
    "parse_classifier",
    "register_classifier",
    "uses_gamma",
]
