r"""The exact path of an SVM optimum along the poison weight: breakpoints and affine pieces.

Notation as in :mod:`backdoor_curves.classifiers.kernel_svm`. With clean points weighted 1 and
poisons weighted ``beta``, the dual box is ``0 <= alpha_i <= u_i(beta) = u_i + beta du_i``
(``u_i = C`` and ``du_i = 0`` for a clean point, ``u_j = 0`` and ``du_j = C`` for a poison),
a convex QP whose constraints move linearly with ``beta``. Between two *breakpoints*, where a
point enters or leaves the margin set, the sets R, S, E are fixed and the KKT system

.. math::

    Q_{SS} \alpha_S + y_S b = 1 - Q_{SE} u_E(\beta), \qquad y_S^\top \alpha_S = -y_E^\top u_E(\beta)

is linear in ``beta``: ``alpha(beta)`` and ``b(beta)``, hence every decision value, are affine
on each piece (Cauwenberghs and Poggio's incremental SVM; Hastie et al.'s regularisation path
does the same in ``C``). :func:`follow_beta_path` starts from an exact optimum at ``beta_0``
and walks the pieces:

1. the direction ``(d alpha, d b)`` of the piece is the right derivative of the optimum
   (:func:`~backdoor_curves.classifiers.onesided.one_sided_derivative`), which is the
   two-sided incremental-SVM step on a non-degenerate set and resolves degenerate ones (ties
   at the bounds, several points on the margin, a bias that is not unique) by the one-sided
   rule the learning slope already uses;
2. the piece ends at the first event: a free ``alpha_i`` reaching ``0`` or its moving upper
   bound ``u_i + beta du_i``, or the margin ``m_i = y_i f(x_i) - 1`` of a bounded point
   reaching 0 (``m_i + t dm_i = 0``); the step to it is exact (a ratio of two numbers);
3. at the breakpoint the free values are re-solved from the KKT system of the new piece's
   free set (a corrector that keeps rounding from accumulating along many pieces).

The result (:class:`BetaPath`) gives ``alpha`` and ``b`` at any ``beta`` in closed form.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Generic, TypeVar

import numpy as np
import scipy.linalg

from backdoor_curves.classifiers.dual import MARGIN_TOL, DualSolution, kkt_violation
from backdoor_curves.classifiers.inputs import check_beta_path, check_fit_input
from backdoor_curves.classifiers.kernel_svm import KernelSVM
from backdoor_curves.classifiers.onesided import AT_BOUND_TOL, RESIDUAL_TOL, one_sided_derivative

__all__ = [
    "PATH_DEGENERATE_STATUS",
    "BetaPath",
    "ModelPath",
    "exact_beta_path",
    "follow_beta_path",
]

M = TypeVar("M", bound=KernelSVM)

#: Status of a path on which some breakpoint had several simultaneous events (resolved by the
#: one-sided rule; the path is still exact).
PATH_DEGENERATE_STATUS = (
    "ok: simultaneous events at some breakpoints, resolved by the one-sided rule"
)

# Events closer than this (relative to the path's length) to the piece's start are the
# breakpoint itself, already resolved by the direction of the piece.
_EVENT_TOL = 1e-12


@dataclasses.dataclass(frozen=True)
class BetaPath:
    """The optimum of an SVM dual as an affine function of ``beta`` on each piece.

    Piece ``k`` covers ``[breakpoints[k], breakpoints[k + 1])`` (the last one includes its
    end): ``alpha(beta) = alpha[k] + (beta - breakpoints[k]) d_alpha[k]`` and likewise ``b``.

    Attributes
    ----------
    breakpoints : ndarray of shape (n_pieces + 1,)
        ``beta_0 < beta_1 < ... < beta_end``; the inner ones are where the sets change.
    alpha, d_alpha : ndarray of shape (n_pieces, n_samples)
        Start value and slope of ``alpha`` on each piece.
    intercept, d_intercept : ndarray of shape (n_pieces,)
        Start value and slope of ``b`` on each piece (``b`` may jump at a breakpoint where
        no ``alpha_i`` is free: then it is the right limit).
    status : str
        ``"ok"``, :data:`PATH_DEGENERATE_STATUS`, or ``"undefined: ..."`` when a piece's
        direction could not be found (the path stops there; ``breakpoints[-1]`` says where).
    """

    breakpoints: np.ndarray
    alpha: np.ndarray
    d_alpha: np.ndarray
    intercept: np.ndarray
    d_intercept: np.ndarray
    status: str

    @property
    def inner_breakpoints(self) -> np.ndarray:
        """The betas where the sets change (the path's ends excluded)."""
        return self.breakpoints[1:-1]

    def piece(self, beta: float) -> int:
        """Index of the piece holding ``beta`` (right-continuous at breakpoints)."""
        if not self.breakpoints[0] <= beta <= self.breakpoints[-1]:
            raise ValueError(
                f"beta = {beta} is outside the path [{self.breakpoints[0]}, {self.breakpoints[-1]}]"
            )
        index = int(np.searchsorted(self.breakpoints, beta, side="right")) - 1
        return min(index, self.alpha.shape[0] - 1)

    def at(self, beta: float) -> tuple[np.ndarray, float]:
        """Return ``alpha(beta)`` and ``b(beta)``."""
        k = self.piece(beta)
        step = beta - self.breakpoints[k]
        return self.alpha[k] + step * self.d_alpha[k], float(
            self.intercept[k] + step * self.d_intercept[k]
        )


def _events(
    alpha: np.ndarray,
    upper: np.ndarray,
    d_upper: np.ndarray,
    d_alpha: np.ndarray,
    free: np.ndarray,
    margins: np.ndarray,
    d_margins: np.ndarray,
) -> np.ndarray:
    """Step lengths ``t > 0`` at which each point changes set (``inf``: never on this piece)."""
    t = np.full(alpha.size, np.inf)
    is_free = np.zeros(alpha.size, dtype=bool)
    is_free[free] = True
    with np.errstate(divide="ignore", invalid="ignore"):
        # A free alpha_i reaches 0 or its (moving) upper bound.
        to_zero = is_free & (d_alpha < 0)
        t[to_zero] = alpha[to_zero] / -d_alpha[to_zero]
        to_upper = is_free & (d_alpha > d_upper)
        t[to_upper] = np.minimum(
            t[to_upper],
            (upper[to_upper] - alpha[to_upper]) / (d_alpha[to_upper] - d_upper[to_upper]),
        )
        # A bounded point's margin reaches 0: at 0 (d_alpha = 0) from above, at its upper
        # bound (d_alpha = du) from below.
        movable = (upper > 0) | (d_upper > 0)
        bounded = movable & ~is_free
        on_top = (upper > 0) & (alpha >= upper * (1.0 - AT_BOUND_TOL))
        at_upper = bounded & (on_top | ((upper == 0) & (d_alpha > 0)))
        at_zero = bounded & ~at_upper
        falling = at_zero & (d_margins < 0) & (margins > 0)
        t[falling] = margins[falling] / -d_margins[falling]
        rising = at_upper & (d_margins > 0) & (margins < 0)
        t[rising] = -margins[rising] / d_margins[rising]
    return t


def _corrected(
    K: np.ndarray, y: np.ndarray, alpha: np.ndarray, free: np.ndarray
) -> tuple[np.ndarray, float] | None:
    """Re-solve ``alpha_F`` and ``b`` from the KKT system of the free set ``F``.

    The points outside ``F`` keep their (bound) values. Returns None when ``F`` is empty or
    the system is singular or inconsistent (the stepped values are kept then).
    """
    size = free.size
    if size == 0:
        return None
    fixed = alpha.copy()
    fixed[free] = 0.0
    Q_ff = np.outer(y[free], y[free]) * K[np.ix_(free, free)]
    system = np.zeros((size + 1, size + 1))
    system[:size, :size] = Q_ff
    system[:size, size] = y[free]
    system[size, :size] = y[free]
    rhs = np.empty(size + 1)
    rhs[:size] = 1.0 - y[free] * (K[free] @ (fixed * y))
    rhs[size] = -(y @ fixed)
    try:
        solution = scipy.linalg.solve(system, rhs, assume_a="sym", check_finite=False)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
        return None
    if np.linalg.norm(system @ solution - rhs) > RESIDUAL_TOL * (1.0 + np.linalg.norm(rhs)):
        return None
    corrected = fixed
    corrected[free] = solution[:size]
    return corrected, float(solution[size])


def follow_beta_path(
    K: np.ndarray,
    y: np.ndarray,
    upper: np.ndarray,
    d_upper: np.ndarray,
    alpha: np.ndarray,
    intercept: float,
    beta_end: float,
    *,
    beta_start: float = 0.0,
    max_pieces: int | None = None,
) -> BetaPath:
    """Follow the exact SVM optimum from ``beta_start`` to ``beta_end`` (module docstring).

    Parameters
    ----------
    K : ndarray of shape (n, n)
        Training kernel matrix.
    y : ndarray of shape (n,)
        Signed labels in {-1, +1}.
    upper, d_upper : ndarray of shape (n,)
        The box is ``[0, upper + beta * d_upper]``; ``d_upper >= 0``.
    alpha, intercept
        An exact optimum at ``beta_start`` (e.g. a polished fit, ``exact_`` True).
    beta_end : float
        Where the path ends (> ``beta_start``).
    beta_start : float, default 0
        Where it starts.
    max_pieces : int or None
        Bound on the number of pieces (default ``10 n + 10``); reaching it ends the path with
        an ``"undefined"`` status.

    Returns
    -------
    BetaPath
    """
    if not beta_end > beta_start:
        raise ValueError(f"beta_end must exceed beta_start, got {beta_end} <= {beta_start}")
    if np.any(d_upper < 0):
        raise ValueError("d_upper must be non-negative (the box may only grow)")
    max_pieces = 10 * y.size + 10 if max_pieces is None else max_pieces
    scale = max(1.0, abs(beta_end))
    beta, alpha = float(beta_start), np.asarray(alpha, dtype=np.float64).copy()
    starts: list[float] = []
    alphas, d_alphas, intercepts, d_intercepts = [], [], [], []
    status = "ok"
    while True:
        box = upper + beta * d_upper
        step = one_sided_derivative(K, y, alpha, box, intercept, d_upper)
        if not step.converged:
            status = f"undefined: no consistent direction at beta = {beta:.6g}"
            break
        intercept = step.intercept  # the right limit where the bias was not unique
        g = K @ (alpha * y)
        margins = y * (g + intercept) - 1.0
        d_margins = y * (K @ (step.d_alpha * y) + step.d_intercept)
        t = _events(alpha, box, d_upper, step.d_alpha, step.free, margins, d_margins)
        t[t <= _EVENT_TOL * scale] = np.inf
        length = min(float(t.min(initial=np.inf)), beta_end - beta)
        starts.append(beta)
        alphas.append(alpha.copy())
        d_alphas.append(step.d_alpha.copy())
        intercepts.append(intercept)
        d_intercepts.append(step.d_intercept)
        if np.count_nonzero(t <= length * (1.0 + 1e-9)) > 1:
            status = PATH_DEGENERATE_STATUS
        beta += length
        if beta >= beta_end * (1.0 - 1e-15) or len(starts) >= max_pieces:
            if beta < beta_end * (1.0 - 1e-15):
                status = f"undefined: more than {max_pieces} pieces"
            beta = min(beta, beta_end) if beta < beta_end else beta_end
            break
        alpha = np.clip(alpha + length * step.d_alpha, 0.0, upper + beta * d_upper)
        intercept = intercept + length * step.d_intercept
        inside = (alpha > AT_BOUND_TOL * (upper + beta * d_upper)) & (
            alpha < (upper + beta * d_upper) * (1.0 - AT_BOUND_TOL)
        )
        corrected = _corrected(K, y, alpha, np.flatnonzero(inside))
        if (
            corrected is not None
            and np.all(corrected[0] >= 0)
            and np.all(corrected[0] <= (upper + beta * d_upper) * (1.0 + 1e-12))
        ):
            alpha, intercept = corrected
    return BetaPath(
        breakpoints=np.asarray([*starts, beta]),
        alpha=np.asarray(alphas),
        d_alpha=np.asarray(d_alphas),
        intercept=np.asarray(intercepts),
        d_intercept=np.asarray(d_intercepts),
        status=status,
    )


@dataclasses.dataclass(frozen=True)
class ModelPath(Generic[M]):
    """The exact beta path of a fitted SVM: :attr:`path` and the model at any ``beta``.

    Attributes
    ----------
    path : BetaPath
        Breakpoints and pieces.
    start : KernelSVM
        The model fitted at ``path.breakpoints[0]``; :meth:`model_at` copies it.
    """

    path: BetaPath
    start: M
    _inputs: np.ndarray
    _kernel: np.ndarray
    _signed: np.ndarray
    _upper: np.ndarray
    _d_upper: np.ndarray

    def model_at(self, beta: float) -> M:
        """Return a new fitted model holding the path's optimum at ``beta``.

        Its ``exact_`` says whether that optimum satisfies the KKT conditions to the
        fit's tolerance (it does, up to rounding, on a path whose status is not undefined).
        """
        alpha, intercept = self.path.at(beta)
        upper = self._upper + beta * self._d_upper
        solution = DualSolution(alpha, intercept, True, 0)
        exact = kkt_violation(self._kernel, self._signed, upper, solution) <= MARGIN_TOL
        model = copy.copy(self.start)
        model._set_solution(
            self._inputs,
            self._signed,
            upper,
            DualSolution(alpha, intercept, exact, 0),
            "exact-path",
        )
        return model


def exact_beta_path(
    model: M, X: np.ndarray, y: np.ndarray, is_poison: np.ndarray, beta_end: float = 1.0
) -> ModelPath[M]:
    """Fit ``model`` at ``beta = 0`` and follow its optimum exactly up to ``beta_end``.

    The weights are ``s_i = 1`` for clean points and ``beta`` for poisons, as in
    :meth:`~backdoor_curves.classifiers.base.BinaryClassifier.beta_path`; the box of the
    dual is ``[0, C s_i]`` (module docstring).

    Parameters
    ----------
    model : KernelSVM
        An unfitted (or fitted: it is not changed) SVM; ``precomputed`` models take the
        training kernel matrix as ``X``.
    X, y, is_poison
        Training inputs, labels in {0, 1} and the poison mask.
    beta_end : float, default 1
        Where the path ends.

    Returns
    -------
    ModelPath
    """
    is_poison = check_beta_path(X, is_poison, [0.0, beta_end])
    X, signed, _ = check_fit_input(X, y, np.where(is_poison, beta_end, 1.0))
    start = model.with_params().fit(X, y, np.where(is_poison, 0.0, 1.0))
    K = start._training_kernel(X)
    upper = start.C * (~is_poison).astype(np.float64)
    d_upper = start.C * is_poison.astype(np.float64)
    path = follow_beta_path(K, signed, upper, d_upper, start.alpha_, start.intercept_, beta_end)
    if not start.exact_:
        path = dataclasses.replace(path, status="undefined: the fit at beta = 0 is not exact")
    return ModelPath(path, start, X, K, signed, upper, d_upper)
