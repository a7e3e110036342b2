"""Tests of the badnet and invisible triggers and of the trigger figure."""

import numpy as np
import pytest

from backdoor_curves.attacks.triggers import (
    BadNetTrigger,
    InvisibleTrigger,
    Position,
    TriggerKind,
    TriggerSpec,
)
from backdoor_curves.plots.triggers import plot_trigger_examples

SHAPE = (3, 8, 10)  # (C, H, W): H != W so that rows and columns cannot be swapped silently


def images(n=6, shape=SHAPE, seed=0):
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def build(spec, n_sources=3, seed=0, shape=SHAPE):
    return spec.build(shape, n_sources, np.random.default_rng(seed))


# ---------------------------------------------------------------- badnet


def test_badnet_changes_only_its_mask_and_writes_the_source_pattern():
    trigger = build(TriggerSpec.badnet(3))
    X = images()
    source = np.array([0, 1, 2, 0, 1, 2])
    out = trigger.apply(X, source)
    mask = trigger.mask
    assert mask.shape == SHAPE and mask.dtype == np.bool_
    assert mask.sum() == 3 * 3 * 3
    outside = ~mask
    np.testing.assert_array_equal(out[:, outside], X[:, outside])
    for i, k in enumerate(source):
        np.testing.assert_array_equal(out[i][mask], trigger.patterns[k].ravel())
    # x' = (1 - M) x + M t[source]
    M = mask.astype(np.float32)
    expected = np.stack(
        [
            (1 - M) * X[i] + M * np.pad(trigger.patterns[k], ((0, 0), (5, 0), (7, 0)))
            for i, k in enumerate(source)
        ]
    )
    np.testing.assert_allclose(out, expected, atol=0)


def test_badnet_patterns_distinct_per_source_and_inside_box():
    trigger = build(TriggerSpec.badnet(4, low=0.25, high=0.5), n_sources=5)
    assert isinstance(trigger, BadNetTrigger)
    assert trigger.patterns.shape == (5, 3, 4, 4)
    assert trigger.patterns.dtype == np.float32
    assert trigger.patterns.min() >= 0.25 and trigger.patterns.max() <= 0.5
    flat = trigger.patterns.reshape(5, -1)
    for a in range(5):
        for b in range(a + 1, 5):
            assert not np.array_equal(flat[a], flat[b])


def test_badnet_same_seed_same_patterns_other_seed_different():
    spec = TriggerSpec.badnet(3)
    first = build(spec, seed=7).patterns
    again = build(spec, seed=7).patterns
    other = build(spec, seed=8).patterns
    assert first.tobytes() == again.tobytes()
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(
    ("position", "origin"),
    [
        (Position.TOP_LEFT, (0, 0)),
        ("top-right", (0, 7)),
        ("bottom-left", (5, 0)),
        (Position.BOTTOM_RIGHT, (5, 7)),
        ((2, 4), (2, 4)),
    ],
)
def test_badnet_positions_place_the_patch(position, origin):
    trigger = build(TriggerSpec.badnet(3, position=position))
    assert trigger.origin == origin
    expected = np.zeros(SHAPE, dtype=bool)
    row, col = origin
    expected[:, row : row + 3, col : col + 3] = True
    np.testing.assert_array_equal(trigger.mask, expected)
    out = trigger.apply(np.zeros((1, *SHAPE), dtype=np.float32), np.array([1]))
    np.testing.assert_array_equal(out[0, :, row : row + 3, col : col + 3], trigger.patterns[1])


def test_badnet_patch_filling_the_image_is_allowed():
    trigger = build(TriggerSpec.badnet(8, position="top-left"))
    assert trigger.mask[:, :, :8].all() and not trigger.mask[:, :, 8:].any()


# ---------------------------------------------------------------- invisible


def test_invisible_adds_eps_on_even_grid_and_clips():
    eps = 10 / 255
    trigger = build(TriggerSpec.invisible(eps), shape=(2, 5, 6))
    assert isinstance(trigger, InvisibleTrigger)
    X = images(n=4, shape=(2, 5, 6))
    X[0, :, 0, 0] = 1.0  # must clip at 1
    X[1, :, 2, 4] = 0.99
    out = trigger.apply(X, np.array([0, 1, 2, 0]))
    rows, cols = np.indices((5, 6))
    grid = np.broadcast_to((rows % 2 == 0) & (cols % 2 == 0), (2, 5, 6))
    np.testing.assert_array_equal(trigger.mask, grid)
    np.testing.assert_array_equal(out[:, ~grid], X[:, ~grid])
    np.testing.assert_array_equal(out[:, grid], np.clip(X[:, grid] + np.float32(eps), 0, 1))
    assert out[0, 0, 0, 0] == 1.0 and out[1, 1, 2, 4] == 1.0
    assert out.dtype == np.float32


def test_invisible_is_the_same_for_every_source():
    trigger = build(TriggerSpec.invisible())
    X = np.repeat(images(n=1), 3, axis=0)
    out = trigger.apply(X, np.array([0, 1, 2]))
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])


def test_invisible_default_eps_is_75_over_255():
    spec = TriggerSpec.invisible()
    assert spec.eps == pytest.approx(75 / 255)


# ---------------------------------------------------------------- common behaviour


@pytest.mark.parametrize("spec", [TriggerSpec.badnet(3), TriggerSpec.invisible()])
def test_apply_never_modifies_its_input(spec):
    trigger = build(spec)
    X = images()
    before = X.copy()
    out = trigger.apply(X, np.zeros(len(X), dtype=np.int64))
    np.testing.assert_array_equal(X, before)
    assert not np.shares_memory(out, X)


