"""Poisoning of user image arrays (``backdoor_curves.api.images``) against hand-written numpy.

The oracles redo each documented rule by hand: the badnet patterns are the seed's first draw
``uniform(0, 1, (K, C, s, s))`` as float32, then ``round(fraction * n_eligible)`` poisons are
drawn without replacement among the eligible rows; a trigger value ``t`` in [0, 1] lands on
``low + t (high - low)``; a mask trigger replaces the masked pixels by the pattern. Every
pixel outside the trigger must come back byte for byte.
"""

import numpy as np
import pytest

from backdoor_curves.api import MaskTrigger, TriggerSpec, backdoor_test_set, poison
from backdoor_curves.attacks.triggers import BadNetTrigger

RANGES = {"uint8-like": (0.0, 255.0), "symmetric": (-1.0, 1.0)}
SHAPES = {"n,H,W": (6, 6), "n,C,H,W": (3, 6, 6)}


def images_in(value_range, image_shape, n, seed=0):
    """``n`` images of ``image_shape`` strictly inside ``value_range`` (whole numbers for 255)."""
    low, high = value_range
    rng = np.random.default_rng(seed)
    if high - low > 2:
        return rng.integers(low + 1, high, size=(n, *image_shape)).astype(np.float64)
    return rng.uniform(low + 0.1, high - 0.1, size=(n, *image_shape))


def cycled_labels(classes, n):
    return np.array([classes[i % len(classes)] for i in range(n)])


