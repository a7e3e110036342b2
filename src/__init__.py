"""backdoor_curves: backdoor learning curves, learning slope and parameter deviation.

Reproduces and extends Cina et al., "Backdoor Learning Curves: Explaining Backdoor
Poisoning Beyond Influence Functions" (arXiv 2106.07214).

Subpackages
-----------
attacks
    Triggers, poisoning by replacement, influence functions and the learning slope.
classifiers
    Binary models with the derivatives of their weighted training objective.
experiments
    Experiment drivers (slope sweeps, learning curves).
utilities
    Data sources, metrics, the grid engine, result tables and plotting.
"""

__version__ = "0.1.0"
