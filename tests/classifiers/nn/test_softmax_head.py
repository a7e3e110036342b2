"""Softmax head on frozen features: derivatives vs central differences, and the exact
learning slope vs the finite-difference slope of independently refitted heads."""

import numpy as np
import pytest

from backdoor_curves.classifiers.nn.softmax_head import SoftmaxHead, head_learning_slope

K, D = 3, 4


def problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(120, D))
    y = rng.integers(0, K, size=120)
    is_poison = np.zeros(120, dtype=bool)
    is_poison[:15] = True
    Z[is_poison, 0] += 2.0  # a "trigger" direction
    y[is_poison] = (y[is_poison] + 1) % K
    Z_backdoor = rng.normal(size=(40, D))
    Z_backdoor[:, 0] += 2.0
    y_backdoor = rng.integers(0, K, size=40)
    return Z, y, is_poison, Z_backdoor, y_backdoor


def augmented(Z: np.ndarray) -> np.ndarray:
    return np.hstack([Z, np.ones((len(Z), 1))])


def test_gradient_and_hessian_match_central_differences() -> None:
    Z, y, _, _, _ = problem()
    rng = np.random.default_rng(1)
    head, Xa, weight = SoftmaxHead(0.05, K), augmented(Z), rng.random(len(y))
    theta = rng.normal(size=K * (D + 1)) * 0.5
    _, grad = head.objective(theta, Xa, y, weight)
    eps, basis = 1e-6, np.eye(len(theta))
    fd_grad = [
        (head.objective(theta + eps * u, Xa, y, weight)[0]
         - head.objective(theta - eps * u, Xa, y, weight)[0]) / (2 * eps)
        for u in basis
    ]  # fmt: skip
    np.testing.assert_allclose(grad, fd_grad, rtol=1e-6, atol=1e-8)
    fd_hessian = np.array(
        [
            (head.objective(theta + eps * u, Xa, y, weight)[1]
             - head.objective(theta - eps * u, Xa, y, weight)[1]) / (2 * eps)
            for u in basis
        ]
    )  # fmt: skip
    np.testing.assert_allclose(head.hessian(theta, Xa, weight), fd_hessian, atol=1e-6)


def refit_slope(weight_decay: float, delta: float = 1e-3) -> float:
    """Finite-difference slope from cold L-BFGS + Newton fits at beta = +-delta."""
    Z, y, is_poison, Z_backdoor, y_backdoor = problem()
    clean = np.where(is_poison, 0.0, 1.0 / (~is_poison).sum())
    unit = np.where(is_poison, 1.0 / is_poison.sum(), 0.0)
    losses = [
        SoftmaxHead(weight_decay, K)
        .fit(Z, y, clean + sign * delta * unit, newton_steps=3)
        .cross_entropy(Z_backdoor, y_backdoor)
        for sign in (1.0, -1.0)
    ]
    return (losses[0] - losses[1]) / (2 * delta)


@pytest.mark.parametrize("weight_decay", [1e-2, 1e-3])
def test_head_slope_equals_the_slope_of_retrained_heads(weight_decay: float) -> None:
    result = head_learning_slope(*problem(), weight_decay=weight_decay, n_classes=K)
    assert result.status == "ok" and result.damping == 0.0
    assert result.gradient_norm < 1e-9
    expected = refit_slope(weight_decay)
    assert result.slope_if == pytest.approx(expected, rel=1e-4)
    assert result.slope_fd == pytest.approx(expected, rel=1e-4)
    assert result.slope_if < 0  # up-weighting the poisons lowers the backdoor loss


def test_singular_hessian_is_damped_and_the_damping_reported() -> None:
    # Without weight decay the softmax is invariant to shifting every class row: H is singular.
    result = head_learning_slope(*problem(), weight_decay=0.0, n_classes=K)
    assert result.status == "ok"
    assert result.damping > 0
    assert result.slope_if == pytest.approx(result.slope_fd, rel=1e-3)


def test_head_slope_needs_poisons_and_clean_points() -> None:
    Z, y, is_poison, Z_backdoor, y_backdoor = problem()
    with pytest.raises(ValueError, match="need poisons"):
        head_learning_slope(
            Z, y, np.zeros_like(is_poison), Z_backdoor, y_backdoor, weight_decay=0.1, n_classes=K
        )
