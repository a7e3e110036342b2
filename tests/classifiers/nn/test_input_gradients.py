"""Input gradients through a torch extractor, against central differences in float64.

A small random network with AlexNet's layer pattern stands in for the extractor; the oracle
of ``d f(phi(x)) / d x`` is the central difference of the head's numpy decision function on
the network's features, and the torch decision is checked against the numpy one.
"""

import numpy as np
import pytest
import torch

from backdoor_curves.classifiers.logistic import LogisticClassifier
from backdoor_curves.classifiers.nn.input_gradients import (
    TorchFeatures,
    extractor_input_gradient,
    torch_decision,
)
from backdoor_curves.classifiers.svm import RBFSVM, LinearSVM

HEADS = {
    "linear-svm": lambda: LinearSVM(C=0.5),
    "rbf-svm": lambda: RBFSVM(C=1.0, gamma=0.3),
    "logistic": lambda: LogisticClassifier(C=1.0),
}


def small_alexnet(seed=0):
    """AlexNet's layer pattern at toy size: conv-relu-pool, conv-relu, pool, fc-relu."""
    torch.manual_seed(seed)
    return (
        torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, kernel_size=3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(4, 6, kernel_size=3, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Dropout(0.5),
            torch.nn.Linear(24, 10),
            torch.nn.ReLU(),
        )
        .double()
        .eval()
    )


def head_on_network(head_name, net, rng):
    """A head fitted on the network's features of 30 random images."""
    images = rng.uniform(size=(30, 3, 12, 12))
    with torch.no_grad():
        features = net(torch.from_numpy(images)).numpy()
    y = (features[:, 0] > np.median(features[:, 0])).astype(np.int64)
    return HEADS[head_name]().fit(features, y)


def central_differences(f, X, step=1e-6):
    """``(f(x + h e_i) - f(x - h e_i)) / 2h`` for every row and coordinate."""
    offsets = step * np.eye(X.shape[1])
    return np.stack([(f(x + offsets) - f(x - offsets)) / (2 * step) for x in X])


@pytest.mark.parametrize("head_name", list(HEADS))
def test_torch_decision_is_the_decision_function(head_name):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(25, 5))
    head = HEADS[head_name]().fit(X, (X[:, 0] > 0).astype(np.int64))
    X_eval = rng.normal(size=(7, 5))
    decision = torch_decision(head, torch.from_numpy(X_eval)).numpy()
    np.testing.assert_allclose(decision, head.decision_function(X_eval), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("head_name", list(HEADS))
def test_gradient_through_network_equals_central_differences(head_name):
    net = small_alexnet()
    rng = np.random.default_rng(1)
    head = head_on_network(head_name, net, rng)
    test = rng.uniform(size=(2, 3, 12, 12))
    gradient = extractor_input_gradient(net, head, torch.from_numpy(test), batch_size=1).numpy()

    def decision(flat):
        with torch.no_grad():
            phi = net(torch.from_numpy(flat.reshape(-1, 3, 12, 12))).numpy()
        return head.decision_function(phi)

    expected = central_differences(decision, test.reshape(2, -1)).reshape(test.shape)
    assert np.abs(gradient).max() > 0
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-7)


def test_identity_extractor_gives_the_pixel_gradient():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 4))
    model = RBFSVM(C=1.0, gamma=0.3).fit(X, (X[:, 0] > 0).astype(np.int64))
    X_test = rng.normal(size=(5, 4))
    gradient = extractor_input_gradient(
        torch.nn.Flatten(), model, torch.from_numpy(X_test.reshape(5, 1, 2, 2))
    )
    np.testing.assert_allclose(gradient.numpy().reshape(5, -1), model.input_gradient(X_test))


def test_torch_features_map_images_and_gradients_as_numpy():
    net = small_alexnet()
    rng = np.random.default_rng(3)
    head = head_on_network("logistic", net, rng)
    images = rng.uniform(size=(5, 3, 12, 12))
    feature_map = TorchFeatures(
        net, torch.device("cpu"), dtype=torch.float64, batch_size=2, name="toy"
    )
    with torch.no_grad():
        expected = net(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(feature_map.features(images), expected, rtol=1e-12)
    gradient = feature_map.input_gradient(head, images)
    assert gradient.shape == images.shape and gradient.dtype == np.float64
    direct = extractor_input_gradient(net, head, torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(gradient, direct, rtol=1e-12)
    assert feature_map.name == "toy"


def test_a_head_without_a_torch_decision_is_refused():
    class Forest:
        pass

    with pytest.raises(ValueError, match="no torch decision function for Forest"):
        torch_decision(Forest(), torch.zeros((1, 3)))  # type: ignore[arg-type]
