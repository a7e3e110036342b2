"""The slope status vocabulary and the residual check of the KKT solve."""

import numpy as np
import pytest

from backdoor_curves.attacks.status import OK, slope_is_defined, slope_status
from backdoor_curves.classifiers.linalg import damped_cholesky
from backdoor_curves.classifiers.onesided import kkt_residual
from backdoor_curves.classifiers.svm import ONE_SIDED_STATUS, kkt_factor

CLEAN = {
    "derivative": OK,
    "exact_optimum": True,
    "damping": 0.0,
    "condition_number": 10.0,
    "residual": 1e-15,
    "slope": -0.5,
}


def test_ok_only_when_every_diagnostic_holds():
    assert slope_status(**CLEAN) == OK


@pytest.mark.parametrize(
    ("change", "note", "defined"),
    [
        ({"derivative": ONE_SIDED_STATUS}, ONE_SIDED_STATUS, True),
        ({"exact_optimum": False}, "inexact optimum", True),
        ({"damping": 1e-8}, "damped (damping=1.0e-08)", True),
        ({"condition_number": 1e13}, "ill-conditioned (condition=1.0e+13)", True),
        ({"residual": 1e-3}, "inconsistent solve (residual=1.0e-03)", False),
        ({"derivative": "undefined: no consistent active set"}, "undefined", False),
        ({"slope": float("nan")}, "non-finite slope", False),
    ],
)
def test_each_failed_diagnostic_is_named(change, note, defined):
    status = slope_status(**{**CLEAN, **change})
    assert status != OK
    assert note in status
    assert slope_is_defined(status) is defined


def test_several_notes_are_joined():
    status = slope_status(**{**CLEAN, "damping": 1e-6, "exact_optimum": False})
    assert status == "inexact optimum; damped (damping=1.0e-06)"
    assert slope_is_defined(status)


def test_kkt_residual_detects_an_inconsistent_least_squares_solve():
    # Two identical margin points with different right-hand sides: B is singular and the
    # system has no solution; the least-squares answer must not pass as a solution.
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    y_s = np.array([1.0, 1.0, -1.0])
    Q = np.outer(y_s, y_s) * (x @ x.T)
    factor = kkt_factor(Q, y_s)
    consistent = (Q @ np.array([0.3, 0.1, 0.4]) + y_s * 0.2, 0.0)
    inconsistent = (np.array([1.0, 2.0, 0.5]), 0.0)
    for rhs, small in ((consistent, True), (inconsistent, False)):
        residual = kkt_residual(Q, y_s, factor.solve(*rhs), rhs)
        assert (residual < 1e-10) is small, residual


def test_damped_cholesky_error_names_the_dampings_tried():
    indefinite = np.diag([1.0, -1.0])
    with pytest.raises(np.linalg.LinAlgError, match=r"not positive definite.*up to 1"):
        damped_cholesky(indefinite)
    with pytest.raises(np.linalg.LinAlgError, match="damping not allowed"):
        damped_cholesky(indefinite, allow_damping=False)
    damped = damped_cholesky(np.diag([1.0, 0.0]))
    assert damped.damping == pytest.approx(0.5e-10)
