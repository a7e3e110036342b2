"""Dense softmax head (the oracle of the head slope): derivatives vs central differences."""

import numpy as np

from backdoor_curves.classifiers.nn.softmax_head import SoftmaxHead

K, D = 3, 4


def augmented(Z: np.ndarray) -> np.ndarray:
    return np.hstack([Z, np.ones((len(Z), 1))])


def test_gradient_and_hessian_match_central_differences() -> None:
    rng = np.random.default_rng(1)
    Z, y = rng.normal(size=(60, D)), rng.integers(0, K, size=60)
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


def test_weighted_ce_gradient_is_the_gradient_of_the_weighted_loss() -> None:
    rng = np.random.default_rng(2)
    Z, y, weight = rng.normal(size=(30, D)), rng.integers(0, K, size=30), rng.random(30)
    head = SoftmaxHead(0.0, K)
    head.coef_ = rng.normal(size=(K, D + 1))
    _, grad = head.objective(head.coef_.ravel(), augmented(Z), y, weight)
    np.testing.assert_allclose(head.mean_ce_gradient(Z, y, weight), grad, rtol=1e-12)
