"""The network experiment: ResNets trained with beta-weighted poisons, and their head slope.

:mod:`.backdoor_slope` (the driver, ``backdoor-curves nn``), :mod:`.config` (its profiles) and
:mod:`.data` (10-class poisoned image sets).
"""
