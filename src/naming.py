"""Names of models and triggers, shared by drivers, results folders and figures.

Inside:

- model names: :func:`model_label` (human, e.g. ``"RBF SVM, γ = 0.0005"``) and :func:`model_tag`
  (file names, e.g. ``"svm-rbf_g0.0005"``); :func:`register_model_label` gives a new model its
  readable name, and a name never registered still gets a readable default
  (``"knn-vote"`` -> ``"Knn vote"``), so figures draw every model a table holds;
  :func:`model_order` sorts model names for panels and legends;
- trigger names from table columns: :func:`trigger_tag` (file names, ``"badnet3"``,
  ``"invisible75"``) and :func:`trigger_label` (human, ``"badnet 3x3"``, ``"invisible 75/255"``);
- trigger names from a :class:`~backdoor_curves.attacks.triggers.TriggerSpec`:
  :func:`trigger_spec_tag` and :func:`trigger_spec_label` (the label also names a non-default
  badnet position or value box, so that distinct specs get distinct labels);
- :func:`format_value`: compact text of a grid value (``0.0005``, ``1e3``);
- :func:`enum_member`: a name read back as a member of a string enumeration, or one error
  listing the valid names;
- :data:`GRID_POINT`, :data:`BREAKPOINT` and :data:`REFINED`: the values of a learning-curve
  table's ``point`` column (a beta of the grid, a breakpoint of an exact SVM path, a beta added
  where a logistic curve leaves its chord).

The invisible trigger's amplitude ``eps`` is in ``[0, 1]`` pixel units and is named in 1/255
units: ``eps = 75/255`` -> ``"invisible75"`` (rounded to an integer in tags) and
``"invisible 75/255"`` (up to four significant digits in labels).

This module is a leaf: it imports nothing from the package, so every layer above the
utilities may use it (the model registry gives each model its label here). Importing it does
nothing beyond defining the names below.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Protocol, TypeVar

__all__ = [
    "BREAKPOINT",
    "GRID_POINT",
    "REFINED",
    "TRIGGER_KINDS",
    "TriggerSettings",
    "enum_member",
    "format_value",
    "model_label",
    "model_order",
    "model_tag",
    "register_model_label",
    "registered_model_labels",
    "trigger_label",
    "trigger_spec_label",
    "trigger_spec_tag",
    "trigger_tag",
]

GRID_POINT = "grid"
"""A learning-curve row at a beta of the grid."""

BREAKPOINT = "breakpoint"
"""A learning-curve row at a breakpoint of an exact SVM path (a point changes set there)."""

REFINED = "refined"
"""A learning-curve row at an accepted step of a followed path, between two grid betas."""

TRIGGER_KINDS = ("badnet", "invisible")
"""Trigger kinds that have names (the values of ``TriggerKind``)."""

# Readable names of the paper's models, in the order figures show them. A new model adds its
# own with ``register_model_label``; models never registered come after these, by name.
_MODEL_LABELS: dict[str, str] = {
    "svm": "Linear SVM",
    "logistic": "Logistic classifier",
    "ridge": "Ridge classifier",
    "svm-rbf": "RBF SVM",
}


E = TypeVar("E", bound=Enum)


def enum_member(kind: type[E], name: object, what: str) -> E:
    """Return the member of ``kind`` whose value is ``str(name)``.

    Raises
    ------
    ValueError
        ``unknown <what> '<name>'; valid: <values>`` when no member has that value.
    """
    try:
        return kind(str(name))
    except ValueError:
        valid = ", ".join(str(member.value) for member in kind)
        raise ValueError(f"unknown {what} {name!r}; valid: {valid}") from None


def format_value(value: float, digits: int = 3) -> str:
    """Format a grid value compactly: ``0.0005``, ``2.15``, ``100``, ``1e3``, ``5e-5``.

    Parameters
    ----------
    value : float
        The value to show.
    digits : int
        Significant digits (``%g`` style).

    Returns
    -------
    str
        ``f"{value:.{digits}g}"`` with the exponent written without sign padding or zeros.
    """
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


# ----------------------------------------------------------------------------------- models


def register_model_label(name: str, label: str) -> None:
    """Give the model called ``name`` the readable ``label`` used in figure titles and legends.

    Parameters
    ----------
    name : str
        The model's registry name, as written in the ``clf`` column of the result tables.
    label : str
        Its readable name, e.g. ``"k-NN vote"``.

    Raises
    ------
    ValueError
        If ``name`` or ``label`` is empty, or ``name`` already has a different label.
    """
    if not name or not label:
        raise ValueError(f"a model label needs a non-empty name and label; got {name!r}, {label!r}")
    known = _MODEL_LABELS.get(name)
    if known is not None and known != label:
        raise ValueError(f"model {name!r} already has the label {known!r}; got {label!r}")
    _MODEL_LABELS[name] = label


def registered_model_labels() -> dict[str, str]:
    """Return a copy of ``{model name: readable label}`` in the figures' model order."""
    return dict(_MODEL_LABELS)


