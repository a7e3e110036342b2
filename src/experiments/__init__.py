"""Experiment drivers and their dataset configurations.

- :mod:`~backdoor_curves.experiments.binary.slope`: the learning-slope sweep (``run_*.sh``).
- :mod:`~backdoor_curves.experiments.curves.cli`: learning curves and parameter deviation
  (``incremental_curves.py``).
- :mod:`~backdoor_curves.experiments.explain.cli`: explanations of clean and poisoned models
  (``src/test/explain_*.py``).
- :mod:`~backdoor_curves.experiments.driver`: the steps those three drivers share.
- :mod:`~backdoor_curves.experiments.trigger_examples`: the trigger examples figure.
- :mod:`~backdoor_curves.experiments.config`: grids, pairs and triggers per dataset.
"""

from backdoor_curves.experiments.config import DatasetConfig, get_config

__all__ = ["DatasetConfig", "get_config"]
