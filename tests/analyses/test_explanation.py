"""The measures of an explanation, computed by hand on a small explanation."""

from __future__ import annotations

import numpy as np

from backdoor_curves.analyses.explanation import (
    NOT_RANKED,
    ExplainedProblem,
    Explanation,
    explain,
    measure_explanation,
)
from backdoor_curves.attacks.explanations import (
    PixelFeatures,
    top_k_influential,
    training_influence,
)
from backdoor_curves.classifiers.logistic import LogisticClassifier


def problem(n_train: int = 5, n_images: int = 3, seed: int = 0) -> ExplainedProblem:
    """A tiny problem of 1 x 2 x 2 images; the trigger mask is the last pixel."""
    rng = np.random.default_rng(seed)
    train_images = rng.normal(size=(n_train, 1, 2, 2))
    images = rng.normal(size=(n_images, 1, 2, 2))
    y_train = np.arange(n_train) % 2
    mask = np.zeros((1, 2, 2), dtype=bool)
    mask[0, 1, 1] = True
    X_images = images.reshape(n_images, -1)
    return ExplainedProblem(
        train_images=train_images,
        X_train=train_images.reshape(n_train, -1),
        y_train=y_train,
        is_poison=np.array([False, True, False, False, True])[:n_train],
        X_test=X_images,
        y_test=np.ones(n_images, dtype=np.int64),
        images=images,
        X_images=X_images,
        y_images=np.ones(n_images, dtype=np.int64),
        X_backdoor=X_images,
        y_backdoor=np.ones(n_images, dtype=np.int64),
        mask=mask,
    )


def explanation(influence: np.ndarray, status: str = "ok") -> Explanation:
    gradient = np.array([[1.0, 1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, 1.0]])
    return Explanation(
        gradient=gradient.reshape(3, 1, 2, 2),
        influence=influence,
        top=top_k_influential(influence, 2),
        n_solves=3,
        damping=0.0,
        condition_number=4.0,
        status=status,
    )


INFLUENCE = np.array(
    [
        [0.5, -2.0, 0.0, 0.0, 1.0],  # top (1, 4): ranked, both poisons
        [0.0, 0.0, 3.0, 0.0, 0.0],  # top (2, 0): the 2nd influence is 0, not ranked
        [1.0, 1.0, 0.0, 0.0, 0.0],  # top (0, 1): ranked, one poison
    ]
)


def test_measures_by_hand() -> None:
    measures = measure_explanation(explanation(INFLUENCE), problem())
    # |g| inside the mask: 2/4, nothing (NaN, left out), 1/4.
    assert measures.trigger_share == 0.375 and measures.trigger_share_median == 0.375
    assert measures.area_share == 0.25
    assert measures.n_images_ranked == 2
    assert measures.poison_share == 0.75 and measures.poison_share_median == 0.75
    assert measures.positive_share == 0.75  # -2, 1, 1, 1
    assert measures.solves_per_image == 1.0 and measures.status == "ok"


def test_nothing_ranked_is_a_status_and_nan_shares() -> None:
    influence = np.zeros((3, 5))
    influence[:, 0] = 1.0  # one non-zero influence per image, k = 2
    measures = measure_explanation(explanation(influence), problem())
    assert measures.status == NOT_RANKED and measures.n_images_ranked == 0
    assert np.isnan(measures.poison_share) and np.isnan(measures.positive_share)


def test_an_undefined_influence_keeps_its_status() -> None:
    measures = measure_explanation(explanation(INFLUENCE, "no margin support vectors"), problem())
    assert measures.status == "no margin support vectors" and measures.n_images_ranked == 0


def test_explain_is_the_gradients_and_the_top_k_of_the_influence() -> None:
    explained = problem()
    weight = np.ones(5)
    model = LogisticClassifier(C=1.0).fit(explained.X_train, explained.y_train, weight)
    result = explain(model, explained, weight, 2, PixelFeatures())
    expected = training_influence(
        model, explained.X_train, explained.y_train, weight, explained.X_images, explained.y_images
    )
    np.testing.assert_array_equal(result.influence, expected.margin)
    np.testing.assert_array_equal(result.top, top_k_influential(expected.margin, 2))
    np.testing.assert_allclose(
        result.gradient.reshape(3, -1), model.input_gradient(explained.X_images)
    )
    assert result.n_solves == 3 and result.status == "ok"
