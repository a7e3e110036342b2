"""Influence on a network's own last layer: the matrix-free solve against the dense one, and
the slope against finite differences of that same (proximal) head's refits."""

import numpy as np
import pytest
import scipy.optimize
import torch

from backdoor_curves.classifiers.nn.head_influence import (
    HeadProblem,
    proximal_head_curve,
    proximal_head_slope,
)
from backdoor_curves.classifiers.nn.softmax_head import SoftmaxHead, dense_proximal_slope

K, D = 3, 5


def features(seed: int = 0):
    """Random features, a "trigger" direction on the poisons, and a head that is not optimal."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(90, D))
    y = rng.integers(0, K, size=90)
    is_poison = np.zeros(90, dtype=bool)
    is_poison[:12] = True
    Z[is_poison, 0] += 2.0
    y[is_poison] = (y[is_poison] + 1) % K
    Z_backdoor = rng.normal(size=(30, D))
    Z_backdoor[:, 0] += 2.0
    y_backdoor = rng.integers(0, K, size=30)
    theta0 = rng.normal(size=(K, D + 1))
    return Z, y, is_poison, Z_backdoor, y_backdoor, theta0


def problem(seed: int = 0, weight_decay: float = 1e-3, per_sample: bool = False):
    Z, y, is_poison, Z_backdoor, y_backdoor, theta0 = features(seed)
    head = HeadProblem.from_features(
        torch.from_numpy(Z), torch.from_numpy(y), torch.from_numpy(is_poison),
        torch.from_numpy(Z_backdoor), torch.from_numpy(y_backdoor),
        weight_decay=weight_decay, per_sample=per_sample,
    )  # fmt: skip
    return head, torch.from_numpy(theta0)


def test_objective_and_hessian_product_equal_the_dense_oracle() -> None:
    head, theta = problem()
    Xa = head.X.numpy()
    weight = head.weights(0.3).numpy()
    dense = SoftmaxHead(head.weight_decay, K)
    value, grad = head.objective(theta, 0.3)
    want_value, want_grad = dense.objective(theta.numpy().ravel(), Xa, head.y.numpy(), weight)
    assert value == pytest.approx(want_value, rel=1e-12)
    np.testing.assert_allclose(grad.numpy().ravel(), want_grad, rtol=1e-12, atol=1e-14)
    H = dense.hessian(theta.numpy().ravel(), Xa, weight)
    product, diagonal = head.hessian_product(theta, 0.3)
    V = torch.from_numpy(np.random.default_rng(3).normal(size=(K, D + 1)))
    np.testing.assert_allclose(product(V).numpy().ravel(), H @ V.numpy().ravel(), rtol=1e-10)
    np.testing.assert_allclose(diagonal.numpy().ravel(), np.diag(H), rtol=1e-12)


@pytest.mark.parametrize("per_sample", [False, True])
def test_conjugate_gradient_slope_equals_the_dense_solve(per_sample: bool) -> None:
    head, theta = problem(per_sample=per_sample)
    result = proximal_head_slope(head, theta, damping=0.05)
    Z, y, is_poison, Z_backdoor, y_backdoor, _ = features()
    want = dense_proximal_slope(
        Z, y, head.clean_weight.numpy(), head.poison_weight.numpy(), Z_backdoor, y_backdoor,
        theta.numpy(), weight_decay=head.weight_decay, damping=0.05,
    )  # fmt: skip
    assert result.status == "ok" and result.relative_residual <= 1e-10
    assert result.slope == pytest.approx(want, rel=1e-8)
    assert result.cg_iterations <= K * (D + 1) + 5  # CG is exact in at most dim steps
    assert result.gradient_norm > 0.1  # the expansion point is not the refitted optimum


def proximal_refit_loss(beta: float, damping: float) -> float:
    """Oracle: minimise tilde J(.; beta) from scratch: L-BFGS, then dense Newton steps."""
    head, theta0 = problem()
    dense = SoftmaxHead(head.weight_decay, K)
    Xa, y = head.X.numpy(), head.y.numpy()
    theta0_flat = theta0.numpy().ravel()
    _, g0 = dense.objective(theta0_flat, Xa, y, head.weights(0.0).numpy())
    weight = head.weights(beta).numpy()

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = dense.objective(theta, Xa, y, weight)
        shift = theta - theta0_flat
        return (
            value - g0 @ shift + 0.5 * damping * shift @ shift,
            grad - g0 + damping * shift,
        )

    fit = scipy.optimize.minimize(
        fun, np.zeros_like(theta0_flat), jac=True, method="L-BFGS-B",
        options={"maxiter": 5000, "gtol": 1e-13, "ftol": 1e-16},
    )  # fmt: skip
    theta = fit.x
    for _ in range(3):
        H = dense.hessian(theta, Xa, weight) + damping * np.eye(len(theta))
        theta = theta - np.linalg.solve(H, fun(theta)[1])
    dense.coef_ = theta.reshape(K, -1)
    Z_backdoor, y_backdoor = features()[3:5]
    return dense.cross_entropy(Z_backdoor, y_backdoor)


@pytest.mark.parametrize("damping", [0.05, 0.0])
def test_head_slope_equals_finite_differences_of_its_own_refits(damping: float) -> None:
    head, theta0 = problem()
    slope = proximal_head_slope(head, theta0, damping)
    delta = 1e-4
    fd = (proximal_refit_loss(delta, damping) - proximal_refit_loss(-delta, damping)) / (2 * delta)
    assert slope.slope == pytest.approx(fd, rel=1e-4)
    # At beta = 0 the proximal head is the network's own head.
    assert proximal_refit_loss(0.0, damping) == pytest.approx(slope.backdoor_loss, rel=1e-8)


def test_head_curve_starts_at_the_network_head_and_follows_the_slope() -> None:
    head, theta0 = problem()
    slope = proximal_head_slope(head, theta0, 0.05)
    betas = [0.0, 1e-6, 1e-4, 1e-2, 1.0]
    curve = proximal_head_curve(head, theta0, 0.05, betas)
    assert curve[0] == slope.backdoor_loss
    assert (curve[1] - curve[0]) / 1e-6 == pytest.approx(slope.slope, rel=1e-4)
    assert curve[4] == pytest.approx(proximal_refit_loss(1.0, 0.05), rel=1e-7)
    with pytest.raises(ValueError, match="increasing"):
        proximal_head_curve(head, theta0, 0.05, [0.1, 0.0])


def test_no_damping_and_no_weight_decay_is_refused() -> None:
    head, theta0 = problem(weight_decay=0.0)
    with pytest.raises(ValueError, match="damping"):
        proximal_head_slope(head, theta0, 0.0)
