"""Registry of figure families: which table kind each figure is drawn from.

A table kind (``"slope"``, ``"curves"``, ``"deviation"``) is a folder of run tables under a
results directory (``<kind>/**/results.csv``) with the columns its figures need. A figure family
registers its plotters for a kind with :func:`register_figures`; the first registration of a
kind also declares its required columns. A new family (explanations, network figures) plugs in
by adding a module that registers its plotters and importing it in ``plots/__init__.py``.

A plotter is ``plotter(table, out_dir, formats) -> list[Path]``: it draws every figure of one
concatenated table into the existing folder ``out_dir`` and returns the written files. A plotter
whose figures each depend on the rows of one combination of some columns only (one figure per
pair and trigger, say) declares those columns (``split_by``): it is then called once per
combination, and the calls may run in parallel (:func:`~backdoor_curves.plots.draw_figures`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeAlias

import pandas as pd

__all__ = [
    "Plotter",
    "plotters",
    "register_figures",
    "required_columns",
    "split_columns",
    "table_kinds",
]

Plotter: TypeAlias = Callable[[pd.DataFrame, Path, Sequence[str]], list[Path]]

_REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {}
_PLOTTERS: dict[str, list[Plotter]] = {}
_SPLIT_COLUMNS: dict[Plotter, tuple[str, ...]] = {}


def register_figures(
    kind: str,
    *,
    required_columns: Sequence[str] | None = None,
    split_by: Sequence[str] = (),
) -> Callable[[Plotter], Plotter]:
    """Return a decorator that registers a plotter for the tables of ``kind``.

    Parameters
    ----------
    kind : str
        Table kind, also the folder name under the results directory.
    required_columns : sequence of str, optional
        Columns every table of ``kind`` must have; required the first time ``kind`` is
        registered, and must then match on later registrations when given.
    split_by : sequence of str, optional
        Required columns such that each figure depends on the rows of one combination of
        their values only: the plotter may be called once per combination (the default, no
        columns, always gets the whole table).

    Returns
    -------
    callable
        The decorator; it returns the plotter unchanged.

    Raises
    ------
    ValueError
        If ``kind`` is new and ``required_columns`` is missing, or they differ from the
        columns registered before.
    """
    if kind not in _REQUIRED_COLUMNS:
        if not required_columns:
            raise ValueError(
                f"table kind {kind!r} is new: register it with its required_columns "
                f"(known kinds: {list(_REQUIRED_COLUMNS)})"
            )
        _REQUIRED_COLUMNS[kind] = tuple(required_columns)
        _PLOTTERS[kind] = []
    elif required_columns is not None and tuple(required_columns) != _REQUIRED_COLUMNS[kind]:
        raise ValueError(
            f"table kind {kind!r} already requires {list(_REQUIRED_COLUMNS[kind])}; "
            f"got {list(required_columns)}"
        )

    unknown = [column for column in split_by if column not in _REQUIRED_COLUMNS[kind]]
    if unknown:
        raise ValueError(
            f"split_by columns {unknown} are not required columns of kind {kind!r}: "
            f"{list(_REQUIRED_COLUMNS[kind])}"
        )

    def register(plotter: Plotter) -> Plotter:
        if plotter not in _PLOTTERS[kind]:
            _PLOTTERS[kind].append(plotter)
        _SPLIT_COLUMNS[plotter] = tuple(split_by)
        return plotter

    return register


def table_kinds() -> tuple[str, ...]:
    """Return the registered table kinds, in registration order."""
    return tuple(_REQUIRED_COLUMNS)


def _check_kind(kind: str) -> None:
    if kind not in _REQUIRED_COLUMNS:
        raise ValueError(f"unknown table kind {kind!r}; valid kinds are {list(_REQUIRED_COLUMNS)}")


def required_columns(kind: str) -> tuple[str, ...]:
    """Columns the tables of ``kind`` must have; an unknown kind raises ``ValueError``."""
    _check_kind(kind)
    return _REQUIRED_COLUMNS[kind]


def plotters(kind: str) -> tuple[Plotter, ...]:
    """Plotters registered for ``kind``, in registration order; unknown kinds raise."""
    _check_kind(kind)
    return tuple(_PLOTTERS[kind])


def split_columns(plotter: Plotter) -> tuple[str, ...]:
    """Columns by whose values ``plotter``'s table may be split (see :func:`register_figures`)."""
    return _SPLIT_COLUMNS.get(plotter, ())
