"""The learning slope on 4096-d deep features with fewer points than features (n < d).

Features: a random-weight AlexNet (fc7 after ReLU, d = 4096) of generated striped images,
extracted through the feature cache. Checks, for all four models:

- no step of fitting or of the slope forms a d x d matrix: the dense primal Hessian is never
  built, and the peak of traced memory stays far below the 134 MB of one 4096 x 4096 float64
  matrix;
- the slope equals the finite-difference slope of retrained models.
"""

import tracemalloc

import numpy as np
import pytest
import torch

from backdoor_curves.attacks.influence import learning_slope
from backdoor_curves.attacks.poisoning import backdoor_test_set, poison_training_set
from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers import LogisticClassifier, linalg
from backdoor_curves.classifiers.nn.features import (
    ALEXNET_FEATURE_DIM,
    FeatureExtractor,
    alexnet_fc7,
    state_dict_sha256,
)
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.feature_stage import (
    poisoned_training_features,
    trigger_variant,
    triggered_features,
)
from backdoor_curves.utilities.feature_cache import FeatureCache, FeatureSource

SHAPE = (3, 32, 32)
DENSE_HESSIAN_BYTES = ALEXNET_FEATURE_DIM**2 * 8  # 134 MB


def no_dense_hessian(*args, **kwargs):
    raise AssertionError("the dense (d+1) x (d+1) primal Hessian was formed")


def striped_images(n, rng):
    """Class 0: vertical stripes, class 1: horizontal stripes, on uniform noise."""
    y = np.arange(n) % 2
    X = rng.uniform(0.0, 0.3, size=(n, *SHAPE)).astype(np.float32)
    X[y == 1, :, ::4, :] += 0.6
    X[y == 0, :, :, ::4] += 0.6
    return np.clip(X, 0.0, 1.0), y


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    """Poisoned 4096-d feature problem: 20 training points (4 poisons), 6 backdoor test points."""
    torch.manual_seed(0)
    module = alexnet_fc7()
    extractor = FeatureExtractor(module, torch.device("cpu"), quiet=True)
    cache = FeatureCache(
        tmp_path_factory.mktemp("features"),
        extractor.transform,
        extractor="alexnet-fc7",
        weights_sha256=state_dict_sha256(module.state_dict()),
    )
    rng = np.random.default_rng(0)
    X_train, y_train = striped_images(20, rng)
    X_test, y_test = striped_images(6, rng)
    spec, seed = TriggerSpec.badnet(8), 1
    seeded = np.random.default_rng(seed)
    trigger = spec.build(SHAPE, 2, seeded)
    poisoned = poison_training_set(X_train, y_train, trigger, 0.2, seeded, n_classes=2)
    X_backdoor, y_backdoor = backdoor_test_set(X_test, y_test, trigger, n_classes=2)
    source = FeatureSource("generated", "0-1", 0)
    # Only what the slope needs: the clean test split is not extracted here.
    clean_train = cache.get(source, "train", "clean", np.arange(20), X_train)
    triggered = triggered_features(
        cache,
        source,
        trigger_variant(spec, seed),
        poisoned,
        X_backdoor,
        train_indices=np.arange(20),
        backdoor_indices=np.arange(6),
    )
    X = poisoned_training_features(clean_train, triggered).astype(np.float64)
    X_bt = np.asarray(triggered.backdoor.load(), dtype=np.float64)
    assert extractor.n_images_ == 20 + poisoned.n_poison + 6
    return X, np.asarray(poisoned.y), np.asarray(poisoned.is_poison), X_bt, np.asarray(y_backdoor)


def models(X):
    """The four models, C scaled by the mean squared feature norm (a well-posed problem)."""
    scale = 1.0 / float(np.mean(np.sum(X**2, axis=1)))
    return {
        "svm": lambda: make_classifier("svm", 10 * scale),
        "logistic": lambda: make_classifier("logistic", 10 * scale),
        "ridge": lambda: make_classifier("ridge", scale),
        "svm-rbf": lambda: make_classifier("svm-rbf", 10.0, scale),
    }


def test_features_are_4096_d_with_fewer_points_than_features(problem):
    X, _, is_poison, X_backdoor, _ = problem
    assert X.shape == (20, ALEXNET_FEATURE_DIM) and X_backdoor.shape == (6, ALEXNET_FEATURE_DIM)
    assert X.shape[0] < X.shape[1] and is_poison.sum() == 4
    assert (X >= 0).all() and 0.2 < np.mean(X > 0) < 0.9  # ReLU outputs, not degenerate


def test_the_dense_hessian_guard_catches_a_dense_solve(problem, monkeypatch):
    X, y, is_poison, _, _ = problem
    monkeypatch.setattr(linalg, "primal_hessian", no_dense_hessian)
    with pytest.raises(AssertionError, match="dense"):
        LogisticClassifier(C=1.0, hessian="dense").fit(X, y, (~is_poison).astype(float))


@pytest.mark.parametrize("name", ["svm", "logistic", "ridge", "svm-rbf"])
def test_slope_forms_no_d_by_d_matrix(problem, name, monkeypatch):
    X, y, is_poison, X_backdoor, y_backdoor = problem
    monkeypatch.setattr(linalg, "primal_hessian", no_dense_hessian)
    make = models(X)[name]
    tracemalloc.start()
    try:
        model = make().fit(X, y, (~is_poison).astype(float))
        result = learning_slope(model, X, y, is_poison, X_backdoor, y_backdoor)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.status == "ok"
    assert peak < DENSE_HESSIAN_BYTES / 8, f"peak traced memory {peak / 1e6:.1f} MB"


@pytest.mark.parametrize("name", ["svm", "logistic", "ridge", "svm-rbf"])
def test_slope_matches_finite_differences_of_retraining(problem, name):
    X, y, is_poison, X_backdoor, y_backdoor = problem
    make = models(X)[name]
    model = make().fit(X, y, (~is_poison).astype(float))
    result = learning_slope(model, X, y, is_poison, X_backdoor, y_backdoor)
    delta = 1e-6
    retrained = make().fit(X, y, np.where(is_poison, delta, 1.0))
    expected = (
        retrained.loss(X_backdoor, y_backdoor).mean() - model.loss(X_backdoor, y_backdoor).mean()
    ) / delta
    assert result.status == "ok"
    assert abs(expected) > 1e-3  # the poisons move the backdoor loss
    assert result.slope == pytest.approx(expected, rel=1e-4)
