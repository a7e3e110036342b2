"""Data sources, metrics, the grid engine, result tables and command-line plumbing.

Import the submodules directly (``backdoor_curves.utilities.data``, ``.metrics``, ``.grid``,
``.results``, ``.cli``); this package re-exports the data entry points.
"""

from backdoor_curves.utilities.data import PairTask, load_pair_task, parse_pair
from backdoor_curves.utilities.metrics import accuracy

__all__ = ["PairTask", "accuracy", "load_pair_task", "parse_pair"]
