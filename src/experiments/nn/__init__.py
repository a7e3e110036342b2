"""The network experiment: ResNets trained with beta-weighted poisons, and their head slope.

Modules, top to bottom (the import order is checked, see ``pyproject.toml``):
``backdoor_slope`` (command line), ``run`` (one driver call), ``worker`` (one network),
``comparison`` and ``tables`` (statistics over seeds), ``head`` (the last layer's slope),
``devices``, ``config``, ``data``, ``columns``. See ``docs/networks.md``.
"""
