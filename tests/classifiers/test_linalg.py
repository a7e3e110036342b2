"""Solver diagnostics are reproducible: the same matrix gives the same recorded estimate."""

from __future__ import annotations

import numpy as np
import pytest

from backdoor_curves.classifiers.dual import KKTFactor
from backdoor_curves.classifiers.linalg import damped_cholesky, reproducible_estimate


def layouts(matrix: np.ndarray) -> list[np.ndarray]:
    """The same values in C and Fortran order and at several buffer offsets."""
    copies = [np.asfortranarray(matrix.copy())]
    for offset in range(8):
        buffer = np.empty(matrix.size + 8)
        view = buffer[offset : offset + matrix.size].reshape(matrix.shape)
        view[...] = matrix
        copies.append(view)
    return copies


@pytest.mark.parametrize("n", [50, 200])
def test_the_condition_estimate_does_not_depend_on_memory_layout(n: int) -> None:
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, n))
    matrix = X @ X.T + 1e-3 * np.eye(n)
    estimates = {damped_cholesky(copy).condition_number for copy in layouts(matrix)}
    assert len(estimates) == 1
    (estimate,) = estimates
    exact = np.linalg.cond(matrix, 1)
    assert exact / 10 < estimate < exact * 10  # still an estimate of the 1-norm condition


def test_the_bordered_kkt_estimate_does_not_depend_on_memory_layout() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 2))
    Q = X @ X.T  # rank 2: the Cholesky path fails and the bordered LU is used
    y = np.where(rng.random(30) < 0.5, -1.0, 1.0)
    estimates = {KKTFactor(copy, y).condition_number for copy in layouts(Q)}
    assert len(estimates) == 1


def test_reproducible_estimate_keeps_three_digits_and_flags_singular() -> None:
    assert reproducible_estimate(1 / 81953.65281302981) == 82000.0
    assert reproducible_estimate(0.0) == float("inf")
