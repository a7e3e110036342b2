"""Trigger names and patch geometry: corners, explicit origins, refusals that name the choices."""

from __future__ import annotations

import numpy as np
import pytest

from backdoor_curves.attacks.trigger_geometry import (
    Position,
    TriggerKind,
    check_image_shape,
    is_int,
    is_real,
    parse_enum,
    parse_position,
    patch_origin,
)


@pytest.mark.parametrize(
    ("position", "origin"),
    [
        (Position.TOP_LEFT, (0, 0)),
        (Position.TOP_RIGHT, (0, 7)),
        (Position.BOTTOM_LEFT, (5, 0)),
        (Position.BOTTOM_RIGHT, (5, 7)),
        ((2, 4), (2, 4)),
    ],
)
def test_a_patch_origin_keeps_the_patch_inside_the_image(position, origin) -> None:
    # A 3x3 patch in an 8 (H) x 10 (W) image: the last row / column it may start at is 5 / 7.
    row, col = patch_origin(position, 3, (1, 8, 10))
    assert (row, col) == origin
    mask = np.zeros((8, 10), dtype=bool)
    mask[row : row + 3, col : col + 3] = True
    assert mask.sum() == 9


def test_a_patch_that_does_not_fit_is_refused() -> None:
    with pytest.raises(ValueError, match="larger than the image 8x10"):
        patch_origin(Position.TOP_LEFT, 9, (1, 8, 10))
    with pytest.raises(ValueError, match="row must be <= 5 and col <= 7"):
        patch_origin((6, 0), 3, (1, 8, 10))


def test_names_are_parsed_or_refused_with_the_valid_ones() -> None:
    assert parse_enum(TriggerKind, "badnet", "trigger kind") is TriggerKind.BADNET
    with pytest.raises(ValueError, match="unknown trigger kind 'blend'; valid values are 'badnet'"):
        parse_enum(TriggerKind, "blend", "trigger kind")
    assert parse_position("top-left") is Position.TOP_LEFT
    assert parse_position([1, np.int64(2)]) == (1, 2)
    with pytest.raises(ValueError, match="must be non-negative"):
        parse_position((-1, 0))
    with pytest.raises(ValueError, match="two integers"):
        parse_position((1.5, 0))


def test_numbers_exclude_booleans_and_non_finite_values() -> None:
    assert is_int(3) and is_int(np.int32(3)) and not is_int(True) and not is_int(3.0)
    assert is_real(0.5) and is_real(np.float32(1)) and not is_real(np.nan) and not is_real(False)
    assert check_image_shape([3, 4, 5]) == (3, 4, 5)
    with pytest.raises(ValueError, match="three positive integers"):
        check_image_shape((3, 0, 5))
