"""The model registry: names, unknown names, and a model added the way a user would."""

import numpy as np
import pytest

from backdoor_curves.classifiers import (
    RBFSVM,
    LinearSVM,
    RidgeClassifier,
    classifier_names,
    make_classifier,
    parse_classifier,
    register_classifier,
    registry,
    uses_gamma,
)


def test_the_paper_models_are_registered_in_sweep_order():
    assert classifier_names()[:4] == ("svm", "svm-rbf", "logistic", "ridge")
    assert [uses_gamma(name) for name in classifier_names()[:4]] == [False, True, False, False]
    assert isinstance(make_classifier("svm", 2.0), LinearSVM)
    rbf = make_classifier("svm-rbf", 2.0, 0.5)
    assert isinstance(rbf, RBFSVM) and (rbf.C, rbf.gamma) == (2.0, 0.5)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"unknown classifier .knn.; valid classifiers: svm, svm-rbf, "
    ):
        parse_classifier("knn")
    with pytest.raises(ValueError, match=r"unknown classifier 'knn'"):
        make_classifier("knn", 1.0)


@pytest.mark.parametrize(
    ("name", "gamma", "message"),
    [("svm-rbf", None, "svm-rbf needs gamma"), ("ridge", 0.1, "ridge has no gamma")],
)
def test_gamma_is_required_exactly_by_kernel_width_models(name, gamma, message):
    with pytest.raises(ValueError, match=message):
        make_classifier(name, 1.0, gamma)


def test_a_user_model_registers_by_name(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_classifier("double-ridge")
    class DoubleRidge(RidgeClassifier):
        """Ridge at twice the given C."""

        def __init__(self, C: float = 1.0) -> None:
            super().__init__(2.0 * C)

    assert classifier_names()[-1] == "double-ridge"
    assert not uses_gamma("double-ridge")
    model = make_classifier("double-ridge", 3.0)
    assert isinstance(model, DoubleRidge) and model.C == 6.0
    X = np.random.default_rng(0).normal(size=(12, 2))
    y = (X[:, 0] > 0).astype(int)
    np.testing.assert_allclose(
        model.fit(X, y).decision_function(X),
        RidgeClassifier(6.0).fit(X, y).decision_function(X),
    )
    with pytest.raises(ValueError, match=r"'double-ridge' is already registered"):
        register_classifier("double-ridge")(DoubleRidge)
