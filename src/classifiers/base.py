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
- ``fit(X, y, sample_weight=None)`` returns ``self``; a fit holds nothing between calls but
  its fitted attributes;
- ``precomputed=True`` is scikit-learn's ``kernel="precomputed"``: every input argument is
  then a kernel matrix between its rows and the training points instead of the rows
  themselves (``fit(K, y)`` with ``K = kernel(X_train, X_train)``,
  ``decision_function(kernel(X_eval, X_train))``, ...), computed by the caller with the
  model's own :attr:`~BinaryClassifier.kernel_function`, so that callers that fit many
  models on one training set compute each kernel matrix once. Such a model has no input
  space: no ``coef_`` and no :meth:`~BinaryClassifier.input_gradient`;
- warm starts are paths: :meth:`BinaryClassifier.C_path` (increasing ``C``) and
  :meth:`BinaryClassifier.beta_path` (increasing poison weight) fit one point after the
  other, each from the previous optimum (the optimum reached is the same, only cheaper);
- ``exact_`` (bool) says whether the optimum was verified exact (a KKT point for the SVMs, a
  Newton / normal-equation solution for the primal models);
- ``kernel_function`` is the model's kernel as a hashable value
  (:mod:`backdoor_curves.classifiers.kernels`) and ``kernel(A, B)`` its matrix;
- factorisations a fit keeps for :meth:`BinaryClassifier.weight_sensitivity` are keyed on
  the :class:`FitData` they came from and never reused for other data.
