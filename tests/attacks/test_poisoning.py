"""Tests of training-set poisoning, target policies and the backdoor test set."""

import numpy as np
import pytest

from backdoor_curves.attacks.poisoning import (
    NEXT_CLASS,
    PoisonedSet,
    TargetPolicy,
    backdoor_test_set,
    poison_training_set,
)
from backdoor_curves.attacks.triggers import TriggerSpec

SHAPE = (1, 6, 6)


def dataset(n=40, n_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, *SHAPE), dtype=np.float32)
    y = np.arange(n, dtype=np.int64) % n_classes
    return X, y


def badnet(n_sources=2, seed=0):
    return TriggerSpec.badnet(2).build(SHAPE, n_sources, np.random.default_rng(seed))


def poison(X, y, fraction=0.25, seed=1, n_classes=2, policy=NEXT_CLASS, trigger=None):
    trigger = badnet(n_classes) if trigger is None else trigger
    return poison_training_set(
        X, y, trigger, fraction, np.random.default_rng(seed), n_classes=n_classes, policy=policy
    )


# ---------------------------------------------------------------- target policy


def test_next_policy_flips_binary_labels_and_cycles_multiclass():
    policy = TargetPolicy.next()
    np.testing.assert_array_equal(policy.targets(np.array([0, 1, 1]), 2), [1, 0, 0])
    np.testing.assert_array_equal(policy.targets(np.array([0, 1, 2, 3]), 4), [1, 2, 3, 0])
    assert policy.candidates(np.array([0, 1, 2])).all()


def test_fixed_policy_targets_and_candidates():
    policy = TargetPolicy.fixed(2)
    y = np.array([0, 2, 1, 2])
    np.testing.assert_array_equal(policy.targets(y, 3), [2, 2, 2, 2])
    np.testing.assert_array_equal(policy.candidates(y), [True, False, True, False])


def test_parse_policy():
    assert TargetPolicy.parse("next") == TargetPolicy.next()
    assert TargetPolicy.parse(" 3 ") == TargetPolicy.fixed(3)
    assert TargetPolicy.parse(TargetPolicy.fixed(4).label) == TargetPolicy.fixed(4)
    with pytest.raises(ValueError, match=r"unknown target policy 'previous'.*'next'"):
        TargetPolicy.parse("previous")
    with pytest.raises(ValueError, match=r"'-1'"):
        TargetPolicy.parse("-1")


def test_bad_policies_raise_naming_the_value():
    with pytest.raises(ValueError, match=r"got -2"):
        TargetPolicy.fixed(-2)
    with pytest.raises(ValueError, match=r"got True"):
        TargetPolicy.fixed(True)
    with pytest.raises(ValueError, match=r"fixed target class 5 .* n_classes=3"):
        TargetPolicy.fixed(5).targets(np.array([0, 1]), 3)
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.1; got \[2\]"):
        TargetPolicy.next().targets(np.array([0, 2]), 2)


# ---------------------------------------------------------------- poisoning


@pytest.mark.parametrize(
    ("n", "fraction"), [(40, 0.25), (40, 0.1), (37, 0.3), (10, 0.15), (10, 0.25)]
)
def test_exact_poison_count(n, fraction):
    X, y = dataset(n)
    result = poison(X, y, fraction)
    assert result.n_poison == round(fraction * n)
    assert result.is_poison.sum() == result.n_poison
    assert len(result.poison_indices) == result.n_poison
    assert len(result.X) == n  # replaced, not appended


def test_next_policy_flips_poison_labels_and_keeps_clean_rows():
    X, y = dataset()
    result = poison(X, y)
    mask = result.is_poison
    np.testing.assert_array_equal(result.y[mask], 1 - y[mask])
    np.testing.assert_array_equal(result.y[~mask], y[~mask])
    np.testing.assert_array_equal(result.source_labels, y)
    assert result.X[~mask].tobytes() == X[~mask].tobytes()
    assert result.y.dtype == np.int64 and result.is_poison.dtype == np.bool_


def test_poison_rows_are_triggered_copies_with_their_source_pattern():
    X, y = dataset()
    trigger = badnet()
    result = poison(X, y, trigger=trigger)
    idx = result.poison_indices
    expected = trigger.apply(X[idx], y[idx])
    assert result.X[idx].tobytes() == expected.tobytes()
    assert not np.array_equal(result.X[idx], X[idx])
    assert result.trigger is trigger


def test_fixed_policy_poisons_only_non_target_points():
    X, y = dataset(n=60, n_classes=3)
    result = poison(
        X, y, fraction=0.5, n_classes=3, policy=TargetPolicy.fixed(1), trigger=badnet(3)
    )
    n_candidates = int(np.sum(y != 1))
    assert result.n_poison == round(0.5 * n_candidates)
    assert np.all(result.source_labels[result.is_poison] != 1)
    assert np.all(result.y[result.is_poison] == 1)


