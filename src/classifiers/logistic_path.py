r"""The logistic optimum along the poison weight: :class:`LogisticPath`, predictor-corrector.

With weights ``s_i = 1`` for the clean points and ``s_j = beta`` for the poisons ``P``, the
optimum ``theta*(beta) = [w, b]`` of

.. math::

    J(\theta; \beta) = \tfrac12 \lVert w \rVert^2 + C \sum_i s_i \,\ell(y_i, f_i),
    \qquad f_i = x_{1,i}^\top \theta,\ x_{1,i} = [x_i, 1],

(:mod:`backdoor_curves.classifiers.primal`, ``ell`` the logistic loss) satisfies
``grad J(theta*(beta); beta) = 0``. Differentiating that identity in ``beta``,

.. math::

    H \,\frac{d\theta^*}{d\beta} + C \sum_{j \in P} \ell'(y_j, f_j)\, x_{1,j} = 0
    \quad\Longrightarrow\quad
    \frac{d\theta^*}{d\beta} = -H^{-1} C \sum_{j \in P} \ell'(y_j, f_j)\, x_{1,j},

with ``H`` the Hessian of ``J`` at the optimum (positive definite on the parameters the
solvers use). It is the sum over the poisons of the weight sensitivities ``d theta / d s_j``
that the learning slope uses at ``beta = 0`` (:mod:`backdoor_curves.attacks.influence`). ``J``
is analytic in ``(theta, beta)`` and ``H`` is invertible, so ``theta*(beta)`` is smooth.

One step of :meth:`LogisticPath.optimum`, from the optimum at ``a`` to ``b``:

- **predictor** ``theta*(a) + (b - a) d theta* / d beta (a)``, off by ``O((b - a)^2)``, kept
  only if it lowers ``J(.; b)``;
- **corrector** Newton's method from the prediction
  (:class:`~backdoor_curves.classifiers.logistic.LogisticClassifier`), on the Hessian
  factored at the prediction (``O((b - a)^2)`` from the optimum; kept while each step shrinks
  the gradient fourfold, refactored otherwise), to the solver's gradient tolerance: every
  point is the optimum a cold fit reaches, whichever Hessian the steps used. Starting on the
  previous point's factorisation instead, ``O(b - a)`` away, saves that factorisation but
  converges slowly enough to cost more (``benchmarks/README.md``, logistic curves);
- **tangent** ``d theta* / d beta (b)`` solves ``H z = -r`` at the optimum by iterative
  refinement preconditioned by the corrector's last factorisation (close to the optimum, so
  a few products ``H z`` suffice), or on a fresh factorisation when that converges slowly.

The data, the models at the points and the mean losses along the path with their exact
derivatives are those of :class:`~backdoor_curves.classifiers.primal_path.PrimalPath`.
"""

from __future__ import annotations

import numpy as np

from backdoor_curves.classifiers.inputs import check_beta_path
from backdoor_curves.classifiers.logistic import LogisticClassifier
from backdoor_curves.classifiers.primal import HessianSolver
from backdoor_curves.classifiers.primal_path import PathPoint, PrimalPath

__all__ = ["LogisticPath", "PathPoint"]

_MAX_REFINEMENTS = 8
_REFINED = 1e-10  # a tangent correction this small (relative) ends the iterative refinement


class LogisticPath(PrimalPath[LogisticClassifier]):
    """The optimum ``theta*(beta)`` of a logistic model on one poisoned training set.

    See the module docstring for the equations and
    :class:`~backdoor_curves.classifiers.primal_path.PrimalPath` for the parameters.
    """

    def optimum(self, beta: float, start: PathPoint | None = None) -> PathPoint:
        """Return the optimum at ``beta``, predicted from ``start`` and corrected by Newton.

        ``start`` None: Newton from zero (a cold fit). The optimum is exact to the solver's
        tolerance; see :meth:`PrimalPath.optimum`.
        """
        check_beta_path(self._X, self._is_poison, [beta])
        model, coordinates, weight = self._model, self._coordinates, self._weight(beta)
        parameters = np.zeros(coordinates.size + 1)
        if start is not None:
            parameters = model._predict_along_path(
                coordinates, start.parameters, self._signed, weight, beta - start.beta,
                start.tangent,
            )  # fmt: skip
        parameters = model._newton(coordinates, parameters, self._signed, weight)
        tangent = self._tangent(parameters, weight, getattr(model, "_last_solver", None))
        return PathPoint(float(beta), parameters, tangent, model.n_iter_)

    def _curvature(self, parameters: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """``c_i = C s_i loss''(f_i)`` at ``parameters``."""
        decision = self._coordinates.image(parameters[:-1]) + parameters[-1]
        return self._model._curvature(decision, self._signed, weight)

    def _tangent(
        self, parameters: np.ndarray, weight: np.ndarray, solver: HessianSolver | None
    ) -> np.ndarray:
        """Return ``d theta* / d beta`` at the optimum ``parameters``.

        ``H z = -r`` (``r = d grad J / d beta``) is solved by iterative refinement,
        ``z <- z + M^{-1} (-r - H z)``, with ``M`` the Hessian the corrector factored last
        (at a point near the optimum) and the exact product ``H z``; it stops when a
        correction is below ``1e-10`` of ``z`` (largest entries). When the corrections do
        not shrink at least fourfold per step (``M`` too far from ``H``), or ``solver`` is
        None, the Hessian is factored at the optimum. Either way the result solves
        ``H z = -r`` at the optimum.
        """
        model, coordinates = self._model, self._coordinates
        curvature = self._curvature(parameters, weight)
        rhs = model._beta_gradient(coordinates, parameters, self._signed, self._poisons)
        if solver is not None:
            tangent, previous = -solver.solve(rhs), np.inf
            for _ in range(_MAX_REFINEMENTS):
                residual = rhs + model._hessian_product(coordinates, curvature, tangent)
                correction = -solver.solve(residual)
                tangent = tangent + correction
                size = float(np.abs(correction).max())
                if size <= _REFINED * float(np.abs(tangent).max()):
                    return tangent
                if size > 0.25 * previous:
                    break
                previous = size
        return -coordinates.solver(curvature).solve(rhs)

    def _fill(self, model: LogisticClassifier, point: PathPoint) -> LogisticClassifier:
        """Set ``model``'s fitted state to ``point``'s optimum and its iteration count."""
        super()._fill(model, point)
        model.n_iter_ = point.n_iter
        return model
