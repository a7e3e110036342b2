r"""scikit-learn estimators mapped exactly onto the objective this package differentiates.

Every model of :mod:`backdoor_curves.classifiers` minimises, with sample weights ``s_i``,

.. math::

    J(\theta; s) = \tfrac12 \lVert w \rVert^2 + C \sum_i s_i \, \ell(y_i, f(x_i)),

with an unpenalised intercept and signed labels ``y_i`` in {-1, +1} (``classes_[1]`` is +1,
as in scikit-learn). An estimator is accepted when its own training objective, with
``sample_weight = s``, is ``J`` times a positive constant, so that both have the same
minimiser for every ``s``; the slope computed for it is then the slope of that very
estimator (``docs/api.md`` has the table and the agreement observed):

- ``SVC(kernel="linear")``: libsvm minimises ``J`` with the hinge loss: model ``svm``, same C.
- ``SVC(kernel="rbf")``: the same in the RKHS of ``exp(-gamma ||x - x'||^2)``: ``svm-rbf``,
  with ``gamma="scale"`` resolved as scikit-learn does on the training ``X`` given,
  ``1 / (n_features X.var())`` (1.0 when ``X.var() == 0``), and ``"auto"`` as
  ``1 / n_features``.
- ``SVC(kernel="precomputed")``: the same with the user's kernel matrix: model ``svm`` with
  ``precomputed=True`` (scikit-learn's convention: ``fit(K, y)`` with ``K = k(X, X)``, test
  points as their kernel rows ``k(X_test, X)``; the kernel must be positive semi-definite).
- ``LogisticRegression`` with the L2 penalty and a solver among lbfgs, newton-cg,
  newton-cholesky, sag, saga: ``C sum_i s_i log(1 + exp(-y_i f_i)) + 1/2 ||w||^2`` with the
  intercept unpenalised (lbfgs, newton-cg and newton-cholesky minimise it divided by
  ``C sum_i s_i``, sag and saga divided by ``C n``): model ``logistic``, same C.
- ``RidgeClassifier``: ``sum_i s_i (y_i - f_i)^2 + alpha ||w||^2`` on targets in {-1, +1},
  intercept unpenalised: ``J`` with the squared loss times ``2 alpha``, so model ``ridge``
  with ``C = 1 / (2 alpha)``.

Solver settings (``tol``, ``max_iter``, ``cache_size``, ``shrinking``, ``random_state``,
``verbose``, ``warm_start``, ``copy_X``, ``n_jobs``...) and settings that do not act on a
binary problem (``decision_function_shape``, ``break_ties``, ``probability``, ``degree`` and
``coef0`` of the kernels accepted) leave the minimiser unchanged: the analysed model is
re-solved to an exact optimum whatever they are. Everything else that changes the objective
is refused with one ``ValueError`` naming the parameter and what is supported:
``class_weight``, ``fit_intercept=False``, penalties other than L2, an unpenalised model
(``C=inf``, ``alpha=0``), ``solver="liblinear"`` (it penalises the intercept through
``intercept_scaling``), ``positive=True``, other kernels, and ``LinearSVC`` (it penalises the
intercept, or has none). An estimator of any other class, subclasses and pipelines included,
is a ``TypeError``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.linear_model import RidgeClassifier as SklearnRidgeClassifier
from sklearn.svm import SVC, LinearSVC
from sklearn.utils.validation import check_is_fitted

from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.registry import make_classifier

__all__ = [
    "SUPPORTED_ESTIMATORS",
    "AnalysedModel",
    "analysed_model",
    "check_fitted_estimator",
    "check_supported",
]

SUPPORTED_ESTIMATORS = (
    "SVC(kernel='linear' | 'rbf' | 'precomputed'), LogisticRegression (L2 penalty) and "
    "RidgeClassifier, from sklearn.svm and sklearn.linear_model"
)
"""The estimators :func:`analysed_model` accepts, as error messages name them."""

_LOSSES = {"svm": "hinge", "svm-rbf": "hinge", "logistic": "logistic", "ridge": "squared"}
_LOGISTIC_SOLVERS = ("lbfgs", "newton-cg", "newton-cholesky", "sag", "saga")


@dataclass(frozen=True)
class AnalysedModel:
    """The model an analysis solves for a scikit-learn estimator.

    Attributes
    ----------
    estimator : str
        The estimator as given (its ``repr``).
    model : str
        The model solved: ``"svm"``, ``"svm-rbf"``, ``"logistic"`` or ``"ridge"`` (the names of
        :mod:`backdoor_curves.classifiers.registry`).
    C : float
        ``C`` of the objective ``J = 1/2 ||w||^2 + C sum_i s_i loss_i``.
    gamma : float
        Kernel width of ``svm-rbf`` as resolved on the training set; NaN for the others.
    precomputed : bool
        Whether the inputs are kernel matrices (``SVC(kernel="precomputed")``): the training
        kernel ``k(X, X)`` and the kernel rows ``k(X_eval, X)`` of other points.
    """

    estimator: str
    model: str
    C: float
    gamma: float = float("nan")
    precomputed: bool = False

    @property
    def loss(self) -> str:
        """The model's loss: ``"hinge"``, ``"logistic"`` or ``"squared"``."""
        return _LOSSES[self.model]

    @property
    def objective(self) -> str:
        """The objective in words, with the parameters filled in."""
        width = f", gamma={self.gamma:.6g}" if np.isfinite(self.gamma) else ""
        kernel = " on the precomputed kernel" if self.precomputed else ""
        return (
            f"{self.model}{kernel}: J = 1/2 ||w||^2 + C sum_i s_i {self.loss}_i with "
            f"C={self.C:.6g}{width}, intercept unpenalised"
        )

    def __str__(self) -> str:
        return f"{self.estimator} analysed as {self.objective}, re-solved to an exact optimum"

    def make(self) -> BinaryClassifier:
        """Return a new, unfitted model of this objective."""
        gamma = self.gamma if np.isfinite(self.gamma) else None
        model = make_classifier(self.model, self.C, gamma)
        return model.with_params(precomputed=True) if self.precomputed else model


