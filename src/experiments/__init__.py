"""The ``backdoor-curves`` command, the experiment drivers, and the machinery they share.

- :mod:`~backdoor_curves.experiments.cli`: the ``backdoor-curves`` command (one subcommand
  per driver).
- Drivers: :mod:`~backdoor_curves.experiments.binary.slope` (the learning-slope sweep,
  ``run_*.sh``), :mod:`~backdoor_curves.experiments.curves.cli` (learning curves and parameter
  deviation, ``incremental_curves.py``), :mod:`~backdoor_curves.experiments.explain.cli`
  (explanations, ``src/test/explain_*.py``), :mod:`~backdoor_curves.experiments.nn.backdoor_slope`
  (ResNets with beta-weighted poisons), :mod:`~backdoor_curves.experiments.reference` (compare
  with / update the reference) and :mod:`~backdoor_curves.experiments.trigger_examples`.
- Shared, from the top: :mod:`.driver` (the steps the slope, curves and explain
  drivers share), :mod:`.flags` (flags -> typed settings), :mod:`.reference_tables`,
  :mod:`.figure_step`, :mod:`.recording`, :mod:`.feature_extraction`, :mod:`.feature_stage`,
  :mod:`.problem` and :mod:`~backdoor_curves.experiments.config` (pairs, triggers and grids per
  dataset). See ``docs/architecture.md`` and ``docs/drivers.md``.
"""

from backdoor_curves.experiments.config import DatasetConfig, get_config

__all__ = ["DatasetConfig", "get_config"]
