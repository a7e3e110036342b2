"""The model registry: names of the binary models and how to build them.

A model plugs in by registering its name, in its own module::

    @register_classifier("toy", label="Toy model")
    class ToyClassifier(BinaryClassifier): ...

The registered object (a class or a factory function) is called as ``factory(C=C)``, or
``factory(C=C, gamma=gamma)`` for models registered with ``uses_gamma=True``, and must return
an unfitted :class:`~backdoor_curves.classifiers.base.BinaryClassifier`. The models of the
paper (``docs/method.md``, "The objective") are registered at the end of this module, in the
order the drivers sweep them: ``svm``, ``svm-rbf``, ``logistic``, ``ridge``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.logistic import LogisticClassifier
from backdoor_curves.classifiers.ridge import RidgeClassifier
from backdoor_curves.classifiers.svm import RBFSVM, LinearSVM
from backdoor_curves.naming import register_model_label

__all__ = [
    "RegisteredClassifier",
    "classifier_names",
    "make_classifier",
    "parse_classifier",
    "register_classifier",
    "uses_gamma",
]

Factory = Callable[..., BinaryClassifier]
F = TypeVar("F", bound=Factory)


@dataclass(frozen=True)
class RegisteredClassifier:
    """A registry entry.

    Attributes
    ----------
    name : str
        The model's name (the ``clf`` column of the result tables, ``--classifiers`` values).
    factory : callable
        Builds an unfitted model from ``C`` (and ``gamma`` when ``uses_gamma``).
    uses_gamma : bool
        Whether the model has a kernel width ``gamma`` (the grids sweep it).
    """

    name: str
    factory: Factory
    uses_gamma: bool


_REGISTRY: dict[str, RegisteredClassifier] = {}


def register_classifier(
    name: str, *, uses_gamma: bool = False, label: str | None = None
) -> Callable[[F], F]:
    """Return a decorator registering a model class or factory under ``name``.

    Parameters
    ----------
    name : str
        New, non-empty model name.
    uses_gamma : bool
        The factory takes ``gamma`` (a kernel width) besides ``C``.
    label : str, optional
        Readable name for figures (:func:`backdoor_curves.naming.register_model_label`);
        without one the figures derive a readable default from ``name``.

    Raises
    ------
    ValueError
        If ``name`` is empty or already registered.
    """
    if not name:
        raise ValueError("a classifier name must be non-empty")
    if name in _REGISTRY:
        raise ValueError(f"classifier {name!r} is already registered")

    def decorator(factory: F) -> F:
        _REGISTRY[name] = RegisteredClassifier(name, factory, uses_gamma)
        if label is not None:
            register_model_label(name, label)
        return factory

    return decorator


def classifier_names() -> tuple[str, ...]:
    """Names of the registered models, in registration order."""
    return tuple(_REGISTRY)


def parse_classifier(name: str) -> str:
    """Return ``name`` if a model is registered under it.

    Raises
    ------
    ValueError
        For an unknown name, listing the valid ones.
    """
    if name not in _REGISTRY:
        valid = ", ".join(_REGISTRY)
        raise ValueError(f"unknown classifier {name!r}; valid classifiers: {valid}")
    return name


def uses_gamma(name: str) -> bool:
    """Whether the model called ``name`` has a kernel width ``gamma``."""
    return _REGISTRY[parse_classifier(name)].uses_gamma


def make_classifier(name: str, C: float, gamma: float | None = None) -> BinaryClassifier:
    """Build an unfitted model.

    Parameters
    ----------
    name : str
        A registered name (:func:`classifier_names`).
    C : float
        Inverse regularisation strength (> 0).
    gamma : float, optional
        Kernel width; required by models registered with ``uses_gamma`` and rejected by
        the others.
    """
    entry = _REGISTRY[parse_classifier(name)]
    if entry.uses_gamma and gamma is None:
        raise ValueError(f"{name} needs gamma")
    if not entry.uses_gamma and gamma is not None:
        raise ValueError(f"{name} has no gamma (got gamma={gamma!r})")
    if entry.uses_gamma:
        return entry.factory(C=C, gamma=float(gamma))  # type: ignore[arg-type]  # checked above
    return entry.factory(C=C)


register_classifier("svm")(LinearSVM)
register_classifier("svm-rbf", uses_gamma=True)(RBFSVM)
register_classifier("logistic")(LogisticClassifier)
register_classifier("ridge")(RidgeClassifier)
