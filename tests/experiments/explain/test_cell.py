"""One explanation cell on generated images: the problem keeps its images, rows are complete."""

from __future__ import annotations

import numpy as np
import pytest

from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.explain.cell import (
    EXPLAIN_COLUMNS,
    ExplainTask,
    ExplainWorkspaces,
    explain_group,
    explained_problem,
    run_explain_task,
)
from backdoor_curves.experiments.problem import DataRequest, poisoned_images
from backdoor_curves.experiments.workspace import WorkspaceFactory
from backdoor_curves.utilities.data import PairTask
from backdoor_curves.utilities.metrics import accuracy


def generated_pair(n_train: int = 40, n_test: int = 12) -> PairTask:
    rng = np.random.default_rng(0)
    y_train, y_test = np.arange(n_train) % 2, np.arange(n_test) % 2
    X_train = rng.uniform(size=(n_train, 1, 6, 6)).astype(np.float32)
    X_test = rng.uniform(size=(n_test, 1, 6, 6)).astype(np.float32)
    return PairTask("mnist", (7, 1), X_train, y_train, X_test, y_test, "generated")


def test_the_problem_keeps_the_images_of_its_features() -> None:
    pair, trigger = generated_pair(), TriggerSpec.badnet(2)
    problem = explained_problem(pair, trigger, 0.1, 3, 5, "pixels")
    images = poisoned_images(pair, trigger, 0.1, 3)  # the same seed: the same poisons
    np.testing.assert_array_equal(problem.train_images, images.poisoned.X)
    np.testing.assert_array_equal(problem.is_poison, images.poisoned.is_poison)
    np.testing.assert_array_equal(problem.images, images.X_backdoor[:5])
    np.testing.assert_array_equal(problem.X_images, problem.images.reshape(5, -1))
    np.testing.assert_array_equal(problem.X_train, problem.train_images.reshape(40, -1))
    assert problem.mask.shape == (1, 6, 6) and problem.mask.sum() == 4
    with pytest.raises(ValueError, match="--n-images 13 exceeds the backdoor test set"):
        explained_problem(pair, trigger, 0.1, 3, 13, "pixels")


def test_a_cell_writes_one_full_row_per_C_and_beta() -> None:
    request = DataRequest("mnist", "7-1", 40, 12, 0)
    task = ExplainTask(
        request, "pixels", TriggerSpec.badnet(2), 0.1, "logistic", None, (10.0, 0.1), 1, 3, 4
    )
    # The workspace holds the pair the driver loaded: no worker reads the data again.
    context = ExplainWorkspaces(WorkspaceFactory({request: generated_pair()}))([task])
    rows = run_explain_task(task, context)
    assert len(context.gradient_maps) == 1  # the group's maps keep what the task built
    assert [(row["C"], row["beta"]) for row in rows] == [
        (0.1, 0.0), (0.1, 1.0), (10.0, 0.0), (10.0, 1.0)
    ]  # fmt: skip
    assert all(set(row) == set(EXPLAIN_COLUMNS) for row in rows)
    assert all(row["features"] == "pixels" and row["n_poison"] == 4 for row in rows)
    assert all(row["solves_per_image"] == 1.0 for row in rows)


def test_the_classifiers_of_one_seed_share_a_group() -> None:
    request = DataRequest("mnist", "7-1", 40, 12, 0)
    trigger = TriggerSpec.badnet(2)
    tasks = [
        ExplainTask(request, "pixels", trigger, 0.1, clf, None, (1.0,), seed, 3, 4)
        for seed in (1, 2)
        for clf in ("svm", "logistic")
    ]
    keys = [explain_group(task) for task in tasks]
    assert keys[0] == keys[1] != keys[2] == keys[3]


def test_a_cell_matches_a_cold_fit_at_each_C() -> None:
    # The warm-started C path gives the models of cold fits: the accuracies agree.
    request = DataRequest("mnist", "7-1", 40, 12, 0)
    task = ExplainTask(
        request, "pixels", TriggerSpec.badnet(2), 0.1, "svm", None, (0.1, 10.0), 1, 3, 4
    )
    pair = generated_pair()
    rows = run_explain_task(task, ExplainWorkspaces(WorkspaceFactory({request: pair}))([task]))
    problem = explained_problem(pair, task.trigger, 0.1, 1, 4, "pixels")
    for row in rows:
        weight = np.ones(40) if row["beta"] == 1.0 else (~problem.is_poison).astype(float)
        model = make_classifier("svm", float(row["C"]), None).fit(
            problem.X_train, problem.y_train, weight
        )
        assert row["backdoor_acc"] == accuracy(
            problem.y_backdoor, model.predict(problem.X_backdoor)
        )
