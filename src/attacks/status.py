"""The status vocabulary of a learning slope, computed in one place.

A slope is ``"ok"`` only when every diagnostic holds:

- the optimum it differentiates is exact (the SVM KKT conditions verified, ``exact_``);
- no damping was added to the factored system (``damping == 0``);
- the system is well conditioned (condition number below ``MAX_CONDITION``);
- the linear solve is consistent: its relative residual, measured when the solver reports it
  (the least-squares fallback of a singular KKT system included), is below ``MAX_RESIDUAL``;
- the derivative is two-sided: no point sits on the margin boundary with its multiplier on a
  bound (otherwise the one-sided rule gives the right derivative, status ``"one-sided: ..."``).

Otherwise the status lists, separated by ``"; "``, what happened, e.g.
``"damped (damping=1e-08)"``, ``"ill-conditioned (condition=3.1e+13)"``,
``"inconsistent solve (residual=2e-03)"``, ``"inexact optimum"``. A slope is undefined (NaN)
only when the derivative itself failed (its status starts with ``"undefined: "``), the solve
is inconsistent, or the value is not finite; damping, conditioning, an inexact optimum and a
one-sided derivative keep the value and only flag it.
"""

from __future__ import annotations

import math

__all__ = [
    "MAX_CONDITION",
    "MAX_RESIDUAL",
    "OK",
    "slope_is_defined",
    "slope_status",
]

OK = "ok"
#: Condition numbers above this flag the slope as ill-conditioned.
MAX_CONDITION = 1e12
#: Relative residuals above this make the solve inconsistent (and the slope undefined).
MAX_RESIDUAL = 1e-8

_KEEPS_VALUE = ("one-sided: right derivative", "damped", "ill-conditioned", "inexact optimum")


def slope_status(
    *,
    derivative: str,
    exact_optimum: bool,
    damping: float,
    condition_number: float,
    residual: float,
    slope: float,
) -> str:
    """Combine the diagnostics of a slope into its status (module docstring).

    Parameters
    ----------
    derivative : str
        Status of the model's weight sensitivity (``"ok"``, a one-sided note or a failure).
    exact_optimum : bool
        Whether the differentiated optimum is exact.
    damping : float
        Damping added to the factored system (0.0 when none).
    condition_number : float
        Condition number estimate of the factored system (NaN when unknown).
    residual : float
        Relative residual of the solve (NaN when not measured).
    slope : float
        The slope value.

    Returns
    -------
    str
        ``"ok"`` or the ``"; "``-separated list of what does not hold.
    """
    notes = [] if derivative == OK else [derivative]
    if not exact_optimum:
        notes.append("inexact optimum")
    if damping > 0:
        notes.append(f"damped (damping={damping:.1e})")
    if math.isfinite(condition_number) and condition_number > MAX_CONDITION:
        notes.append(f"ill-conditioned (condition={condition_number:.1e})")
    if math.isfinite(residual) and residual > MAX_RESIDUAL:
        notes.append(f"inconsistent solve (residual={residual:.1e})")
    if not notes and not math.isfinite(slope):
        notes.append("non-finite slope")
    return "; ".join(notes) if notes else OK


def slope_is_defined(status: str) -> bool:
    """Whether a slope with this status keeps its value (every note only flags it)."""
    return status == OK or all(note.startswith(_KEEPS_VALUE) for note in status.split("; "))
