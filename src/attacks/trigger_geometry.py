"""Trigger names and geometry: what a user may type, and where a badnet patch goes.

- :class:`TriggerKind`, :class:`Position`: the names a user may type (:func:`parse_enum`
  turns a string into one, or says which names are valid).
- :func:`parse_position`: a corner name or an explicit ``(row, col)``.
- :func:`check_image_shape`, :func:`patch_origin`: an image shape ``(C, H, W)`` and the
  top-left corner of an ``s x s`` patch inside it (a patch that does not fit is refused).
- :func:`is_int`, :func:`is_real`: the number checks the trigger fields use (booleans are not
  numbers here).

The trigger configuration and the triggers themselves are in
:mod:`backdoor_curves.attacks.triggers`.
"""

from __future__ import annotations

import numbers
from enum import Enum, StrEnum
from typing import TypeVar

import numpy as np

__all__ = [
    "Position",
    "TriggerKind",
    "check_image_shape",
    "is_int",
    "is_real",
    "parse_enum",
    "parse_position",
    "patch_origin",
]


class TriggerKind(StrEnum):
    """Kind of backdoor trigger."""

    BADNET = "badnet"
    INVISIBLE = "invisible"


class Position(StrEnum):
    """Corner of the image where a badnet patch is placed."""

    BOTTOM_RIGHT = "bottom-right"
    TOP_LEFT = "top-left"
    TOP_RIGHT = "top-right"
    BOTTOM_LEFT = "bottom-left"


E = TypeVar("E", bound=Enum)


def parse_enum(enum_cls: type[E], value: object, what: str) -> E:
    """Return ``value`` as a member of ``enum_cls``, or raise a ValueError listing the choices."""
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except ValueError:
        valid = ", ".join(repr(member.value) for member in enum_cls)
        raise ValueError(f"unknown {what} {value!r}; valid values are {valid}") from None


def is_int(value: object) -> bool:
    """Whether ``value`` is an integer (numpy integers included), excluding booleans."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def is_real(value: object) -> bool:
    """Whether ``value`` is a finite real number, excluding booleans."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool | np.bool_)
        and bool(np.isfinite(float(value)))
    )


def parse_position(value: object) -> Position | tuple[int, int]:
    """Return a corner name as a :class:`Position`, or an explicit ``(row, col)`` as int tuple."""
    if isinstance(value, tuple | list):
        if len(value) != 2 or not all(is_int(v) for v in value):
            raise ValueError(f"explicit position must be two integers (row, col); got {value!r}")
        row, col = (int(v) for v in value)
        if row < 0 or col < 0:
            raise ValueError(f"explicit position (row, col) must be non-negative; got {value!r}")
        return (row, col)
    return parse_enum(Position, value, "trigger position")


def check_image_shape(image_shape: object) -> tuple[int, int, int]:
    """Return ``image_shape`` as a ``(C, H, W)`` tuple of positive ints, or raise."""
    if (
        not isinstance(image_shape, tuple | list)
        or len(image_shape) != 3
        or not all(is_int(v) and v > 0 for v in image_shape)
    ):
        raise ValueError(
            f"image_shape must be three positive integers (C, H, W); got {image_shape!r}"
        )
    channels, height, width = (int(v) for v in image_shape)
    return (channels, height, width)


def patch_origin(
    position: Position | tuple[int, int], size: int, image_shape: tuple[int, int, int]
) -> tuple[int, int]:
    """Top-left corner ``(row, col)`` of an ``size x size`` patch inside an image.

    Raises
    ------
    ValueError
        If the patch does not fit inside the image at that position.
    """
    _, height, width = image_shape
    if size > height or size > width:
        raise ValueError(
            f"badnet patch {size}x{size} is larger than the image {height}x{width} (H x W)"
        )
    corners = {
        Position.TOP_LEFT: (0, 0),
        Position.TOP_RIGHT: (0, width - size),
        Position.BOTTOM_LEFT: (height - size, 0),
        Position.BOTTOM_RIGHT: (height - size, width - size),
    }
    if isinstance(position, Position):
        return corners[position]
    row, col = position
    if row + size > height or col + size > width:
        raise ValueError(
            f"badnet patch {size}x{size} at (row, col) = {position} goes outside the image "
            f"{height}x{width} (H x W); row must be <= {height - size} and col <= {width - size}"
        )
    return (row, col)
