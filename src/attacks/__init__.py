"""The threat model: triggers, poisoning, the learning slope and influences, explanations.

- :mod:`~backdoor_curves.attacks.triggers`: badnet patches and the invisible grid.
- :mod:`~backdoor_curves.attacks.poisoning`: poisoned training sets and backdoor test sets.
- :mod:`~backdoor_curves.attacks.influence`: the exact backdoor learning slope at beta = 0.
- :mod:`~backdoor_curves.attacks.status`: the status of a slope (ok, damped, one-sided, ...).
- :mod:`~backdoor_curves.attacks.explanations`: input-gradient shares and training-point
  influences of a prediction.
"""

from backdoor_curves.attacks.influence import SlopeResult, learning_slope, normalised_slope
from backdoor_curves.attacks.poisoning import (
    PoisonedSet,
    TargetPolicy,
    backdoor_test_set,
    poison_training_set,
)
from backdoor_curves.attacks.triggers import (
    BadNetTrigger,
    InvisibleTrigger,
    Position,
    Trigger,
    TriggerKind,
    TriggerSpec,
)

__all__ = [
    "BadNetTrigger",
    "InvisibleTrigger",
    "PoisonedSet",
    "Position",
    "SlopeResult",
    "TargetPolicy",
    "Trigger",
    "TriggerKind",
    "TriggerSpec",
    "backdoor_test_set",
    "learning_slope",
    "normalised_slope",
    "poison_training_set",
]