def _has_gamma(gamma: float | None) -> bool:
    """Whether ``gamma`` is given: neither None nor NaN (a table's empty cell)."""
    return gamma is not None and not math.isnan(gamma)


def _checked_gamma(name: str, gamma: float | None) -> float | None:
    """Check a model's name and width: return ``gamma`` as a float, or None when absent.

    An empty name, or a given gamma that is not finite and positive, raises ``ValueError``.
    """
    if not name:
        raise ValueError("a model name must be a non-empty string; got ''")
    if not _has_gamma(gamma):
        return None
    assert gamma is not None  # _has_gamma
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"model {name!r}: gamma must be finite and positive, got {gamma!r}")
    return float(gamma)


def model_label(name: str, gamma: float | None = None) -> str:
    """Return the readable name of a model, with its kernel width when it has one.

    Parameters
    ----------
    name : str
        Registry name of the model (the ``clf`` column), e.g. ``"svm-rbf"``.
    gamma : float or None
        Kernel width; None or NaN for models without one.

    Returns
    -------
    str
        The registered label (``"RBF SVM"``), or for a name never registered the name with
        ``-`` and ``_`` as spaces and a capital first letter (``"knn-vote"`` -> ``"Knn vote"``);
        followed by ``", γ = <gamma>"`` when ``gamma`` is given.

    Raises
    ------
    ValueError
        If ``name`` is empty or ``gamma`` is given but not finite and positive.
    """
    width = _checked_gamma(name, gamma)
    label = _MODEL_LABELS.get(name)
    if label is None:
        words = name.replace("_", " ").replace("-", " ").strip()
        label = words[:1].upper() + words[1:]
    return label if width is None else f"{label}, γ = {format_value(width)}"


def model_tag(name: str, gamma: float | None = None) -> str:
    """Return the file-name part of a model: ``name``, plus ``_g<gamma>`` when it has a gamma.

    Examples: ``model_tag("svm") == "svm"``, ``model_tag("svm-rbf", 5e-4) == "svm-rbf_g0.0005"``.

    Raises
    ------
    ValueError
        If ``name`` is empty or ``gamma`` is given but not finite and positive.
    """
    width = _checked_gamma(name, gamma)
    return name if width is None else f"{name}_g{width:g}"


def model_order(name: str, gamma: float | None = None) -> tuple[int, str, float]:
    """Sort key of a model: registered models in registration order, then others by name.

    Within a name, models sort by ascending gamma (no gamma first).
    """
    names = list(_MODEL_LABELS)
    rank = names.index(name) if name in names else len(names)
    width = -math.inf if gamma is None or math.isnan(gamma) else float(gamma)
    return rank, name, width


# ----------------------------------------------------------------------------------- triggers


def _badnet_side(size: float | None) -> int:
    if size is None or not math.isfinite(size):
        raise ValueError(f"a badnet trigger needs a finite trigger_size, got {size!r}")
    return int(round(size))


