"""The user API: your own scikit-learn estimator and your own arrays.

The page for users is ``docs/api.md``; ``examples/digits_backdoor.py`` is a worked example.
Three lines give the exact backdoor learning slope of a scikit-learn estimator::

    from backdoor_curves.api import learning_slope
    report = learning_slope(SVC(C=10.0), X, y, is_poison, X_backdoor, y_backdoor)
    print(report.slope, report.theta, report.status, report.model)

- :mod:`~backdoor_curves.api.estimators`: which estimators are accepted and the objective
  each one is mapped onto (``SVC`` with a linear, RBF or precomputed kernel,
  ``LogisticRegression`` with the L2 penalty, ``RidgeClassifier``); everything else, and
  ``LinearSVC`` (its intercept is penalised), is one clear error.
- :mod:`~backdoor_curves.api.inputs`: validation of the arrays, in scikit-learn's way.
- :mod:`~backdoor_curves.api.learning`: :func:`learning_slope`, :func:`learning_curve`,
  :func:`parameter_deviation`, :func:`top_influential`.
- :mod:`~backdoor_curves.api.images`: :func:`poison` and :func:`backdoor_test_set` on image
  arrays of any shape and value range, with this package's triggers or your own.
- :mod:`~backdoor_curves.api.safe`: :func:`safe_hyperparameters`, the safe region of a
  hyper-parameter grid and the slope-only rule's choice, against a stand-in trigger.
"""

from backdoor_curves.api.estimators import SUPPORTED_ESTIMATORS, AnalysedModel, analysed_model
from backdoor_curves.api.images import (
    ImageTrigger,
    MaskTrigger,
    PoisonedData,
    backdoor_test_set,
    poison,
)
from backdoor_curves.api.learning import (
    CURVE_BETAS,
    CURVE_COLUMNS,
    LearningCurve,
    SlopeReport,
    learning_curve,
    learning_slope,
    parameter_deviation,
    top_influential,
)
from backdoor_curves.api.safe import STAND_IN_CAVEAT, SafeHyperparameters, safe_hyperparameters
from backdoor_curves.attacks.triggers import TriggerSpec

__all__ = [
    "CURVE_BETAS",
    "CURVE_COLUMNS",
    "STAND_IN_CAVEAT",
    "SUPPORTED_ESTIMATORS",
    "AnalysedModel",
    "ImageTrigger",
    "LearningCurve",
    "MaskTrigger",
    "PoisonedData",
    "SafeHyperparameters",
    "SlopeReport",
    "TriggerSpec",
    "analysed_model",
    "backdoor_test_set",
    "learning_curve",
    "learning_slope",
    "parameter_deviation",
    "poison",
    "safe_hyperparameters",
    "top_influential",
]
