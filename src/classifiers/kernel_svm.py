"""The hinge-loss SVM in the dual, with exact KKT solutions and their derivatives.

An SVM minimises ``1/2 ||w||^2 + C sum_i s_i max(0, 1 - y_i f(x_i))`` with
``f(x) = sum_i alpha_i y_i k(x_i, x) + b`` and signed labels ``y`` in {-1, +1}. The dual is

    min_alpha 1/2 alpha^T Q alpha - 1^T alpha   s.t.  y^T alpha = 0,  0 <= alpha_i <= u_i = C s_i,

with ``Q_ij = y_i y_j k(x_i, x_j)``. At the optimum, with margins ``m_i = y_i f(x_i) - 1``,
every point is in one of three sets: reserve ``R`` (``alpha_i = 0``, ``m_i >= 0``), margin
support vectors ``S`` (``0 < alpha_i < u_i``, ``m_i = 0``) and error vectors ``E``
(``alpha_i = u_i``, ``m_i <= 0``). Given the sets, ``alpha_S`` and ``b`` solve the KKT system

    [[Q_SS, y_S], [y_S^T, 0]] [alpha_S; b] = [1 - Q_SE u_E; -y_E^T u_E].

:class:`KernelSVM`

- fits with libsvm (scikit-learn ``SVC``, precomputed kernel; points with zero weight are
  dropped by us and indices mapped back, since libsvm drops them and renumbers ``support_``),
- polishes the result with a primal-dual active-set iteration on the KKT system, which makes
  the optimum exact (and restarts cheaply from a nearby solution: the incremental path),
- differentiates the optimum with respect to a sample weight (incremental SVM, Cauwenberghs
  & Poggio): a weighted point ``j`` that violates the margin is an error vector with
  ``alpha_j = C s_j``, so ``d alpha_j / d s_j = C``; the margin support vectors and the bias
  re-solve the KKT system ``[[Q_SS, y_S], [y_S^T, 0]] [d alpha_S; d b] = -C [Q_Sj; y_j]``.

Everything above reads the kernel matrix only, so the class is kernel-agnostic: the
estimators of :mod:`backdoor_curves.classifiers.svm` only add their kernel (and the linear
model's explicit primal weights). The dual solvers live in
:mod:`backdoor_curves.classifiers.dual`, the one-sided derivative at degenerate margin sets in
:mod:`backdoor_curves.classifiers.onesided`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar, Self

import numpy as np

from backdoor_curves.classifiers.base import BinaryClassifier, WeightSensitivity
from backdoor_curves.classifiers.dual import (
    BOUND_TOL,
    MARGIN_TOL,
    DualSolution,
    KKTFactor,
    dual_margins,
    dual_sets,
    kkt_factor,
    kkt_violation,
    margin_hessian,
    solve_dual_active_set,
    solve_dual_primal_active_set,
)
from backdoor_curves.classifiers.inputs import FitData, check_beta_path, check_fit_input
from backdoor_curves.classifiers.onesided import (
    kkt_residual,
    one_sided_derivative,
    split_by_direction,
)

__all__ = ["ONE_SIDED_STATUS", "POLISH_RETRY_TOL", "KernelSVM"]

#: libsvm tolerance of the second cold attempt when the polish of the first one fails.
POLISH_RETRY_TOL = 1e-10
#: Status of a derivative computed by the one-sided rule at a degenerate margin set.
ONE_SIDED_STATUS = "one-sided: right derivative at a degenerate margin set"


class KernelSVM(BinaryClassifier):
    """Hinge-loss SVM solved in the dual (kernel-agnostic base class).

    Parameters
    ----------
    C : float
        Inverse regularisation strength (> 0); the box of point ``i`` is ``[0, C s_i]``.
    tol : float
        libsvm stopping tolerance (the active-set polish makes the result exact anyway).
    polish : bool
        Polish libsvm's solution into an exact KKT point (needed for derivatives).
    precomputed : bool
        Inputs are kernel matrices against the training points (see
        :mod:`backdoor_curves.classifiers.base`).

    On a path (:meth:`~backdoor_curves.classifiers.base.BinaryClassifier.C_path`,
    :meth:`beta_path`) each fit starts the active-set solver from the sets of the previous
    optimum; libsvm is used only if that does not converge.

    Attributes
    ----------
    alpha_ : ndarray of shape (n_samples,)
        Dual variables over the full training index set (zero-weight points included).
    dual_coef_ : ndarray of shape (n_samples,)
        ``alpha_i y_i`` over the full training index set.
    intercept_ : float
        Bias ``b``.
    upper_ : ndarray of shape (n_samples,)
        Box bounds ``C s_i`` used in the fit.
    support_ : ndarray of int
        Indices (into the training set) of the support vectors.
    support_vectors_ : ndarray of shape (n_support, n_features)
        Their inputs (their rows of the training kernel matrix when ``precomputed``).
    exact_ : bool
        Whether the KKT conditions were verified to ``MARGIN_TOL``.
    solver_ : str
        ``"active-set"`` or ``"primal-active-set"`` (warm starts), ``"libsvm+active-set"``
        or ``"libsvm"`` (cold fits).
    """

    loss_name: ClassVar[str] = "hinge"

    def __init__(
        self, C: float = 1.0, *, tol: float = 1e-3, polish: bool = True, precomputed: bool = False
    ) -> None:
        super().__init__(C, precomputed=precomputed)
        self.tol = tol
        self.polish = polish

    def beta_path(
        self,
        X: np.ndarray,
        y: np.ndarray,
        is_poison: np.ndarray,
        betas: Sequence[float],
    ) -> Iterator[Self]:
        """Warm-started path (see :meth:`BinaryClassifier.beta_path`).

        Each fit starts from the previous optimum (the first one cold); on the path (small
        steps) a failed primal-dual restart continues with the primal active-set method
        instead of a cold fit.
        """
        is_poison = check_beta_path(X, is_poison, betas)
        self._validate_hyperparameters()
        gram = self._path_gram(X)
        previous: Self | None = None
        for beta in betas:
            weight = np.where(is_poison, beta, 1.0)
            self._fit_svm(X, y, weight, start=previous, gram=gram, small_step=True)
            previous = self
            yield self

    # --- fitting ---------------------------------------------------------------------------
    def _fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        *,
        start: Self | None,
        gram: np.ndarray | None,
    ) -> Self:
        """Fit on ``X`` (n, d), binary ``y`` and weights ``s`` (>= 0).

        ``start`` (a fitted SVM of this class) warm-starts the active-set solver from its
        sets; a ``start`` fitted on another number of points is ignored (cold fit).
        """
        return self._fit_svm(X, y, sample_weight, start=start, gram=gram, small_step=False)

    def _fit_svm(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        *,
        start: Self | None,
        gram: np.ndarray | None,
        small_step: bool,
    ) -> Self:
        """:meth:`_fit`; ``small_step`` allows the primal active-set fallback of a path."""
        X, signed, weight = check_fit_input(X, y, sample_weight)
        K = self._training_kernel(X) if gram is None else gram
        upper = self.C * weight
        solution, solver = None, "active-set"
        if start is not None and start.alpha_.shape == upper.shape:
            solution, solver = self._fit_warm(K, signed, upper, start, small_step)
        if solution is None or not solution.converged:
            solution, solver = self._fit_cold(K, signed, weight, upper)
        self._set_solution(X, signed, upper, solution, solver)
        return self

    def _fit_warm(
        self,
        K: np.ndarray,
        signed: np.ndarray,
        upper: np.ndarray,
        previous: KernelSVM,
        small_step: bool,
    ) -> tuple[DualSolution, str]:
        """Restart from the optimum of ``previous``.

        First the primal-dual active set from the previous sets (fast, one to three solves).
        On a beta path (small steps), if that fails on a degenerate margin set and the
        previous ``alpha`` is feasible for the new box (a growing poison weight), the primal
        active-set method continues from it; it moves one variable per iteration, so for
        far restarts such as a C sweep a cold fit is cheaper and is used instead.
        """
        margin, error = dual_sets(previous.alpha_, previous.upper_)
        solution = solve_dual_active_set(
            K, signed, upper, margin, error, intercept=previous.intercept_
        )
        if solution.converged:
            return solution, "active-set"
        if not small_step:
            # Far restarts (a C sweep) would need many single moves: a cold fit is cheaper.
            return solution, "active-set"
        start = previous.alpha_
        feasible = np.all(start <= upper * (1.0 + BOUND_TOL)) and abs(
            float(signed @ start)
        ) <= BOUND_TOL * max(float(upper.sum()), 1.0)
        if feasible:
            solution = solve_dual_primal_active_set(K, signed, upper, start)
            if solution.converged and kkt_violation(K, signed, upper, solution) <= MARGIN_TOL:
                return solution, "primal-active-set"
        return solution, "active-set"

    def _fit_cold(
        self, K: np.ndarray, signed: np.ndarray, weight: np.ndarray, upper: np.ndarray
    ) -> tuple[DualSolution, str]:
        """libsvm, then the active-set polish from its sets.

        If the polish fails from libsvm's ``tol`` solution (degenerate margin sets, e.g. a
        linear kernel in few dimensions), libsvm is rerun at ``POLISH_RETRY_TOL``, whose sets
        are then almost always the optimal ones; if that fails too, libsvm's solution is
        kept and ``exact_`` is False.
        """
        solution = self._fit_libsvm(K, signed, weight, self.tol)
        if not self.polish:
            return solution, "libsvm"
        for attempt, tol in enumerate((self.tol, POLISH_RETRY_TOL)):
            if attempt:
                solution = self._fit_libsvm(K, signed, weight, min(tol, self.tol))
            margin, error = dual_sets(solution.alpha, upper)
            polished = solve_dual_active_set(
                K, signed, upper, margin, error, intercept=solution.intercept
            )
            if polished.converged:
                return polished, "libsvm+active-set"
        return solution, "libsvm"

    def _fit_libsvm(
        self, K: np.ndarray, signed: np.ndarray, weight: np.ndarray, tol: float
    ) -> DualSolution:
        # libsvm silently drops zero-weight samples and numbers support_ in the reduced set,
        # so drop them ourselves and map the indices back.
        keep = np.flatnonzero(weight > 0)
        # Imported here: scikit-learn is slow to import, and a driver's main
        # process (which only plans and records) never fits a cold SVM.
        from sklearn.svm import SVC  # noqa: PLC0415

        svc = SVC(C=self.C, kernel="precomputed", tol=tol)
        svc.fit(K[np.ix_(keep, keep)], signed[keep] > 0, sample_weight=weight[keep])
        alpha = np.zeros(signed.size)
        alpha[keep[svc.support_]] = np.abs(svc.dual_coef_.ravel())
        return DualSolution(alpha, float(svc.intercept_[0]), False, 0)

    def _set_solution(
        self,
        X: np.ndarray,
        signed: np.ndarray,
        upper: np.ndarray,
        solution: DualSolution,
        solver: str,
    ) -> None:
        self.alpha_ = solution.alpha
        self.dual_coef_ = solution.alpha * signed
        self.intercept_ = solution.intercept
        self.upper_ = upper
        self.support_ = np.flatnonzero(solution.alpha > 0)
        self.support_vectors_ = X[self.support_]
        self.exact_ = solution.converged
        self.solver_ = solver
        # The final KKT factor, reused by weight_sensitivity for the same data and margin set
        # (keyed by the set the factor was built over, not by the free set of alpha).
        self._fit_data = FitData.of(X, signed, upper)
        self._kkt = (solution.kkt_set, solution.kkt)

    # --- predictions -----------------------------------------------------------------------
    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """``f(x) = sum_i alpha_i y_i k(x_i, x) + b``, shape (n,)."""
        X = self._eval_inputs(X, self.alpha_.size)
        if self.precomputed:  # kernel rows against every training point: one product
            return X @ self.dual_coef_ + self.intercept_
        return self.kernel(X, self.support_vectors_) @ self.dual_coef_[self.support_] + (
            self.intercept_
        )

    def weight_norm_sq(self) -> float:
        """``||w||^2 = (alpha y)^T K (alpha y)`` (in the RKHS for non-linear kernels)."""
        return self.weight_inner(self)

    def weight_inner(self, other: Self) -> float:
        """``<w_self, w_other> = (alpha y)_self^T K(X_self, X_other) (alpha y)_other``."""
        if self.precomputed:
            K = self._shared_training_kernel(other)[np.ix_(self.support_, other.support_)]
        else:
            K = self.kernel(self.support_vectors_, other.support_vectors_)
        return float(self.dual_coef_[self.support_] @ K @ other.dual_coef_[other.support_])

    # --- derivatives -----------------------------------------------------------------------
    def weight_sensitivity(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        X_eval: np.ndarray,
        directions: np.ndarray,
    ) -> WeightSensitivity:
        """``d f(X_eval) / d s_j`` at the fitted optimum (incremental-SVM derivative).

        Direction ``j`` moves the solution only if ``j`` is (or enters as) an error vector:
        ``alpha_j = u_j`` with ``u_j > 0``, or ``u_j = 0`` and ``y_j f(x_j) < 1``. Then
        ``d alpha_j / d s_j = C`` and the margin support vectors and the bias follow the KKT
        system of the module docstring. When no dual variable is free (the bias is then
        not unique) or a point with ``alpha_i`` on a bound lies on the margin (the active
        set may change right at this point), the derivative is the right derivative along
        all ``directions`` together, by the one-sided rule of
        :mod:`backdoor_curves.classifiers.onesided` (status ``ONE_SIDED_STATUS``).
        """
        X, signed, weight = check_fit_input(X, y, sample_weight)
        K = self._training_kernel(X)
        directions = np.asarray(directions, dtype=np.intp)
        X_eval = self._eval_inputs(X_eval, X.shape[0])
        decision = np.zeros((X_eval.shape[0], directions.size))
        m = dual_margins(K, signed, self.alpha_, self.intercept_)
        free, _ = dual_sets(self.alpha_, self.upper_)
        if not free.any():
            return self._one_sided_sensitivity(K, signed, X, X_eval, directions)
        free = np.flatnonzero(free)
        _, error = dual_sets(self.alpha_, self.upper_)
        entering = error[directions] | ((self.upper_[directions] == 0) & (m[directions] < 0))
        moving = directions[entering]
        kkt = self._kkt_for(free, K, X, signed, weight)
        rhs_s = -self.C * np.outer(signed[free], signed[moving]) * K[np.ix_(free, moving)]
        if self._on_margin_at_bound(m).any():
            return self._one_sided_sensitivity(K, signed, X, X_eval, directions)
        d_alpha, d_intercept = kkt.solve(rhs_s, -self.C * signed[moving])
        residual = kkt_residual(
            margin_hessian(K, signed, free),
            signed[free],
            (d_alpha, d_intercept),
            (rhs_s, -self.C * signed[moving]),
        )
        decision[:, entering] = (
            self._eval_kernel(X_eval, X, free) @ (d_alpha * signed[free, None])
            + self._eval_kernel(X_eval, X, moving) * (self.C * signed[moving])
            + d_intercept
        )
        return WeightSensitivity(decision, kkt.damping, kkt.condition_number, residual=residual)

    def _eval_kernel(self, X_eval: np.ndarray, X: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """``k(X_eval, X[columns])`` (the columns of the kernel rows when precomputed)."""
        if self.precomputed:
            return X_eval[:, columns]
        return self.kernel(X_eval, X[columns])

    def _kkt_for(
        self,
        free: np.ndarray,
        K: np.ndarray,
        X: np.ndarray,
        signed: np.ndarray,
        weight: np.ndarray,
    ) -> KKTFactor:
        """Return the KKT factor over ``free``.

        The fit's own factor is reused when it came from the same data (inputs, labels and
        box ``C s``) and the same margin set; otherwise it is computed afresh from ``K``.
        """
        fit_free, fit_kkt = self._kkt
        if (
            fit_kkt is not None
            and fit_free is not None
            and np.array_equal(fit_free, free)
            and self._fit_data.matches(X, signed, self.C * weight)
        ):
            return fit_kkt
        return kkt_factor(margin_hessian(K, signed, free), signed[free])

    def _on_margin_at_bound(self, m: np.ndarray) -> np.ndarray:
        """Points on the margin (``|m_i| <= MARGIN_TOL``) whose ``alpha_i`` is on a bound."""
        margin, _ = dual_sets(self.alpha_, self.upper_)
        return ~margin & (np.abs(m) <= MARGIN_TOL)

    def _one_sided_sensitivity(
        self,
        K: np.ndarray,
        signed: np.ndarray,
        X: np.ndarray,
        X_eval: np.ndarray,
        directions: np.ndarray,
    ) -> WeightSensitivity:
        """Right derivative along all ``directions`` together (degenerate margin sets).

        See :mod:`backdoor_curves.classifiers.onesided`; column ``j`` is the share of
        direction ``j`` at the active set the joint direction selects, so the columns sum
        to the joint derivative. ``offset`` carries the right-limit jump ``b(0+) - b``.
        """
        d_upper = np.zeros(signed.size)
        d_upper[directions] = self.C
        result = one_sided_derivative(K, signed, self.alpha_, self.upper_, self.intercept_, d_upper)
        decision = np.full((X_eval.shape[0], directions.size), np.nan)
        if not result.converged:
            status = "undefined: the one-sided rule found no consistent active set"
            return WeightSensitivity(decision, 0.0, result.condition_number, status)
        d_alpha, d_intercept = split_by_direction(K, signed, result, directions)
        rows = np.flatnonzero(np.any(d_alpha != 0.0, axis=1))
        decision = (
            self._eval_kernel(X_eval, X, rows) @ (d_alpha[rows] * signed[rows, None]) + d_intercept
        )
        return WeightSensitivity(
            decision,
            0.0,
            result.condition_number,
            ONE_SIDED_STATUS,
            offset=result.intercept - self.intercept_,
            residual=result.residual,
        )
