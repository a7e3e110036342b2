"""The binary-classifier contract shared by every model.

Every model minimises the C-form objective with per-sample weights ``s_i``

    J(theta; s) = 1/2 ||w||^2 + C * sum_i s_i * loss(y_i, f(x_i; theta)),

where ``y_i`` in {-1, +1} is the signed label of the binary label in {0, 1} (class ``a`` of
a pair is 0 -> -1, class ``b`` is 1 -> +1), ``f`` is the decision function (positive scores
predict label 1) and the bias is not regularised. A poison weight ``beta`` is a sample weight.

Besides the scikit-learn estimator contract (``fit`` returns ``self``, learned state ends in
``_``) each model exposes what the analyses need: its own per-sample loss, the gradient of
``f`` with respect to the input, the objective value, the sensitivity of its decision function
to the sample weights (the implicit derivative behind influence functions) and the inner
product of its weight vectors (for the parameter deviation).

The contract every model keeps (a new model subclasses :class:`BinaryClassifier` and registers
its name with :func:`backdoor_curves.classifiers.registry.register_classifier`):

- ``__init__`` only stores hyperparameters; :meth:`BinaryClassifier.with_params` derives a new,
  unfitted model with some of them changed (a fitted model is never mutated into another one);
- ``fit(X, y, sample_weight=None, *, init=None, gram=None)`` returns ``self``; ``init`` is a
  fitted model of the same class whose optimum the solver starts from (a warm start; the
  optimum reached is the same, only cheaper), ``gram`` the precomputed ``kernel(X, X)``;
- ``exact_`` (bool) says whether the optimum was verified exact (a KKT point for the SVMs, a
  Newton / normal-equation solution for the primal models);
- ``kernel(A, B)`` is the model's kernel and ``decision_from_gram(K_eval)`` scores from a
  precomputed ``K_eval = kernel(X_eval, X_train)``; the class flag ``scores_from_gram`` says
  whether that is cheaper than :meth:`BinaryClassifier.decision_function` (evaluators read the
  flag instead of testing the model's type);
- factorisations a fit caches for :meth:`BinaryClassifier.weight_sensitivity` are keyed on
  the :class:`FitData` they came from and never reused for other data.
"""

from __future__ import annotations

import copy
import functools
import inspect
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from backdoor_curves.classifiers.losses import MarginLoss, get_loss, to_signed

__all__ = [
    "BinaryClassifier",
    "FitData",
    "WeightSensitivity",
    "check_beta_path",
    "check_fit_input",
    "is_immutable",
    "read_only",
]


@dataclass(frozen=True)
class WeightSensitivity:
    """Derivative of the decision function with respect to sample weights.

    Attributes
    ----------
    decision : ndarray of shape (n_eval, n_directions)
        ``d f(x_t) / d s_j`` at the fitted optimum, for evaluation point ``t`` and weighted
        training point ``j``. NaN when ``status != "ok"``.
    damping : float
        Diagonal damping added to the linear system (0.0 when none was needed).
    condition_number : float
        Condition number estimate of the factored system (NaN if none was factored).
    status : str
        ``"ok"`` or the reason why the derivative is undefined or one-sided.
    offset : float
        Right-limit jump ``f(0+) - f`` of the decision function (nonzero only when the
        fitted optimum is not unique and the weights select another one, e.g. an SVM bias
        in an interval); the derivative holds at ``f + offset``.
    residual : float
        Relative residual of the linear solve (NaN when not measured).
    """

    decision: np.ndarray
    damping: float
    condition_number: float
    status: str = "ok"
    offset: float = 0.0
    residual: float = float("nan")