def _invisible_level(eps: float | None) -> float:
    """Amplitude in 1/255 units."""
    if eps is None or not math.isfinite(eps):
        raise ValueError(f"an invisible trigger needs a finite trigger_eps, got {eps!r}")
    return eps * 255


def _check_kind(kind: str) -> str:
    kind = str(kind)
    if kind not in TRIGGER_KINDS:
        raise ValueError(f"unknown trigger {kind!r}; valid triggers are {list(TRIGGER_KINDS)}")
    return kind


def trigger_tag(kind: str, size: float | None = None, eps: float | None = None) -> str:
    """Return the file-name part of a trigger: ``"badnet3"`` or ``"invisible75"``.

    Parameters
    ----------
    kind : {"badnet", "invisible"}
        Trigger kind (the ``trigger`` column).
    size : float or None
        Side of the square badnet patch in pixels (ignored, may be None or NaN, for
        ``"invisible"``).
    eps : float or None
        L-infinity amplitude of the invisible trigger in ``[0, 1]`` pixel units (ignored for
        ``"badnet"``); the tag holds ``round(eps * 255)``.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``kind`` is unknown or its size / amplitude is missing.
    """
    if _check_kind(kind) == "badnet":
        return f"badnet{_badnet_side(size)}"
    return f"invisible{round(_invisible_level(eps))}"


def trigger_label(kind: str, size: float | None = None, eps: float | None = None) -> str:
    """Return the readable name of a trigger: ``"badnet 3x3"`` or ``"invisible 75/255"``.

    Same parameters and errors as :func:`trigger_tag`; the invisible amplitude is shown as
    ``eps * 255`` with up to four significant digits (``"invisible 25.5/255"`` for
    ``eps = 0.1``).
    """
    if _check_kind(kind) == "badnet":
        side = _badnet_side(size)
        return f"badnet {side}x{side}"
    return f"invisible {_invisible_level(eps):.4g}/255"


class TriggerSettings(Protocol):
    """What names a trigger configuration, e.g. a :class:`~backdoor_curves.attacks.TriggerSpec`."""

    @property
    def kind(self) -> Enum:
        """``badnet`` or ``invisible`` (an enum whose value is the kind's name)."""

    @property
    def size(self) -> int | None:
        """Side of the badnet patch."""

    @property
    def eps(self) -> float | None:
        """Amplitude of the invisible grid, in [0, 1] pixel units."""

    @property
    def position(self) -> Enum | tuple[int, int]:
        """Badnet corner (an enum) or explicit ``(row, col)``."""

    @property
    def low(self) -> float:
        """Lower end of the badnet value box."""

    @property
    def high(self) -> float:
        """Upper end of the badnet value box."""


def trigger_spec_tag(spec: TriggerSettings) -> str:
    """Return the file-name part of a trigger configuration (see :func:`trigger_tag`).

    The badnet position and value box are not part of the tag (every configuration of the
    paper uses the default bottom-right patch with values in ``[0, 1]``).
    """
    return trigger_tag(spec.kind.value, spec.size, spec.eps)


def trigger_spec_label(spec: TriggerSettings) -> str:
    """Return the readable name of a trigger configuration.

    As :func:`trigger_label`, with a non-default badnet position and value box appended so that
    distinct configurations get distinct labels: ``"badnet 3x3"``, ``"badnet 6x6 top-left"``,
    ``"badnet 2x2 at (1, 2) [0.5, 1]"``, ``"invisible 75/255"``.
    """
    label = trigger_label(spec.kind.value, spec.size, spec.eps)
    if spec.kind.value != "badnet":
        return label
    parts = [label]
    if isinstance(spec.position, tuple):
        parts.append(f"at {spec.position}")
    elif spec.position.value != "bottom-right":
        parts.append(spec.position.value)
    if (spec.low, spec.high) != (0.0, 1.0):
        parts.append(f"[{spec.low:g}, {spec.high:g}]")
    return " ".join(parts)
