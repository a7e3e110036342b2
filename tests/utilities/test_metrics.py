"""Tests of accuracy, clean accuracy and backdoor accuracy."""

import numpy as np
import pytest

from backdoor_curves.utilities.metrics import accuracy, backdoor_accuracy, clean_accuracy


class SignOfFirstFeature:
    """Predicts 1 when the first feature is positive, else 0."""

    def predict(self, X):
        return (X[:, 0] > 0).astype(np.int64)


def test_accuracy_counts_matches():
    assert accuracy(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])) == 0.75
    assert accuracy(np.array([2]), np.array([2])) == 1.0
    assert isinstance(accuracy(np.array([0, 1]), np.array([1, 1])), float)


def test_accuracy_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r"same length; got 3 and 2"):
        accuracy(np.array([0, 1, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"empty.*0 labels"):
        accuracy(np.array([], dtype=int), np.array([], dtype=int))
    with pytest.raises(ValueError, match=r"y_pred must be a 1-D.*\(2, 1\)"):
        accuracy(np.array([0, 1]), np.array([[0], [1]]))


def test_clean_and_backdoor_accuracy_use_the_given_labels():
    model = SignOfFirstFeature()
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 5.0], [-3.0, 1.0]])
    y_true = np.array([1, 0, 0, 0])
    assert clean_accuracy(model, X, y_true) == 0.75
    # BA is measured against the target labels: predicting them all is a 100% success rate.
    y_target = np.array([1, 0, 1, 0])
    assert backdoor_accuracy(model, X, y_target) == 1.0
    assert backdoor_accuracy(model, X, 1 - y_target) == 0.0


def test_model_accuracy_needs_2d_inputs_of_matching_length():
    model = SignOfFirstFeature()
    with pytest.raises(ValueError, match=r"2-D.*\(2, 1, 2, 2\).*reshape"):
        clean_accuracy(model, np.zeros((2, 1, 2, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"3 samples but 2 labels"):
        backdoor_accuracy(model, np.zeros((3, 2)), np.array([0, 1]))