def check_fit_input(
    X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate training data; return ``X`` (float64, 2-D), signed ``y`` and weights.

    Raises
    ------
    ValueError
        On wrong shapes, non-finite inputs, negative weights, or when the points with
        positive weight do not contain both classes.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    _check_finite_once(X)
    signed = to_signed(y)
    if signed.shape != (X.shape[0],):
        raise ValueError(f"y has shape {np.shape(y)}, expected ({X.shape[0]},)")
    if sample_weight is None:
        weight = np.ones(X.shape[0])
    else:
        weight = np.asarray(sample_weight, dtype=np.float64)
        if weight.shape != (X.shape[0],):
            raise ValueError(f"sample_weight has shape {weight.shape}, expected ({X.shape[0]},)")
        if not np.isfinite(weight).all() or (weight < 0).any():
            raise ValueError("sample_weight must be finite and >= 0")
    positive = signed[weight > 0]
    if not ((positive > 0).any() and (positive < 0).any()):
        raise ValueError("the points with positive sample weight must contain both classes")
    return X, signed, weight


def is_immutable(array: np.ndarray) -> bool:
    """Whether nothing can change the values of ``array`` in place.

    True when ``array`` and every array it is a view of are read-only and the memory at the
    bottom (if not an array's own) is a read-only buffer, such as a read-only memory map.
    """
    base: object = array
    while isinstance(base, np.ndarray):
        if base.flags.writeable:
            return False
        base = base.base
    if base is None:
        return True
    try:
        return memoryview(base).readonly  # type: ignore[arg-type]  # any buffer object
    except TypeError:
        return False


def read_only(array: np.ndarray) -> np.ndarray:
    """Return ``array`` made read-only if it owns its memory, else a read-only copy.

    Fits keep read-only inputs by reference instead of copying them (:class:`FitData`) and
    validate them once (:func:`check_fit_input`); the problem layer hands them out so.
    """
    if is_immutable(array):
        return array
    if array.base is not None:
        array = array.copy()
    array.setflags(write=False)
    return array


# Read-only inputs already checked to be finite, by id (entries leave with their arrays).
_FINITE_CHECKED: dict[int, weakref.ref] = {}


def _check_finite_once(X: np.ndarray) -> None:
    """Raise if ``X`` holds NaN or inf; an immutable array is checked only the first time."""
    entry = _FINITE_CHECKED.get(id(X))
    if entry is not None and entry() is X:
        return
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinite values")
    if is_immutable(X):
        key = id(X)
        _FINITE_CHECKED[key] = weakref.ref(X, functools.partial(_forget_checked, key))


def _forget_checked(key: int, _: weakref.ref) -> None:
    _FINITE_CHECKED.pop(key, None)


@dataclass(frozen=True, eq=False)
class FitData:
    """The data a fit saw: the key of the factorisations it caches.

    A cached factor is reused only when :meth:`matches` confirms the same values. Immutable
    arrays (:func:`is_immutable`, e.g. the problem layer's :func:`read_only` inputs) are kept
    by reference; others are copied, so changing the caller's arrays in place cannot fool it.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
    signed : ndarray of shape (n_samples,)
        Labels in {-1, +1}.
    upper : ndarray of shape (n_samples,)
        ``C s_i``: the regularisation and the sample weights in one array.
    """

    X: np.ndarray
    signed: np.ndarray
    upper: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray, signed: np.ndarray, upper: np.ndarray) -> FitData:
        """Keep immutable arrays, copy the others."""
        return cls(
            *(array if is_immutable(array) else np.array(array) for array in (X, signed, upper))
        )

    def matches(self, X: np.ndarray, signed: np.ndarray, upper: np.ndarray) -> bool:
        """Whether ``(X, signed, upper)`` has exactly the stored values."""
        return (
            np.array_equal(self.upper, upper)
            and np.array_equal(self.signed, signed)
            and (self.X is X or np.array_equal(self.X, X))
        )


def check_beta_path(X: np.ndarray, is_poison: np.ndarray, betas: Sequence[float]) -> np.ndarray:
    """Validate a beta path; return the poison mask as a bool array.

    Raises
    ------
    ValueError
        Empty grid, a beta outside [0, 1], or a mask of the wrong shape / with no poison.
    """
    is_poison = np.asarray(is_poison)
    if is_poison.dtype != bool or is_poison.shape != (np.shape(X)[0],):
        raise ValueError(
            f"is_poison must be a bool mask of shape ({np.shape(X)[0]},), "
            f"got {is_poison.dtype} {is_poison.shape}"
        )
    if not is_poison.any():
        raise ValueError("is_poison flags no training point; a beta path needs poisons")
    if len(betas) == 0:
        raise ValueError("the beta grid is empty")
    bad = [b for b in betas if not (np.isfinite(b) and 0.0 <= b <= 1.0)]
    if bad:
        raise ValueError(f"beta values must lie in [0, 1], got {bad}")
    return is_poison


