"""The workspace a task group shares: values keyed by what they are, immutable, bounded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers import RidgeClassifier
from backdoor_curves.classifiers.kernels import RBFKernel
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.problem import DataRequest
from backdoor_curves.experiments.workspace import ProblemKey, Workspace, on_kernels

REQUEST = DataRequest("mnist", "7-1", 60, 30, 999)


def key(seed: int) -> ProblemKey:
    return ProblemKey(REQUEST, "pixels", TriggerSpec.badnet(3), 0.1, seed)


def test_kernel_matrices_are_computed_once_per_value_and_immutable(data_dir: Path) -> None:
    workspace = Workspace(data_dir=str(data_dir))
    first = workspace.kernels(key(1), RBFKernel(0.01))
    assert workspace.kernels(key(1), RBFKernel(0.01)) is first  # an equal kernel value
    assert workspace.kernels(key(1), RBFKernel(0.02)) is not first
    problem = workspace.problem(key(1))
    np.testing.assert_allclose(first.test, RBFKernel(0.01)(problem.X_test, problem.X_train))
    with pytest.raises(ValueError, match="read-only"):
        first.train[0, 0] = 1.0


def test_the_least_recently_used_arrays_leave_past_the_byte_bound(data_dir: Path) -> None:
    one = Workspace(data_dir=str(data_dir)).problem(key(1))
    size = sum(a.nbytes for a in (one.X_train, one.X_test, one.X_backdoor)) + one.y_train.nbytes
    workspace = Workspace(data_dir=str(data_dir), max_bytes=int(2.5 * size))
    problems = [workspace.problem(key(seed)) for seed in (1, 2, 3)]
    assert workspace.nbytes <= 2.5 * size
    assert workspace.problem(key(3)) is problems[2]
    assert workspace.problem(key(1)) is not problems[0]  # left first, rebuilt equal
    np.testing.assert_array_equal(workspace.problem(key(1)).X_train, problems[0].X_train)
    with pytest.raises(ValueError, match="max_bytes must be positive"):
        Workspace(max_bytes=0)


class PlainRidge(RidgeClassifier):
    """A user's model whose class has no ``precomputed`` parameter."""

    def __init__(self, C: float = 1.0) -> None:
        super().__init__(C)


def test_models_without_precomputed_take_the_problem_features(data_dir: Path) -> None:
    workspace = Workspace(data_dir=str(data_dir))
    ours = on_kernels(make_classifier("ridge", 1.0, None))
    theirs = on_kernels(PlainRidge())
    assert ours.precomputed and "precomputed" not in theirs.get_params()
    problem = workspace.problem(key(1))
    assert workspace.inputs(key(1), theirs).train is problem.X_train
    on_kernel = workspace.inputs(key(1), ours)
    assert on_kernel.train.shape == (len(problem.y_train),) * 2
    fitted_plain = theirs.fit(problem.X_train, problem.y_train)
    fitted_kernel = ours.fit(on_kernel.train, problem.y_train)
    np.testing.assert_allclose(
        fitted_kernel.decision_function(on_kernel.test),
        fitted_plain.decision_function(problem.X_test),
        rtol=1e-6,
        atol=1e-8,
    )
