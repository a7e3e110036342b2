"""backdoor_curves: backdoor learning curves, learning slope and parameter deviation.

Reproduces and extends Cina et al., "Backdoor Learning Curves: Explaining Backdoor
Poisoning Beyond Influence Functions" (arXiv 2106.07214).

Subpackages, one layer each, from the bottom (see ``docs/architecture.md``)
-------------------------------------------------------------------------
utilities
    Generic building blocks that know nothing of backdoors: atomic files, hashing,
    provenance, the result store, folder locks, task keys, execution backends, the grid
    engine, the on-disk feature cache, command-line plumbing, metrics and the dataset
    readers (``data``).
naming
    Names and labels of models and triggers, for results folders and figures.
classifiers
    Binary models with the derivatives of their weighted training objective;
    ``classifiers.nn``: the torch networks (AlexNet features, pretrained weights, ResNets,
    the beta-weighted trainer, the softmax head).
attacks
    Triggers, poisoning by replacement, the learning slope and influences, explanations.
analyses
    Parameter deviation and the tangent check of a learning curve.
plots
    Every figure, drawn from the result tables only.
experiments
    The ``backdoor-curves`` command, the drivers (slope, curves, explain, nn, reference,
    triggers) and the machinery they share (flags, configurations, problem, recording).
test
    The explanation scripts ``explain_*.py`` (scripts, not tests).
"""

__version__ = "0.1.0"
