"""The workspace: what a group of grid tasks shares in one worker, owned by the group.

A slope or curve task reads a poisoned problem (:mod:`backdoor_curves.experiments.problem`),
the kernel matrices of its sets and, for the slope, the test accuracy of the clean model
along ``C``. Tasks of one driver invocation read the same ones: the seeds (and triggers) of
one pair, classifier and gamma share the clean ``C`` sweep; the models of one problem share
its kernel matrices. The driver groups such tasks (the grid engine's ``group_by``,
:mod:`backdoor_curves.utilities.grid`) and gives every group a :class:`Workspace` of its own
(the engine's ``context``, made by a :class:`WorkspaceFactory`), which the group's tasks fill
and read, and which is dropped when the group ends. Nothing outlives its group and nothing
is kept at module level.

- **What it holds**: the class pairs, which the driver loaded once and hands over (no worker
  decodes the data again); the poisoned problems; the kernel matrices of a problem's sets for
  a model's kernel, the inputs of ``precomputed`` models (scikit-learn's
  ``kernel="precomputed"``, :mod:`backdoor_curves.classifiers.base`); the clean features and
  their kernel matrices; the clean models' test accuracies along ``C``.
- **Keys are values**: a problem by :class:`ProblemKey` (the task fields it is made of),
  kernel matrices by that key and the kernel's value
  (:mod:`backdoor_curves.classifiers.kernels`), a clean sweep by the pair, features,
  classifier, gamma and ``C`` grid; never by the identity of an array. Every matrix it hands
  out is immutable (:func:`~backdoor_curves.classifiers.inputs.read_only`), so no one can
  change what a key stands for.
- **Bounded**: the arrays it keeps (problems, kernel matrices, clean features) stay under
  ``max_bytes``; past it, the least recently used leave first (a task holding one keeps its
  own reference).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, cast

import numpy as np

from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.inputs import read_only
from backdoor_curves.classifiers.kernels import (
    Kernel,
    LinearKernel,
    Products,
    RBFKernel,
    kernel_matrix,
)
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.feature_stage import CachedFeatures, stage_at
from backdoor_curves.experiments.problem import (
    DataRequest,
    FeatureStage,
    PoisonedProblem,
    clean_problem_features,
    load_pair,
    poisoned_problem,
)
from backdoor_curves.utilities.data import PairTask
from backdoor_curves.utilities.metrics import accuracy

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ProblemKernels",
    "ProblemKey",
    "Workspace",
    "WorkspaceFactory",
    "on_kernels",
]

V = TypeVar("V")
M = TypeVar("M", bound=BinaryClassifier)

DEFAULT_MAX_BYTES = 512 * 2**20
"""Bytes of arrays a workspace keeps. A slope group reads one problem per task (about 15 MB
with its kernel matrices on embedded MNIST, 110 MB on 1,500 AlexNet features); a curves
group reads one problem with the kernel matrices of three kernels."""


@dataclass(frozen=True)
class ProblemKey:
    """What a poisoned problem is made of: the key of a problem in a workspace.

    Attributes
    ----------
    data : DataRequest
        The class pair and its subset draw.
    features : str or CachedFeatures
        ``"pixels"`` or the deep-feature stage.
    trigger : TriggerSpec
        The trigger.
    fraction : float
        Poison fraction.
    seed : int
        Experiment seed (trigger patterns, then poison choice).
    """

    data: DataRequest
    features: str | CachedFeatures
    trigger: TriggerSpec
    fraction: float
    seed: int


@dataclass(frozen=True)
class ProblemKernels:
    """A problem's kernel matrices for one kernel: what a ``precomputed`` model takes as inputs.

    Attributes
    ----------
    train : ndarray of shape (n_train, n_train)
        ``k(X_train, X_train)``.
    test : ndarray of shape (n_test, n_train)
        ``k(X_test, X_train)``.
    backdoor : ndarray of shape (n_backdoor, n_train)
        ``k(X_backdoor, X_train)``.
    """

    train: np.ndarray
    test: np.ndarray
    backdoor: np.ndarray


class _HasData(Protocol):
    @property
    def data(self) -> DataRequest: ...


class Workspace:
    """Problems, kernel matrices and clean sweeps shared by the tasks of one group.

    Parameters
    ----------
    pairs : mapping of DataRequest to PairTask, optional
        Pairs the driver loaded; a pair not given is loaded from ``data_dir`` when first
        asked for.
    data_dir : str or None
        Dataset root (None: ``$BACKDOOR_CURVES_DATA``, else ``./data``).
    feature_dir : str or None
        Folder of the deep-feature cache the driver filled (None: ``<data dir>/features``).
    max_bytes : int
        Bound on the bytes of the arrays kept (see the module docstring).
    """

    def __init__(
        self,
        pairs: Mapping[DataRequest, PairTask] | None = None,
        *,
        data_dir: str | None = None,
        feature_dir: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.data_dir = data_dir
        self.feature_dir = feature_dir
        self.max_bytes = max_bytes
        self._pairs = dict(pairs or {})
        self._stages: dict[str | CachedFeatures, str | FeatureStage] = {}
        self._arrays: OrderedDict[Hashable, tuple[int, object]] = OrderedDict()
        self._sweeps: dict[Hashable, dict[float, float]] = {}

    # --- what it holds ---------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        """Bytes of the arrays kept (problems, kernel matrices, clean features)."""
        return sum(size for size, _ in self._arrays.values())

    def pair(self, request: DataRequest) -> PairTask:
        """Return the pair task of ``request`` (the driver's, or loaded once from ``data_dir``)."""
        if request not in self._pairs:
            self._pairs[request] = load_pair(request, self.data_dir)
        return self._pairs[request]

    def problem(self, key: ProblemKey) -> PoisonedProblem:
        """Return the poisoned problem of ``key`` (built once; its arrays are immutable)."""
        return self._kept(("problem", key), lambda: self._build_problem(key))

    def kernels(self, key: ProblemKey, kernel: Kernel) -> ProblemKernels:
        """Return the kernel matrices of the problem of ``key`` for ``kernel`` (computed once)."""
        return self._kept(("kernels", key, kernel), lambda: self._build_kernels(key, kernel))

    def inputs(self, key: ProblemKey, model: BinaryClassifier) -> ProblemKernels:
        """Return what ``model`` takes as inputs on the problem of ``key``.

        The problem's kernel matrices for a ``precomputed`` model (see :func:`on_kernels`),
        its feature arrays for a model whose class has no ``precomputed`` parameter.
        """
        if getattr(model, "precomputed", False):
            return self.kernels(key, model.kernel_function)
        problem = self.problem(key)
        return ProblemKernels(problem.X_train, problem.X_test, problem.X_backdoor)

    def clean_features(
        self, data: DataRequest, features: str | CachedFeatures
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the model inputs of the pair's unpoisoned train and test sets (immutable)."""
        return self._kept(
            ("clean", data, features),
            lambda: clean_problem_features(self.pair(data), self.feature_stage(features)),
        )

    def clean_kernels(
        self, data: DataRequest, features: str | CachedFeatures, kernel: Kernel
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``k(X, X)`` and ``k(X_test, X)`` of the unpoisoned sets (immutable)."""

        def products() -> tuple[Products, Products]:
            X, X_test = self.clean_features(data, features)
            return Products.of(X, X), Products.of(X_test, X)

        def build() -> tuple[np.ndarray, np.ndarray]:
            if not isinstance(kernel, LinearKernel | RBFKernel):  # a user's kernel
                X, X_test = self.clean_features(data, features)
                return read_only(kernel(X, X)), read_only(kernel(X_test, X))
            train, test = self._kept(("clean products", data, features), products)
            return read_only(kernel_matrix(kernel, train)), read_only(kernel_matrix(kernel, test))

        return self._kept(("clean kernels", data, features, kernel), build)

    def clean_accuracy(
        self,
        data: DataRequest,
        features: str | CachedFeatures,
        clf: str,
        gamma: float | None,
        C_values: Sequence[float],
    ) -> dict[float, float]:
        """Return the test accuracy of the model fitted on the unpoisoned training set, per ``C``.

        The model depends on neither trigger, poison fraction nor seed, so one sweep serves
        them all: the ``C`` values run in increasing order along a
        :meth:`~backdoor_curves.classifiers.base.BinaryClassifier.C_path` (each fit
        warm-started from the last) on the clean kernel matrices.
        """
        key = (data, features, clf, gamma, tuple(sorted(C_values)))
        if key not in self._sweeps:
            base = on_kernels(make_classifier(clf, key[-1][0], gamma))
            if getattr(base, "precomputed", False):
                K_train, K_test = self.clean_kernels(data, features, base.kernel_function)
            else:
                K_train, K_test = self.clean_features(data, features)
            pair = self.pair(data)
            self._sweeps[key] = {
                model.C: accuracy(pair.y_test, model.predict(K_test))
                for model in base.C_path(K_train, pair.y_train, None, key[-1])
            }
        return self._sweeps[key]

    # --- how it keeps them -----------------------------------------------------------------
    def _kept(self, key: Hashable, build: Callable[[], V]) -> V:
        """Return the value of ``key``, built by ``build()`` the first time.

        Keys are values that name what ``build`` computes, so the entry of a key is the value
        its builder returns; least recently used entries leave past ``max_bytes``.
        """
        if key in self._arrays:
            self._arrays.move_to_end(key)
            return cast(V, self._arrays[key][1])
        value = build()
        self._arrays[key] = (_nbytes(value), value)
        while len(self._arrays) > 1 and self.nbytes > self.max_bytes:
            self._arrays.popitem(last=False)
        return value

    def feature_stage(self, features: str | CachedFeatures) -> str | FeatureStage:
        """Return the feature stage of ``features`` (a reader of the workspace's cache folder)."""
        if features not in self._stages:
            self._stages[features] = stage_at(features, self.feature_dir, self.data_dir)
        return self._stages[features]

    def _build_problem(self, key: ProblemKey) -> PoisonedProblem:
        return poisoned_problem(
            self.pair(key.data),
            key.trigger,
            key.fraction,
            key.seed,
            self.feature_stage(key.features),
        )

    def _products(self, key: ProblemKey) -> tuple[Products, Products, Products]:
        """Return the products of the problem's sets with its training rows (computed once).

        Every kernel of the problem (the linear models' and the RBF models' at every gamma)
        is made from them (:func:`~backdoor_curves.classifiers.kernels.kernel_matrix`).
        """

        def build() -> tuple[Products, Products, Products]:
            problem = self.problem(key)
            X = problem.X_train
            return (
                Products.of(X, X),
                Products.of(problem.X_test, X),
                Products.of(problem.X_backdoor, X),
            )

        return self._kept(("products", key), build)

    def _build_kernels(self, key: ProblemKey, kernel: Kernel) -> ProblemKernels:
        if not isinstance(kernel, LinearKernel | RBFKernel):  # a user's kernel: no products
            problem = self.problem(key)
            X = problem.X_train
            return ProblemKernels(
                train=read_only(kernel(X, X)),
                test=read_only(kernel(problem.X_test, X)),
                backdoor=read_only(kernel(problem.X_backdoor, X)),
            )
        train, test, backdoor = self._products(key)
        return ProblemKernels(
            train=read_only(kernel_matrix(kernel, train)),
            test=read_only(kernel_matrix(kernel, test)),
            backdoor=read_only(kernel_matrix(kernel, backdoor)),
        )


def on_kernels(model: M) -> M:
    """Return ``model`` fitted on precomputed kernel matrices when its class allows it.

    A class with a ``precomputed`` parameter (every model of the package) gets
    ``precomputed=True``, so that the kernel matrices a workspace keeps serve all its fits;
    a class without one (a user's model) is returned as it is and takes feature arrays.
    """
    return model.with_params(precomputed=True) if "precomputed" in model.get_params() else model


def _nbytes(value: object) -> int:
    """Bytes of the arrays in ``value`` (an array, a tuple of them or a dataclass of them)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, tuple):
        return sum(_nbytes(item) for item in value)
    fields = getattr(value, "__dataclass_fields__", {})
    return sum(_nbytes(getattr(value, name)) for name in fields)


@dataclass(frozen=True)
class WorkspaceFactory:
    """Makes the workspace of a group of tasks: the grid engine's ``context``.

    Called in the driver's process once per group, with the group's tasks; the workspace
    (holding the pairs those tasks read, which the driver loaded) travels to the worker
    with the group.

    Attributes
    ----------
    pairs : mapping of DataRequest to PairTask
        The pairs the driver loaded.
    data_dir, feature_dir : str or None
        See :class:`Workspace`.
    max_bytes : int
        See :class:`Workspace`.
    """

    pairs: Mapping[DataRequest, PairTask] = field(default_factory=dict)
    data_dir: str | None = None
    feature_dir: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES

    def __call__(self, tasks: Sequence[_HasData]) -> Workspace:
        """Return a new workspace holding the pairs that ``tasks`` read."""
        wanted = {task.data for task in tasks}
        return Workspace(
            {request: pair for request, pair in self.pairs.items() if request in wanted},
            data_dir=self.data_dir,
            feature_dir=self.feature_dir,
            max_bytes=self.max_bytes,
        )