"""

from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from backdoor_curves.classifiers.inputs import (
    FitData,
    check_beta_path,
    check_C_path,
    check_fit_input,
)
from backdoor_curves.classifiers.kernels import Kernel
from backdoor_curves.classifiers.losses import MarginLoss, get_loss, to_signed

__all__ = ["BinaryClassifier", "WeightSensitivity"]


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


def _init_parameter_names(cls: type) -> tuple[str, ...]:
    """Return the keyword arguments of ``cls.__init__`` (no self, ``*args``, ``**kwargs``)."""
    signature = inspect.signature(cls.__init__)  # type: ignore[misc]  # the class's own __init__
    return tuple(
        name
        for name, parameter in signature.parameters.items()
        if name != "self"
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    )


class BinaryClassifier(ABC):
    """Base class of the binary models (see the module docstring for the objective).

    Parameters
    ----------
    C : float
        Inverse regularisation strength, ``C = 1 / lambda`` (> 0).
    precomputed : bool
        Whether the input arguments are kernel matrices against the training points
        (scikit-learn's ``kernel="precomputed"``, see the module docstring).
    """

    loss_name: ClassVar[str]
    _parameter_names: ClassVar[tuple[str, ...]]
    _fit_data: FitData

    def __init__(self, C: float = 1.0, *, precomputed: bool = False) -> None:
        self.C = C
        self.precomputed = precomputed

    # --- parameters ------------------------------------------------------------------------
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._parameter_names = _init_parameter_names(cls)

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """Names of the hyperparameters (the keyword arguments of ``__init__``).

        Read from the signature of ``__init__`` once, when the class is defined.
        """
        return cls._parameter_names

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

    # --- hyperparameters -------------------------------------------------------------------
    def _validate_hyperparameters(self) -> None:
        if not (np.isfinite(self.C) and self.C > 0):
            raise ValueError(f"C must be a positive finite number, got {self.C!r}")

    @property
    def margin_loss(self) -> MarginLoss:
        """The model's own margin loss."""
        return get_loss(self.loss_name)

    # --- kernels and inputs ----------------------------------------------------------------
    @property
    @abstractmethod
    def kernel_function(self) -> Kernel:
        """The model's kernel, a hashable value (equal values compute equal matrices)."""

    def kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Kernel matrix ``k(A_i, B_j)`` of input rows, shape (len(A), len(B)).

        Always on inputs, also for a ``precomputed`` model: this is how its kernel
        matrices are made.
        """
        A, B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
        return self.kernel_function(A, B)

    def _training_kernel(self, X: np.ndarray) -> np.ndarray:
        """``k(X, X)`` of validated training inputs: ``X`` itself when ``precomputed``."""
        if not self.precomputed:
            return self.kernel(X, X)
        if X.shape != (X.shape[0], X.shape[0]):
            raise ValueError(
                f"a precomputed model is fitted on the square kernel matrix of its training "
                f"points, got shape {X.shape}"
            )
        return X

    def _eval_inputs(self, X: np.ndarray, n_train: int) -> np.ndarray:
        """Return validated evaluation rows: inputs, or kernel rows against ``n_train`` points."""
        X = np.asarray(X, dtype=np.float64)
        if self.precomputed and (X.ndim != 2 or X.shape[1] != n_train):
            raise ValueError(
                f"a precomputed model takes kernel rows against its {n_train} training points, "
                f"shape (n, {n_train}); got shape {X.shape}"
            )
        return X

    def _shared_training_kernel(self, other: BinaryClassifier) -> np.ndarray:
        """Return the training kernel matrix of two precomputed models fitted on it.

        Models fitted on one immutable matrix (a workspace's, or any
        :func:`~backdoor_curves.classifiers.inputs.read_only` array), and their copies, hold
        that very array: the check is then one identity test
        (:meth:`~backdoor_curves.classifiers.inputs.FitData.same_inputs`); values are
        compared only between two distinct arrays.

        Raises
        ------
        ValueError
            If ``other`` was fitted on another matrix (their coefficients would not align).
        """
        mine = self._fit_data.X
        if not other.precomputed or not self._fit_data.same_inputs(other._fit_data.X):
            raise ValueError(
                "the inner product of two precomputed models needs both fitted on the same "
                "training kernel matrix"
            )
        return mine

    def _no_input_space(self, what: str) -> ValueError:
        return ValueError(
            f"{what} needs the inputs; a model fitted on a precomputed kernel "
            f"({type(self).__name__}(precomputed=True)) has none"
        )

    # --- estimator contract ----------------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> Self:
        """Minimise the weighted objective on ``X`` (n, d) and binary labels ``y`` in {0, 1}.

        With ``precomputed=True``, ``X`` is the kernel matrix ``k(X_train, X_train)`` (n, n).
        """
        self._validate_hyperparameters()
        return self._fit(X, y, sample_weight, start=None, gram=None)

    @abstractmethod
    def _fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        *,
        start: Self | None,
        gram: np.ndarray | None,
    ) -> Self:
        """Fit from the optimum of ``start``, or cold when ``start`` is None.

        ``start`` is a fitted model of this class on the same points with other weights or
        another ``C``; ``gram`` is ``k(X, X)`` when a path has computed it already (None:
        the fit computes what it needs).
        """

    def _path_gram(self, X: np.ndarray) -> np.ndarray | None:
        """Return the kernel matrix the fits of a path share (None: they need none)."""
        return self._training_kernel(np.asarray(X, dtype=np.float64))

    def fit_from(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> Self:
        """Return a new model fitted on ``(X, y, sample_weight)`` from this model's optimum.

        ``self`` must be fitted on the same points (other weights); the warm start changes the
        cost of the fit, not its optimum (the model :meth:`fit` would give, to the solver's
        tolerance). ``self`` is not changed.
        """
        return self.with_params()._fit(X, y, sample_weight, start=self, gram=self._path_gram(X))

    def C_path(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        C_values: Sequence[float],
    ) -> Iterator[Self]:
        """Fit the model along a grid of ``C`` values, each fit warm-started from the last.

        A warm start changes the cost of a fit, not its optimum: every yielded model is the
        model ``self.with_params(C=C).fit(X, y, sample_weight)`` would give (to the
        solver's tolerance). The kernel matrix is computed once for the whole path.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Training inputs (the training kernel matrix when ``precomputed``).
        y : ndarray of shape (n_samples,)
            Binary labels in {0, 1}.
        sample_weight : ndarray of shape (n_samples,) or None
            Weights ``s_i >= 0``, the same at every ``C``.
        C_values : sequence of float
            Positive values, visited in the given order (increasing is fastest).

        Yields
        ------
        BinaryClassifier
            A new fitted model per ``C`` (``self`` is left unfitted); each may be kept.
        """
        C_values = check_C_path(C_values)
        self.with_params(C=C_values[0])._validate_hyperparameters()
        gram = self._path_gram(X)
        previous: Self | None = None
        for C in C_values:
            model = self.with_params(C=C)
            previous = model._fit(X, y, sample_weight, start=previous, gram=gram)
            yield previous

    def beta_path(
        self,
        X: np.ndarray,
        y: np.ndarray,
        is_poison: np.ndarray,
        betas: Sequence[float],
    ) -> Iterator[Self]:
        """Follow the optimum ``theta*(beta)`` along a grid of poison weights.

        The weights are ``s_i = 1`` for clean points and ``beta`` for poisons. Each fit starts
        from the previous optimum (the incremental learning of the paper); models with a
        closed-form path override this. The first fit starts cold. The model itself is refitted
        and yielded after each ``beta``: copy what you need before advancing the iterator.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Poisoned training set (its kernel matrix when ``precomputed``).
        y : ndarray of shape (n_samples,)
            Binary labels in {0, 1}.
        is_poison : ndarray of shape (n_samples,), bool
            Poison mask.
        betas : sequence of float
            Poison weights in [0, 1], visited in the given order (increasing is fastest).

        Yields
        ------
        BinaryClassifier
            ``self``, fitted at the current ``beta``.
        """
        is_poison = check_beta_path(X, is_poison, betas)
        self._validate_hyperparameters()
        gram = self._path_gram(X)
        previous: Self | None = None
        for beta in betas:
            self._fit(X, y, np.where(is_poison, beta, 1.0), start=previous, gram=gram)
            previous = copy.copy(self)
            yield self

    @abstractmethod
    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Scores ``f(x)`` of shape (n,); positive predicts label 1.

        With ``precomputed=True``, ``X`` holds kernel rows ``k(X_eval, X_train)``.
        """

    @abstractmethod
    def input_gradient(self, X: np.ndarray) -> np.ndarray:
        """``d f(x) / d x`` for each row of ``X``, shape (n, n_features)."""

    @abstractmethod
    def weight_norm_sq(self) -> float:
        """Squared norm ``||w||^2`` of the weight vector (bias excluded)."""

    @abstractmethod
    def weight_inner(self, other: Self) -> float:
        """Inner product ``<w_self, w_other>`` of two fitted models of the same kind.

        ``precomputed`` models must have been fitted on the same training kernel matrix.
        """

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
        implicit one at that optimum (``directions`` are indices into ``X``). With
        ``precomputed=True``, ``X`` is the training kernel matrix and ``X_eval`` the kernel
        rows ``k(X_eval, X_train)``.
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
