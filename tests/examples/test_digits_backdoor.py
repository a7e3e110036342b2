"""The worked example examples/digits_backdoor.py runs and its table is what refits give."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

pytestmark = pytest.mark.e2e  # runs the worked example end to end

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_backdoor.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("digits_backdoor", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_writes_its_table_and_figure(example, tmp_path, capsys):
    table = example.main(tmp_path)
    assert (tmp_path / "digits_backdoor.png").stat().st_size > 10_000
    assert len(table) == len(example.MODELS) * len(example.C_GRID)
    assert (table["status"] == "ok").all() and (table["slope"] < 0).all()
    assert table["safe"].any() and not table["safe"].all()
    assert "safe C for RBF SVC" in capsys.readouterr().out

    # BA and CA at beta = 1 are those of the user's own estimator fitted on the poisoned set
    # (to one test point: a point within the solvers' tolerance of the boundary may differ).
    X, y, _, X_backdoor, y_backdoor, X_test, y_test = example.digits_problem()
    for row in table.itertuples():
        refit = clone(example.MODELS[row.model]).set_params(C=row.C).fit(X, y)
        assert abs(row.BA - np.mean(refit.predict(X_backdoor) == y_backdoor)) <= 1 / len(y_backdoor)
        assert abs(row.CA - np.mean(refit.predict(X_test) == y_test)) <= 1 / len(y_test)
