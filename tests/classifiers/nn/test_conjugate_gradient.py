"""Conjugate gradients on a product-only matrix against a dense solve."""

import numpy as np
import pytest
import torch

from backdoor_curves.classifiers.nn.conjugate_gradient import conjugate_gradient


def test_conjugate_gradient_solves_a_small_spd_system() -> None:
    rng = np.random.default_rng(4)
    B = rng.normal(size=(8, 8))
    A = torch.from_numpy(B @ B.T + 0.1 * np.eye(8))
    b = torch.from_numpy(rng.normal(size=8))
    result = conjugate_gradient(lambda v: A @ v, b, torch.diagonal(A).clone(), rtol=1e-12)
    assert result.converged
    np.testing.assert_allclose(result.x.numpy(), np.linalg.solve(A.numpy(), b.numpy()), rtol=1e-9)
    with pytest.raises(ValueError, match="positive"):
        conjugate_gradient(lambda v: A @ v, b, -torch.ones(8))