def analysed_model(estimator: object, X: np.ndarray) -> AnalysedModel:
    """Map a scikit-learn estimator onto the objective it minimises (module docstring).

    The estimator is only read (``get_params``), never fitted or changed.

    Parameters
    ----------
    estimator : SVC, LogisticRegression or RidgeClassifier
        Fitted or not; only its hyperparameters are used.
    X : ndarray of shape (n_samples, n_features)
        The training set, where ``gamma="scale"`` is resolved (for ``kernel="precomputed"``
        the training kernel matrix).

    Returns
    -------
    AnalysedModel

    Raises
    ------
    TypeError
        If ``estimator`` is not an instance of exactly one of the supported classes.
    ValueError
        If a parameter changes the objective (module docstring), naming it and what is
        supported.
    """
    check_supported(estimator)
    mapper = _MAPPERS[type(estimator)]
    return mapper(estimator, estimator.get_params(deep=False), X)  # type: ignore[attr-defined]  # a scikit-learn estimator, checked above


def check_supported(estimator: object) -> None:
    """Raise a TypeError unless ``estimator`` is an instance of exactly one supported class.

    ``LinearSVC`` passes here and is refused with its reason by :func:`analysed_model`.
    """
    if type(estimator) not in _MAPPERS:
        raise TypeError(
            f"estimator {type(estimator).__name__} is not supported; supported: "
            f"{SUPPORTED_ESTIMATORS} (not their subclasses or pipelines: transform X first)"
        )


def check_fitted_estimator(estimator: object, n_features: int, classes: np.ndarray) -> None:
    """Check that a fitted estimator was fitted for this problem; an unfitted one passes.

    Parameters
    ----------
    estimator : scikit-learn estimator
    n_features : int
        Number of columns of the training set (training points for a precomputed kernel).
    classes : ndarray of shape (2,)
        The two labels of the training set, sorted.

    Raises
    ------
    ValueError
        If the estimator is fitted on another number of features or other classes.
    """
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return
    fitted_features = getattr(estimator, "n_features_in_", n_features)
    if fitted_features != n_features:
        raise ValueError(
            f"the estimator was fitted on {fitted_features} features but X has {n_features}; "
            "pass the data it models, or an unfitted estimator"
        )
    fitted_classes = np.asarray(getattr(estimator, "classes_", classes))
    if fitted_classes.shape != classes.shape or not (fitted_classes == classes).all():
        raise ValueError(
            f"the estimator was fitted on classes {fitted_classes.tolist()} but y has "
            f"{classes.tolist()}; pass the data it models, or an unfitted estimator"
        )


# --- one mapper per estimator class ------------------------------------------------------------
def _svc_model(estimator: SVC, params: Mapping[str, Any], X: np.ndarray) -> AnalysedModel:
    name = repr(estimator)
    _check_no_class_weight(name, params)
    C = _positive_parameter(name, "C", params["C"])
    kernel = params["kernel"]
    if kernel == "linear":
        return AnalysedModel(name, "svm", C)
    if kernel == "precomputed":
        return AnalysedModel(name, "svm", C, precomputed=True)
    if kernel == "rbf":
        return AnalysedModel(name, "svm-rbf", C, _rbf_width(name, params["gamma"], X))
    raise ValueError(
        f"{name}: kernel={kernel!r} is not supported; supported: kernel='linear', 'rbf' or "
        "'precomputed' (precompute any other positive semi-definite kernel)"
    )