def test_apply_keeps_float64_inputs_float64():
    trigger = build(TriggerSpec.badnet(2))
    out = trigger.apply(images().astype(np.float64), np.zeros(6, dtype=np.int64))
    assert out.dtype == np.float64


def test_specs_are_hashable_and_strings_become_enums():
    spec = TriggerSpec("badnet", size=3, position="top-left")
    assert spec.kind is TriggerKind.BADNET and spec.position is Position.TOP_LEFT
    assert spec == TriggerSpec.badnet(3, position=Position.TOP_LEFT)
    assert len({spec, TriggerSpec.badnet(3, position="top-left"), TriggerSpec.badnet(4)}) == 2


def test_patterns_and_masks_are_read_only():
    trigger = build(TriggerSpec.badnet(3))
    with pytest.raises(ValueError, match="read-only"):
        trigger.patterns[0, 0, 0, 0] = 0.5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "patch", "size": 3}, r"unknown trigger kind 'patch'.*'badnet', 'invisible'"),
        ({"kind": "badnet", "size": 3, "position": "middle"}, r"'middle'.*'bottom-right'"),
        ({"kind": "badnet"}, r"size=None"),
        ({"kind": "badnet", "size": 0}, r"size=0"),
        ({"kind": "badnet", "size": 2.5}, r"size=2.5"),
        ({"kind": "badnet", "size": 3, "low": -0.1}, r"low=-0.1"),
        ({"kind": "badnet", "size": 3, "high": 1.5}, r"high=1.5"),
        ({"kind": "badnet", "size": 3, "low": 0.6, "high": 0.4}, r"low=0.6, high=0.4"),
        ({"kind": "badnet", "size": 3, "eps": 0.1}, r"eps=0.1"),
        ({"kind": "badnet", "size": 3, "position": (-1, 0)}, r"\(-1, 0\)"),
        ({"kind": "badnet", "size": 3, "position": (1, 2, 3)}, r"\(1, 2, 3\)"),
        ({"kind": "invisible", "eps": 0.0}, r"eps=0.0"),
        ({"kind": "invisible", "eps": 1.5}, r"eps=1.5"),
        ({"kind": "invisible", "eps": float("nan")}, r"eps=nan"),
        ({"kind": "invisible", "size": 3}, r"size=3"),
        ({"kind": "invisible", "position": "top-left"}, r"top-left"),
    ],
)
def test_bad_spec_raises_naming_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TriggerSpec(**kwargs)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (TriggerSpec.badnet(9), r"9x9 is larger than the image 8x10"),
        (TriggerSpec.badnet(11, position="top-left"), r"11x11 is larger than the image 8x10"),
        (TriggerSpec.badnet(3, position=(6, 0)), r"\(6, 0\) goes outside the image 8x10"),
        (TriggerSpec.badnet(3, position=(0, 8)), r"\(0, 8\) goes outside the image 8x10"),
    ],
)
def test_patch_that_does_not_fit_raises(spec, match):
    with pytest.raises(ValueError, match=match):
        build(spec)


def test_build_rejects_bad_arguments():
    spec = TriggerSpec.badnet(2)
    with pytest.raises(ValueError, match=r"n_sources=0"):
        spec.build(SHAPE, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\(8, 10\)"):
        spec.build((8, 10), 2, np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        spec.build(SHAPE, 2, 0)


@pytest.mark.parametrize("spec", [TriggerSpec.badnet(3), TriggerSpec.invisible()])
def test_apply_rejects_bad_inputs(spec):
    trigger = build(spec)
    X = images(n=2)
    with pytest.raises(ValueError, match=r"got \[3, 7\]"):
        trigger.apply(np.concatenate([X, X]), np.array([0, 3, 7, 1]))
    with pytest.raises(ValueError, match=r"got \[-1\]"):
        trigger.apply(X, np.array([0, -1]))
    with pytest.raises(ValueError, match=r"\(n, 3, 8, 10\).*\(2, 3, 10, 8\)"):
        trigger.apply(np.zeros((2, 3, 10, 8), dtype=np.float32), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"shape \(2,\).*got shape \(3,\)"):
        trigger.apply(X, np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"dtype uint8"):
        trigger.apply((X * 255).astype(np.uint8), np.array([0, 1]))
    too_bright = X.copy()
    too_bright[1, 0, 0, 0] = 2.5
    with pytest.raises(ValueError, match=r"max 2\.5"):
        trigger.apply(too_bright, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"dtype float64"):
        trigger.apply(X, np.array([0.0, 1.0]))


# ---------------------------------------------------------------- figure


@pytest.mark.parametrize("channels", [1, 3])
def test_figure_writes_non_empty_pdf_and_png(tmp_path, channels):
    shape = (channels, 6, 6)
    X = images(n=4, shape=shape)
    y = np.array([1, 0, 1, 0])
    triggers = [
        build(TriggerSpec.badnet(2), 2, shape=shape),
        build(TriggerSpec.invisible(), 2, shape=shape),
    ]
    stem = tmp_path / "figs" / "triggers"
    paths = plot_trigger_examples(X, y, triggers, ["seven", "one"], stem)
    assert paths == [stem.with_suffix(".pdf"), stem.with_suffix(".png")]
    for path in paths:
        assert path.stat().st_size > 0
    assert paths[0].read_bytes().startswith(b"%PDF")
    assert paths[1].read_bytes().startswith(b"\x89PNG")


def test_figure_needs_an_example_of_every_class(tmp_path):
    trigger = build(TriggerSpec.badnet(2))
    with pytest.raises(ValueError, match="no example of class 1"):
        plot_trigger_examples(images(n=2), np.array([0, 0]), [trigger], ["a", "b"], tmp_path / "f")