@pytest.mark.parametrize("value_range", RANGES.values(), ids=RANGES.keys())
@pytest.mark.parametrize("image_shape", SHAPES.values(), ids=SHAPES.keys())
def test_badnet_spec_poisons_the_hand_drawn_rows_with_the_hand_drawn_patches(
    image_shape, value_range
):
    n, size, fraction, seed = 20, 2, 0.3, 7
    X = images_in(value_range, image_shape, n)
    y = cycled_labels([4, 1], n)  # classes sorted: 1 -> pattern 0, 4 -> pattern 1
    data = poison(X, y, TriggerSpec.badnet(size), fraction, value_range=value_range, seed=seed)

    low, high = value_range
    channels = image_shape[0] if len(image_shape) == 3 else 1
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(0.0, 1.0, size=(2, channels, size, size)).astype(np.float32)
    chosen = np.sort(rng.choice(n, size=round(fraction * n), replace=False))
    expected = X.reshape(n, channels, *image_shape[-2:]).copy()
    for i in chosen:
        pattern = patterns[0 if y[i] == 1 else 1].astype(np.float64)
        expected[i, :, -size:, -size:] = low + (high - low) * pattern
    expected_y = y.copy()
    expected_y[chosen] = np.where(y[chosen] == 1, 4, 1)  # "next" swaps two classes

    np.testing.assert_array_equal(np.flatnonzero(data.is_poison), chosen)
    np.testing.assert_allclose(data.X, expected.reshape(X.shape), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(data.X[~data.is_poison], X[~data.is_poison])
    np.testing.assert_array_equal(data.y, expected_y)
    np.testing.assert_array_equal(data.source_labels, y)


@pytest.mark.parametrize("value_range", RANGES.values(), ids=RANGES.keys())
@pytest.mark.parametrize("image_shape", SHAPES.values(), ids=SHAPES.keys())
def test_trigger_values_0_and_1_land_on_the_range_extremes(image_shape, value_range):
    channels = image_shape[0] if len(image_shape) == 3 else 1
    patterns = np.zeros((2, channels, 2, 2), dtype=np.float32)
    patterns[0, :, 0, 0] = patterns[0, :, 1, 1] = 1.0  # class 0: diagonal at the top
    patterns[1, :, 0, 1] = 1.0  # class 1: one corner at the top
    trigger = BadNetTrigger(
        TriggerSpec.badnet(2), (channels, *image_shape[-2:]), patterns, origin=(1, 2)
    )
    X = images_in(value_range, image_shape, 6)
    y = cycled_labels([0, 1], 6)
    X_backdoor, y_backdoor = backdoor_test_set(X, y, trigger, value_range=value_range)

    low, high = value_range
    expected = X.reshape(6, channels, *image_shape[-2:]).copy()
    for i in range(6):
        expected[i, :, 1:3, 2:4] = np.where(patterns[y[i]] == 1.0, high, low)
    np.testing.assert_array_equal(X_backdoor, expected.reshape(X.shape))
    np.testing.assert_array_equal(y_backdoor, 1 - y)


def test_invisible_trigger_reaches_the_top_of_a_normalised_range_exactly():
    # ImageNet-style normalisation; low + (high - low) * 1 rounds one ulp above high here,
    # so a trigger clipped to the top of [0, 1] must still come back inside the range.
    value_range = (-0.485 / 0.229, (1 - 0.485) / 0.229)
    low, high = value_range
    X = np.full((2, 4, 4), high)
    X[:, 1::2, :] = low  # odd rows: off the grid, must not move
    trigger = TriggerSpec.invisible(0.5).build((1, 4, 4), 2, np.random.default_rng(0))
    X_backdoor, _ = backdoor_test_set(X, np.array([0, 1]), trigger, value_range=value_range)
    np.testing.assert_array_equal(X_backdoor, X)


def test_fixed_target_poisons_round_fraction_of_the_other_classes_only():
    # 15 points outside the target class 5; round(0.3 * 15) = round(4.5) = 4 (halves to even)
    y = np.array([1] * 8 + [5] * 6 + [9] * 7)
    X = images_in((0.0, 1.0), (4, 4), len(y))
    data = poison(X, y, TriggerSpec.badnet(1), 0.3, value_range=(0, 1), target=5, seed=3)
    assert data.is_poison.sum() == 4
    assert not data.is_poison[y == 5].any()
    np.testing.assert_array_equal(data.y[data.is_poison], 5)
    np.testing.assert_array_equal(data.y[~data.is_poison], y[~data.is_poison])
    np.testing.assert_array_equal(data.source_labels, y)


def test_next_target_follows_the_sorted_labels_cyclically():
    y = np.array(["dog", "ant", "cat", "dog", "ant"])
    X = images_in((0.0, 1.0), (3, 3), len(y))
    X_backdoor, y_backdoor = backdoor_test_set(
        X, y, lambda images, labels: images, value_range=(0, 1)
    )
    following = {"ant": "cat", "cat": "dog", "dog": "ant"}
    np.testing.assert_array_equal(y_backdoor, [following[label] for label in y])
    np.testing.assert_array_equal(X_backdoor, X)


def test_backdoor_test_set_with_a_fixed_target_drops_its_points_and_keeps_the_order():
    y = np.array([2, 0, 1, 2, 1, 0])
    X = images_in((0.0, 1.0), (3, 3), len(y))
    mask = np.zeros((3, 3), dtype=bool)
    mask[0, 0] = True
    X_backdoor, y_backdoor = backdoor_test_set(
        X, y, MaskTrigger(mask, np.ones((3, 3))), value_range=(0, 1), target=2
    )
    kept = [1, 2, 4, 5]
    expected = X[kept].copy()
    expected[:, 0, 0] = 1.0
    np.testing.assert_array_equal(X_backdoor, expected)
    np.testing.assert_array_equal(y_backdoor, [2, 2, 2, 2])


def test_same_seed_same_poisons_other_seed_other_rows():
    y = cycled_labels([0, 1, 2], 60)
    X = images_in((0.0, 255.0), (2, 5, 5), len(y))
    spec = TriggerSpec.badnet(2, position="top-left")
    runs = [poison(X, y, spec, 0.2, value_range=(0, 255), seed=s) for s in (11, 11, 12)]
    from_generator = poison(X, y, spec, 0.2, value_range=(0, 255), seed=np.random.default_rng(11))
    for again in (runs[1], from_generator):
        np.testing.assert_array_equal(again.X, runs[0].X)
        np.testing.assert_array_equal(again.y, runs[0].y)
        np.testing.assert_array_equal(again.is_poison, runs[0].is_poison)
    assert runs[2].is_poison.sum() == runs[0].is_poison.sum() == 12
    assert not np.array_equal(runs[2].is_poison, runs[0].is_poison)


@pytest.mark.parametrize("image_shape", SHAPES.values(), ids=SHAPES.keys())
def test_mask_trigger_replaces_exactly_the_masked_pixels_by_the_pattern(image_shape):
    n = 10
    X = images_in((0.0, 255.0), image_shape, n)
    y = cycled_labels([0, 1], n)
    mask = np.zeros(image_shape[-2:], dtype=bool)
    mask[0, :] = mask[:, -1] = True  # top row and right column, every channel
    if len(image_shape) == 3:
        pattern = np.array([255.0, 0.0, 128.0])[:, None, None]  # one colour per channel
    else:
        pattern = np.full(image_shape, 200.0)
    data = poison(X, y, MaskTrigger(mask, pattern), 0.5, value_range=(0, 255), seed=0)

    expected = X.copy()
    for i in np.flatnonzero(data.is_poison):
        if len(image_shape) == 3:
            for c, colour in enumerate([255.0, 0.0, 128.0]):
                expected[i, c][mask] = colour
        else:
            expected[i][mask] = 200.0
    assert data.is_poison.sum() == 5
    np.testing.assert_array_equal(data.X, expected)


def test_function_trigger_gets_copies_of_the_chosen_rows_and_their_source_labels():
    seen = []

    def stamp(images, labels):
        seen.append((images.shape, labels.copy()))
        images[:, 0, 0] = np.where(labels == 7, 1.0, -1.0)  # writes into its own copies
        return images

    y = np.array([7, 3] * 5)
    X = images_in((-1.0, 1.0), (4, 4), len(y))
    X_before = X.copy()
    data = poison(X, y, stamp, 0.4, value_range=(-1, 1), seed=5)

    assert seen[0][0] == (4, 4, 4)
    np.testing.assert_array_equal(seen[0][1], y[data.is_poison])
    expected = X_before.copy()
    expected[data.is_poison, 0, 0] = np.where(y[data.is_poison] == 7, 1.0, -1.0)
    np.testing.assert_array_equal(data.X, expected)
    np.testing.assert_array_equal(X, X_before)


@pytest.mark.parametrize(
    "trigger",
    [
        TriggerSpec.badnet(2),
        TriggerSpec.invisible(),
        MaskTrigger(np.eye(5, dtype=bool), np.zeros((5, 5))),
        lambda images, labels: np.clip(images.__iadd__(10.0), 0, 255),
    ],
    ids=["badnet", "invisible", "mask", "function"],
)
def test_the_users_arrays_are_not_modified_and_the_results_are_read_only(trigger):
    X = images_in((0.0, 255.0), (2, 5, 5), 8)
    y = cycled_labels(["a", "b"], 8)
    X_before, y_before = X.copy(), y.copy()
    data = poison(X, y, trigger, 0.5, value_range=(0, 255), seed=1)
    X_backdoor, y_backdoor = backdoor_test_set(X, y, data.trigger, value_range=(0, 255))
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    for array in (data.X, data.y, data.is_poison, data.source_labels, X_backdoor, y_backdoor):
        assert not array.flags.writeable


def test_integer_images_become_float64_and_floating_images_keep_their_dtype():
    y = cycled_labels([0, 1], 6)
    X8 = images_in((0.0, 255.0), (4, 4), 6).astype(np.uint8)
    X32 = (X8 / 255.0).astype(np.float32)
    mask = np.zeros((4, 4), dtype=bool)
    mask[2, 2] = True
    data8 = poison(X8, y, MaskTrigger(mask, 255.0), 0.5, value_range=(0, 255), seed=0)
    data32 = poison(X32, y, MaskTrigger(mask, 1.0), 0.5, value_range=(0, 1), seed=0)
    assert data8.X.dtype == np.float64 and data32.X.dtype == np.float32
    np.testing.assert_array_equal(data8.X[~data8.is_poison], X8[~data8.is_poison])
    np.testing.assert_array_equal(data8.X[data8.is_poison, 2, 2], 255.0)


# --- refusals -----------------------------------------------------------------------------------
def _X(shape=(4, 3, 3), value=0.5):
    return np.full(shape, value)


Y = np.array([0, 1, 0, 1])
MASK = np.eye(3, dtype=bool)
SPEC = TriggerSpec.badnet(1)
POISON_REFUSALS = {
    "2-D X": (dict(X=np.zeros((4, 9))), ValueError, "X must hold images of shape"),
    "5-D X": (dict(X=np.zeros((4, 1, 1, 3, 3))), ValueError, "X must hold images of shape"),
    "no image": (dict(X=np.zeros((0, 3, 3)), y=np.zeros(0)), ValueError, "X must hold images"),
    "complex X": (dict(X=_X().astype(complex)), ValueError, "X must hold real numbers"),
    "text X": (dict(X=np.full((4, 3, 3), "a")), ValueError, "X must hold real numbers"),
    "short y": (dict(y=Y[:3]), ValueError, r"y has shape \(3,\), expected \(4,\)"),
    "one class": (dict(y=np.zeros(4)), ValueError, "y must hold at least two classes"),
    "X above the range": (dict(X=_X(value=1.5)), ValueError, "X hold values .* outside value_r"),
    "X below the range": (dict(X=_X(value=-0.5)), ValueError, "outside value_range"),
    "NaN in X": (dict(X=_X(value=np.nan)), ValueError, "X hold non-finite values"),
    "range upside down": (dict(value_range=(1, 0)), ValueError, "value_range must be"),
    "range of one": (dict(value_range=(1,)), ValueError, "value_range must be"),
    "range infinite": (dict(value_range=(0, np.inf)), ValueError, "value_range must be"),
    "fraction 0": (dict(fraction=0.0), ValueError, r"fraction must be a number in \(0, 1\)"),
    "fraction 1": (dict(fraction=1.0), ValueError, r"fraction must be a number in \(0, 1\)"),
    "fraction NaN": (dict(fraction=np.nan), ValueError, "fraction must be"),
    "fraction bool": (dict(fraction=True), ValueError, "fraction must be"),
    "fraction text": (dict(fraction="0.5"), ValueError, "fraction must be"),
    "no poison": (dict(fraction=0.1), ValueError, "fraction=0.1 of 4 eligible .* rounds to 0"),
    "unknown target": (dict(target=3), ValueError, r"target=3 is not a class of y \[0, 1\]"),
    "float seed": (dict(seed=1.5), TypeError, "seed must be an int"),
    "negative seed": (dict(seed=-1), ValueError, "seed must be"),
    "mask too small": (
        dict(trigger=MaskTrigger(np.eye(2, dtype=bool), 1.0)),
        ValueError,
        r"mask \(2, 2\) and pattern \(\) do not broadcast to the image shape \(3, 3\)",
    ),
    "pattern too big": (
        dict(trigger=MaskTrigger(MASK, np.ones((2, 3, 3)))),
        ValueError,
        "mask .* and pattern .* do not broadcast to the image shape",
    ),
    "pattern outside the range": (
        dict(trigger=MaskTrigger(MASK, 2.0)),
        ValueError,
        "the triggered images hold values .* outside value_range",
    ),
    "function changes the shape": (
        dict(trigger=lambda images, labels: images[:, :2]),
        ValueError,
        r"the trigger function returned shape \(2, 2, 3\) for images of shape \(2, 3, 3\)",
    ),
    "function leaves the range": (
        dict(trigger=lambda images, labels: images + 1.0),
        ValueError,
        "the triggered images hold values .* outside value_range",
    ),
    "not a trigger": (dict(trigger=3), TypeError, "trigger must be a TriggerSpec"),
    "spec for other images": (
        dict(trigger=SPEC.build((1, 4, 4), 2, np.random.default_rng(0))),
        ValueError,
        r"the trigger was built for 2 classes of images \(1, 4, 4\)",
    ),
    "spec for fewer classes": (
        dict(y=np.array([0, 1, 2, 2]), trigger=SPEC.build((1, 3, 3), 2, np.random.default_rng(0))),
        ValueError,
        "the trigger was built for 2 classes",
    ),
}


@pytest.mark.parametrize(
    ("changes", "error", "message"), POISON_REFUSALS.values(), ids=POISON_REFUSALS.keys()
)
def test_poison_refuses_with_one_error_naming_the_parameter(changes, error, message):
    arguments = dict(X=_X(), y=Y, trigger=SPEC, fraction=0.5, value_range=(0, 1), seed=0)
    arguments.update(changes)
    with pytest.raises(error, match=message):
        poison(
            arguments["X"],
            arguments["y"],
            arguments["trigger"],
            arguments["fraction"],
            value_range=arguments["value_range"],
            target=arguments.get("target", "next"),
            seed=arguments["seed"],
        )


@pytest.mark.parametrize("fraction", [0.0, 0.1])
def test_a_refused_poisoning_draws_nothing_from_the_callers_generator(fraction):
    generator = np.random.default_rng(0)
    state = generator.bit_generator.state
    with pytest.raises(ValueError, match="fraction"):
        poison(_X(), Y, SPEC, fraction, value_range=(0, 1), seed=generator)
    assert generator.bit_generator.state == state


@pytest.mark.parametrize(
    "invalid",
    [dict(mask=np.ones((3, 3))), dict(mask=np.zeros((3, 3), dtype=bool))],
    ids=["not bool", "empty"],
)
def test_mask_trigger_refuses_a_mask_that_is_not_bool_or_has_no_pixel(invalid):
    with pytest.raises(ValueError, match="mask must be a bool array with a True pixel"):
        MaskTrigger(**{"mask": MASK, "pattern": 1.0, **invalid})


def test_mask_trigger_refuses_non_finite_patterns_and_unbroadcastable_pairs():
    with pytest.raises(ValueError, match="pattern must hold finite values"):
        MaskTrigger(MASK, np.nan)
    with pytest.raises(ValueError, match=r"mask \(3, 3\) and pattern \(2,\) do not broadcast"):
        MaskTrigger(MASK, np.ones(2))


def test_backdoor_test_set_refusals():
    data = poison(_X(), Y, SPEC, 0.5, value_range=(0, 1), seed=0)
    with pytest.raises(TypeError, match="trigger is a TriggerSpec"):
        backdoor_test_set(_X(), Y, SPEC, value_range=(0, 1))
    with pytest.raises(ValueError, match=r"built for images \(3, 3\) in \(0.0, 1.0\), got \(4,"):
        backdoor_test_set(_X((4, 4, 4)), Y, data.trigger, value_range=(0, 1))
    with pytest.raises(ValueError, match="built for images .* got .* in \\(0.0, 2.0\\)"):
        backdoor_test_set(_X(), Y, data.trigger, value_range=(0, 2))
    with pytest.raises(ValueError, match=r"y holds labels \[2\] the trigger was not built for"):
        backdoor_test_set(_X(), np.array([0, 1, 2, 2]), data.trigger, value_range=(0, 1))
    with pytest.raises(ValueError, match="no test point is eligible: every label is the target 1"):
        backdoor_test_set(_X(), np.ones(4, int), data.trigger, value_range=(0, 1), target=1)
    with pytest.raises(ValueError, match="X hold values"):
        backdoor_test_set(_X(value=2.0), Y, data.trigger, value_range=(0, 1))