def _rbf_width(name: str, gamma: object, X: np.ndarray) -> float:
    """``gamma`` as scikit-learn resolves it on the training set ``X``."""
    if gamma == "scale":
        variance = float(X.var())
        return 1.0 / (X.shape[1] * variance) if variance != 0 else 1.0
    if gamma == "auto":
        return 1.0 / X.shape[1]
    return _positive_parameter(name, "gamma", gamma)


def _logistic_model(
    estimator: LogisticRegression, params: Mapping[str, Any], X: np.ndarray
) -> AnalysedModel:
    name = _checked_linear_model(estimator, params)
    penalty, l1_ratio = params.get("penalty", "l2"), params.get("l1_ratio")
    if penalty not in ("l2", "deprecated"):
        raise ValueError(
            f"{name}: penalty={penalty!r} is not supported; supported: the L2 penalty "
            "(penalty='l2' or l1_ratio=0)"
        )
    if l1_ratio not in (None, 0):
        raise ValueError(
            f"{name}: l1_ratio={l1_ratio!r} adds an L1 penalty, which is not supported; "
            "supported: l1_ratio=0 (the L2 penalty)"
        )
    solver = params["solver"]
    if solver == "liblinear":
        raise ValueError(
            f"{name}: solver='liblinear' penalises the intercept (intercept_scaling appends a "
            "constant feature whose weight enters the penalty), so its objective is not J; "
            f"supported: solver in {_LOGISTIC_SOLVERS}, which leave the intercept unpenalised"
        )
    if params.get("dual", False):
        raise ValueError(
            f"{name}: dual=True is liblinear's formulation, which penalises the intercept; "
            f"supported: dual=False with solver in {_LOGISTIC_SOLVERS}"
        )
    if solver not in _LOGISTIC_SOLVERS:
        raise ValueError(
            f"{name}: solver={solver!r} is not supported; supported: {_LOGISTIC_SOLVERS}"
        )
    return AnalysedModel(name, "logistic", _positive_parameter(name, "C", params["C"]))


def _ridge_model(
    estimator: SklearnRidgeClassifier, params: Mapping[str, Any], X: np.ndarray
) -> AnalysedModel:
    name = _checked_linear_model(estimator, params)
    if params.get("positive", False):
        raise ValueError(
            f"{name}: positive=True constrains the weights, which J does not; supported: "
            "positive=False"
        )
    alpha = _positive_parameter(name, "alpha", params["alpha"])
    return AnalysedModel(name, "ridge", 1.0 / (2.0 * alpha))


def _linear_svc_model(
    estimator: LinearSVC, params: Mapping[str, Any], X: np.ndarray
) -> AnalysedModel:
    loss = "" if params["loss"] == "hinge" else f", and loss={params['loss']!r} is not the hinge"
    raise ValueError(
        f"{estimator!r}: LinearSVC cannot be matched exactly: liblinear penalises its "
        "intercept (fit_intercept=True: intercept_scaling appends a constant feature whose "
        "weight enters the penalty) or fits none (fit_intercept=False), while the analysed "
        f"objective has an unpenalised intercept{loss}; supported instead: "
        "SVC(kernel='linear', C=...), which minimises 1/2 ||w||^2 + C sum_i s_i hinge_i with "
        "an unpenalised intercept"
    )


_MAPPERS: dict[type, Callable[[Any, Mapping[str, Any], np.ndarray], AnalysedModel]] = {
    SVC: _svc_model,
    LogisticRegression: _logistic_model,
    SklearnRidgeClassifier: _ridge_model,
    LinearSVC: _linear_svc_model,
}


# --- shared checks -----------------------------------------------------------------------------
def _positive_parameter(name: str, parameter: str, value: object) -> float:
    """``value`` as a positive finite float, or a ValueError naming ``parameter``."""
    if (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and np.isfinite(float(value))
        and float(value) > 0
    ):
        return float(value)
    raise ValueError(
        f"{name}: {parameter}={value!r} is not supported; supported: a positive finite number"
    )


def _check_no_class_weight(name: str, params: Mapping[str, Any]) -> None:
    if params.get("class_weight") is not None:
        raise ValueError(
            f"{name}: class_weight={params['class_weight']!r} is not supported (it rescales "
            "the poison weights per class); supported: class_weight=None"
        )


def _checked_linear_model(estimator: object, params: Mapping[str, Any]) -> str:
    """Return the ``repr`` of a linear model after checking its class weights and intercept."""
    name = repr(estimator)
    _check_no_class_weight(name, params)
    if not params.get("fit_intercept", True):
        raise ValueError(
            f"{name}: fit_intercept=False is not supported (the analysed objective has an "
            "unpenalised intercept); supported: fit_intercept=True"
        )
    return name
