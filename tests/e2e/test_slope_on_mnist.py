"""The learning slope on real data: embedded MNIST 7-1, badnet 3x3, 10% poisons.

The exact slope must match the finite-difference slope of actually retrained models
(weights 1 for clean points, delta for poisons) on the 750 x 784 problem the experiments use.
"""

import numpy as np
import pytest

from backdoor_curves.attacks import TriggerSpec, learning_slope
from backdoor_curves.classifiers import make_classifier
from backdoor_curves.experiments.problem import DataRequest, load_pair, poisoned_problem

# (classifier, C, gamma, delta, relative tolerance): hinge paths are piecewise linear in beta,
# so the SVM difference quotient is exact while the active set holds; the smooth losses carry
# an O(delta) bias.
CASES = [
    ("svm", 0.1, None, 1e-6, 1e-6),
    ("svm-rbf", 1.0, 0.005, 1e-6, 1e-6),
    ("logistic", 1.0, None, 1e-6, 1e-3),
    ("ridge", 0.1, None, 1e-6, 1e-3),
]


@pytest.fixture(scope="module")
def problem():
    pair_data = load_pair(DataRequest("mnist", "7-1", None, None, 999), None)
    return poisoned_problem(pair_data, TriggerSpec.badnet(3), 0.1, 1, "pixels")


@pytest.mark.parametrize(("name", "C", "gamma", "delta", "rtol"), CASES)
def test_slope_matches_retraining_on_mnist(problem, name, C, gamma, delta, rtol):
    X, y, is_poison = problem.X_train, problem.y_train, problem.is_poison
    assert X.shape == (750, 784) and is_poison.sum() == 75
    model = make_classifier(name, C, gamma).with_params(precomputed=True)
    K, K_backdoor = model.kernel(X, X), model.kernel(problem.X_backdoor, X)
    clean = model.fit(K, y, (~is_poison).astype(float))
    result = learning_slope(clean, K, y, is_poison, K_backdoor, problem.y_backdoor)
    assert result.status == "ok"
    assert result.slope < -0.1  # the backdoor loss clearly drops
    poisoned = model.with_params().fit(K, y, np.where(is_poison, delta, 1.0))
    loss_delta = poisoned.loss(K_backdoor, problem.y_backdoor).mean()
    finite_difference = (loss_delta - result.backdoor_loss) / delta
    assert result.slope == pytest.approx(finite_difference, rel=rtol)
