"""The network experiment: ResNets trained with beta-weighted poisons, and their head slope.

Modules, top to bottom (the import order is checked, see ``pyproject.toml``):
:mod:`.backdoor_slope` (the driver, ``backdoor-curves nn``), :mod:`.run` (one driver call),
:mod:`.worker` (one network), :mod:`.comparison` and :mod:`.tables` (statistics over seeds),
:mod:`.head` (the last layer's slope), :mod:`.devices`, :mod:`.config` (the profiles),
:mod:`.data` (10-class poisoned image sets), :mod:`.columns`. See ``docs/networks.md``.
"""
