"""Kernel functions: matrices against their pointwise definitions, values as cache keys."""

from __future__ import annotations

import numpy as np
import pytest

from backdoor_curves.classifiers.kernels import (
    LinearKernel,
    RBFKernel,
    rbf_kernel,
    squared_distances,
)


def rows(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 4))


def test_squared_distances_are_the_pointwise_ones_and_symmetric_for_one_set() -> None:
    A, B = rows(0, 5), rows(1, 3)
    expected = np.array([[np.sum((a - b) ** 2) for b in B] for a in A])
    np.testing.assert_allclose(squared_distances(A, B), expected, rtol=1e-12)
    same = squared_distances(A, A)
    np.testing.assert_array_equal(same, same.T)
    assert same.min() >= 0.0


def test_rbf_kernel_is_exp_of_minus_gamma_squared_distance() -> None:
    A, B = rows(2, 4), rows(3, 6)
    expected = np.array([[np.exp(-0.3 * np.sum((a - b) ** 2)) for b in B] for a in A])
    np.testing.assert_allclose(rbf_kernel(A, B, 0.3), expected, rtol=1e-12)
    np.testing.assert_allclose(RBFKernel(0.3)(A, B), expected, rtol=1e-12)
    np.testing.assert_allclose(np.diag(RBFKernel(0.3)(A, A)), 1.0)


def test_linear_kernel_is_the_dot_product() -> None:
    A, B = rows(4, 3), rows(5, 2)
    expected = np.array([[a @ b for b in B] for a in A])
    np.testing.assert_allclose(LinearKernel()(A, B), expected, rtol=1e-12)


def test_equal_kernels_are_equal_keys_and_differ_by_gamma() -> None:
    assert RBFKernel(0.5) == RBFKernel(0.5) and hash(RBFKernel(0.5)) == hash(RBFKernel(0.5))
    assert RBFKernel(0.5) != RBFKernel(0.05)
    assert LinearKernel() == LinearKernel()
    assert len({LinearKernel(), RBFKernel(0.5), RBFKernel(0.5)}) == 2
    with pytest.raises(AttributeError):
        RBFKernel(0.5).gamma = 1.0  # type: ignore[misc]