def test_inputs_are_not_modified():
    X, y = dataset()
    X_before, y_before = X.copy(), y.copy()
    poison(X, y)
    backdoor_test_set(X, y, badnet(), n_classes=2)
    assert X.tobytes() == X_before.tobytes() and y.tobytes() == y_before.tobytes()
    assert X.flags.writeable and y.flags.writeable


def test_same_seed_identical_bytes_other_seed_other_choice():
    X, y = dataset()
    first = poison(X, y, seed=3)
    again = poison(X, y, seed=3)
    other = poison(X, y, seed=4)
    for name in ("X", "y", "is_poison", "source_labels"):
        assert getattr(first, name).tobytes() == getattr(again, name).tobytes()
    assert not np.array_equal(first.is_poison, other.is_poison)


def test_results_are_read_only():
    X, y = dataset()
    result = poison(X, y)
    for name in ("X", "y", "is_poison", "source_labels"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(result, name)[0] = 0
    X_bd, y_bd = backdoor_test_set(X, y, badnet(), n_classes=2)
    with pytest.raises(ValueError, match="read-only"):
        y_bd[0] = 0
    with pytest.raises(ValueError, match="read-only"):
        X_bd[0] = 0


def test_choice_is_uniform_over_candidates():
    # Over many seeds every candidate is chosen about fraction of the time.
    X, y = dataset(n=20, n_classes=2)
    counts = np.zeros(20)
    for seed in range(200):
        counts += poison(X, y, fraction=0.25, seed=seed).is_poison
    assert counts.sum() == 200 * 5
    assert counts.min() > 20 and counts.max() < 80  # expected 50 each


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5, float("nan"), True])
def test_fraction_outside_open_unit_interval_raises(fraction):
    X, y = dataset()
    with pytest.raises(ValueError, match=rf"fraction must be a number in \(0, 1\); got {fraction}"):
        poison(X, y, fraction=fraction)


def test_fraction_rounding_to_zero_raises_with_counts():
    X, y = dataset(n=10)
    with pytest.raises(ValueError, match=r"0\.04 of 10 eligible points rounds to 0 poisons"):
        poison(X, y, fraction=0.04)


def test_poisoning_rejects_bad_inputs():
    X, y = dataset()
    with pytest.raises(ValueError, match=r"40 images but 39 labels"):
        poison(X, y[:-1])
    with pytest.raises(ValueError, match=r"got \[2\]"):
        poison(X, np.where(y == 1, 2, y))
    with pytest.raises(ValueError, match=r"n_classes=1"):
        poison(X, y, n_classes=1)
    with pytest.raises(ValueError, match=r"\(n, C, H, W\); got shape \(40, 36\)"):
        poison(X.reshape(40, -1), y)
    with pytest.raises(TypeError, match="Generator"):
        poison_training_set(X, y, badnet(), 0.1, 0, n_classes=2)


def test_poisoned_set_checks_consistency():
    X, y = dataset(n=4)
    mask = np.zeros(4, dtype=bool)
    with pytest.raises(ValueError, match=r"is_poison must have shape \(4,\)"):
        PoisonedSet(X=X, y=y, is_poison=mask[:3], trigger=badnet(), source_labels=y)
    with pytest.raises(ValueError, match=r"bool mask; got dtype int64"):
        PoisonedSet(X=X, y=y, is_poison=y, trigger=badnet(), source_labels=y)


# ---------------------------------------------------------------- backdoor test set


def test_backdoor_test_set_next_policy_uses_every_point():
    X, y = dataset(n=10)
    trigger = badnet()
    X_bd, y_bd = backdoor_test_set(X, y, trigger, n_classes=2)
    np.testing.assert_array_equal(y_bd, 1 - y)
    assert X_bd.tobytes() == trigger.apply(X, y).tobytes()


def test_backdoor_test_set_fixed_policy_excludes_target_class():
    X, y = dataset(n=12, n_classes=3)
    trigger = badnet(3)
    X_bd, y_bd = backdoor_test_set(X, y, trigger, n_classes=3, policy=TargetPolicy.fixed(0))
    keep = y != 0
    assert len(y_bd) == keep.sum() == 8
    assert np.all(y_bd == 0)
    assert X_bd.tobytes() == trigger.apply(X[keep], y[keep]).tobytes()


def test_backdoor_test_set_with_only_target_class_raises():
    X, y = dataset(n=4)
    with pytest.raises(ValueError, match=r"no test point is eligible.*'1'"):
        backdoor_test_set(
            X, np.ones(4, dtype=np.int64), badnet(), n_classes=2, policy=TargetPolicy.fixed(1)
        )