class BinaryClassifier(ABC):
    """Base class of the binary models (see the module docstring for the objective).

    Parameters
    ----------
    C : float
        Inverse regularisation strength, ``C = 1 / lambda`` (> 0).
    """

    loss_name: ClassVar[str]
    #: Whether scoring from a precomputed ``kernel(X_eval, X_train)`` (``decision_from_gram``)
    #: is cheaper than ``decision_function`` (true for kernel expansions such as the RBF SVM).
    scores_from_gram: ClassVar[bool] = False

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    # --- parameters ------------------------------------------------------------------------
    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """Names of the hyperparameters (the keyword arguments of ``__init__``)."""
        signature = inspect.signature(cls.__init__)
        return tuple(
            name
            for name, parameter in signature.parameters.items()
            if name != "self"
            and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        )

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as ``{name: value}`` (what ``__init__`` stored)."""
        return {name: getattr(self, name) for name in self.parameter_names()}

    def with_params(self, **changes: Any) -> Self:
        """Return a new, unfitted model of the same class with some hyperparameters changed.

        Raises
        ------
        ValueError
            If a name in ``changes`` is not a hyperparameter of this model.
        """
        valid = self.parameter_names()
        unknown = sorted(set(changes) - set(valid))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no parameter {', '.join(unknown)}; "
                f"valid parameters: {', '.join(valid)}"
            )
        return type(self)(**(self.get_params() | changes))

    def _check_init(self, init: BinaryClassifier | None) -> Self | None:
        """Validate a warm start: ``None`` or a fitted model of this very class."""
        if init is None:
            return None
        if type(init) is not type(self):
            raise ValueError(
                f"init must be a fitted {type(self).__name__}, got {type(init).__name__}"
            )
        return init

    # --- hyperparameters -------------------------------------------------------------------
    def _validate_hyperparameters(self) -> None:
        if not (np.isfinite(self.C) and self.C > 0):
            raise ValueError(f"C must be a positive finite number, got {self.C!r}")

    @property
    def margin_loss(self) -> MarginLoss:
        """The model's own margin loss."""
        return get_loss(self.loss_name)

    # --- estimator contract ----------------------------------------------------------------
    @abstractmethod
    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        *,
        init: BinaryClassifier | None = None,
        gram: np.ndarray | None = None,
    ) -> Self:
        """Minimise the weighted objective on ``X`` (n, d) and binary labels ``y`` in {0, 1}.

        ``init`` is a fitted model of the same class to warm-start from (it may be ``self``;
        it is read before being overwritten); ``gram`` optionally passes the precomputed
        kernel matrix ``self.kernel(X, X)``.
        """

    @abstractmethod
    def kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Return the model's kernel ``k(A_i, B_j)`` (``A B^T`` for the linear models)."""

    @abstractmethod
    def decision_from_gram(self, K_eval: np.ndarray) -> np.ndarray:
        """Scores ``f`` of shape (n_eval,) from ``K_eval = self.kernel(X_eval, X_train)``.

        ``X_train`` is the training set of the last fit (all its rows, zero weights included).
        """

    def beta_path(
        self,
        X: np.ndarray,
        y: np.ndarray,
        is_poison: np.ndarray,
        betas: Sequence[float],
        *,
        gram: np.ndarray | None = None,
    ) -> Iterator[Self]:
        """Follow the optimum ``theta*(beta)`` along a grid of poison weights.

        The weights are ``s_i = 1`` for clean points and ``beta`` for poisons. Each fit starts
        from the previous optimum (the incremental learning of the paper); models with a
        closed-form path override this. The first fit starts cold. The model itself is refitted
        and yielded after each ``beta``: copy what you need before advancing the iterator.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Poisoned training set.
        y : ndarray of shape (n_samples,)
            Binary labels in {0, 1}.
        is_poison : ndarray of shape (n_samples,), bool
            Poison mask.
        betas : sequence of float
            Poison weights in [0, 1], visited in the given order (increasing is fastest).
        gram : ndarray of shape (n_samples, n_samples), optional
            Precomputed ``self.kernel(X, X)``.

        Yields
        ------
        BinaryClassifier
            ``self``, fitted at the current ``beta``.
        """
        is_poison = check_beta_path(X, is_poison, betas)
        previous: Self | None = None
        for beta in betas:
            self.fit(X, y, np.where(is_poison, beta, 1.0), init=previous, gram=gram)
            previous = copy.copy(self)
            yield self

    @abstractmethod
    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Scores ``f(x)`` of shape (n,); positive predicts label 1."""

    @abstractmethod
    def input_gradient(self, X: np.ndarray) -> np.ndarray:
        """``d f(x) / d x`` for each row of ``X``, shape (n, n_features)."""

    @abstractmethod
    def weight_norm_sq(self) -> float:
        """Squared norm ``||w||^2`` of the weight vector (bias excluded)."""

    @abstractmethod
    def weight_inner(self, other: Self) -> float:
        """Inner product ``<w_self, w_other>`` of two fitted models of the same kind."""

    @abstractmethod
    def weight_sensitivity(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        X_eval: np.ndarray,
        directions: np.ndarray,
    ) -> WeightSensitivity:
        """Return the derivative of ``f(X_eval)`` w.r.t. the weights ``s_j``, ``j in directions``.

        The model must have been fitted on ``(X, y, sample_weight)``; the derivative is the
        implicit one at that optimum (``directions`` are indices into ``X``).
        """

    # --- derived quantities ----------------------------------------------------------------
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted binary labels in {0, 1}, shape (n,), int64."""
        return (self.decision_function(X) > 0).astype(np.int64)

    def loss(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return the model's own per-sample loss on binary labels ``y`` in {0, 1}, shape (n,)."""
        return self.margin_loss.value(to_signed(y), self.decision_function(X))

    def objective(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> float:
        """``J = 1/2 ||w||^2 + C sum_i s_i loss_i`` at the fitted parameters."""
        X, _, weight = check_fit_input(X, y, sample_weight)
        return 0.5 * self.weight_norm_sq() + self.C * float(weight @ self.loss(X, y))
