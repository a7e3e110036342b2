r"""Does a network run reproduce the committed reference? A statistical answer, per cell.

Trained networks differ across machines: float rounding differs between CPUs (and GPUs),
training amplifies it, and one seed's BA can move by 0.3. So a rerun elsewhere is compared
with the reference the way two sets of seeds are compared, not bit by bit.

A *cell* is every identity column but the seed
(:data:`~backdoor_curves.experiments.nn.columns.IDENTITY`: arch, beta, epochs, p, the
settings, the data source). For a cell with ``n_1`` seeds here and ``n_2`` in the reference,
and each compared column (:data:`~backdoor_curves.experiments.nn.columns.COMPARED`: CA, BA,
backdoor CE), the run's mean *lies within the seeds' spread* when

.. math::

    |\bar a - \bar b| \le t_{1 - \alpha/2,\, n_1 + n_2 - 2} \; s \sqrt{1/n_1 + 1/n_2},

with ``s`` the pooled standard deviation over the seeds of both runs (floored at one test
image, ``1 / n_test``, for accuracies) and ``alpha`` = :data:`ALPHA`: the difference of the
two means is within what their seeds' spread allows (Student's two-sample bound). A run
*reproduces* the reference when every cell found in both does. Where every row of the run
(cell and seed) is in the reference with the same written values, it reproduces *bit for
bit*, which is expected only on the same machine and software; one seed on each side gives
no spread and no statistical verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

from backdoor_curves.experiments.nn.columns import COMPARED, IDENTITY
from backdoor_curves.experiments.table_comparison import listed

__all__ = ["ALPHA", "NetworkComparison", "compare_tables", "compare_with_reference"]

ALPHA = 1e-3
"""Two-sided level of the per-cell bound: a rerun on other hardware, a fresh draw of the
rounding, falls outside it in a given cell and column with probability ``ALPHA``."""

_ACCURACIES = ("clean_acc", "backdoor_acc")
_SHOWN = ("arch", "epochs", "poison_fraction", "beta")


@dataclass(frozen=True)
class OutsideCell:
    """A cell whose mean lies outside the seeds' spread: what, and by how much."""

    cell: str
    what: str


@dataclass
class NetworkComparison:
    """Outcome of comparing a network run with the reference folder.

    Attributes
    ----------
    reference : Path
        The reference folder (``results/<dataset>/nn``).
    n_cells : int
        Cells found in both tables.
    n_unmatched : int
        Cells of the run that the reference does not have.
    run_seeds, reference_seeds : tuple of int
        Seeds of the compared cells on each side.
    largest : dict of str to float
        Per compared column, the largest ``|difference of means|`` in standard errors.
    bound : float
        The bound in standard errors (the ``t`` quantile; NaN without spread).
    outside : list of OutsideCell
        Cells outside the spread.
    bitwise : bool
        Every compared row of the run (cell and seed) is in the reference, equal as written.
    notes : list of str
        Why nothing was compared, if so.
    """

    reference: Path
    n_cells: int = 0
    n_unmatched: int = 0
    run_seeds: tuple[int, ...] = ()
    reference_seeds: tuple[int, ...] = ()
    largest: dict[str, float] = field(default_factory=dict)
    bound: float = float("nan")
    outside: list[OutsideCell] = field(default_factory=list)
    bitwise: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def statistical(self) -> bool:
        """Whether the seeds give a spread (at least three seeds in all)."""
        return math.isfinite(self.bound)

    @property
    def reproduces(self) -> bool:
        """Bit for bit, or (with a spread) every compared cell within it."""
        if self.n_cells == 0:
            return False
        return self.bitwise or (self.statistical and not self.outside)

    @property
    def differs(self) -> bool:
        """Whether a compared cell lies outside the seeds' spread."""
        return bool(self.outside) and not self.bitwise

    def lines(self) -> list[str]:
        """Return the report: one line if it reproduces, else the cells outside (and notes)."""
        extra = f"; {self.n_unmatched} cell(s) not in the reference" if self.n_unmatched else ""
        labels = " and ".join(", ".join(label for _, label in COMPARED).rsplit(", ", 1))
        seeds = f"seeds {_seeds(self.run_seeds)} here, {_seeds(self.reference_seeds)} there"
        if self.n_cells == 0:
            why = "; ".join(self.notes) or "no cell of this run is in the reference"
            return [f"not compared with the reference {self.reference}: {why}"]
        if self.bitwise:
            return [
                f"reproduces the reference {self.reference} bit for bit ({self.n_cells} cells, "
                f"{seeds}; expected only on the same machine and software){extra}"
            ]
        if not self.statistical:
            return [
                f"not compared with the reference {self.reference}: the values differ and one "
                f"seed on each side ({seeds}) gives no spread to compare with; run 2 or more "
                "seeds"
            ]
        largest = ", ".join(f"{label} {self.largest.get(c, 0.0):.2f}" for c, label in COMPARED)
        bound = (
            f"|difference of means| <= {self.bound:.1f} standard errors from the seeds' "
            f"standard deviations, two-sided level {ALPHA:g}; largest: {largest}"
        )
        if not self.outside:
            return [
                f"reproduces the reference {self.reference} statistically ({self.n_cells} "
                f"cells, {seeds}): every cell's mean {labels} lies within the seeds' spread "
                f"({bound}); equal bits are expected only on the same machine{extra}"
            ]
        lines = [
            f"DIFFERS from the reference {self.reference}: {len(self.outside)} of "
            f"{self.n_cells} cells have a mean outside the seeds' spread ({seeds}; {bound})"
            f"{extra}"
        ]
        return lines + listed([f"{cell.cell}: {cell.what}" for cell in self.outside])

    def report(self, emit: Callable[[str], None], *, fail_on_difference: bool) -> int:
        """Emit the lines prefixed ``[nn]``; return 1 on a difference if asked, else 0."""
        for line in self.lines():
            emit(f"[nn] {line}")
        return 1 if fail_on_difference and self.differs else 0


def _seeds(seeds: tuple[int, ...]) -> str:
    return ", ".join(str(seed) for seed in seeds) or "none"


def _pooled_sd(a: np.ndarray, b: np.ndarray) -> float:
    """Pooled standard deviation of two samples (NaN with fewer than 3 values in all)."""
    dof = len(a) + len(b) - 2
    if dof < 1:
        return float("nan")
    squares = ((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()
    return float(np.sqrt(squares / dof))


def _cell_text(keys: tuple, columns: list[str]) -> str:
    values = dict(zip(columns, keys, strict=True))
    return " ".join(f"{c}={values[c]}" for c in _SHOWN if c in values)


def compare_tables(run: pd.DataFrame, reference: pd.DataFrame, where: Path) -> NetworkComparison:
    """Compare two ``results.csv`` tables read as text (module docstring).

    Parameters
    ----------
    run, reference : pandas.DataFrame
        The tables, every cell a string (``dtype=str, keep_default_na=False``), so that
        identities match on the written text and equal bits are seen as such.
    where : Path
        The reference folder (for the report).

    Returns
    -------
    NetworkComparison
    """
    result = NetworkComparison(where)
    keys = [c for c in IDENTITY if c in run.columns and c in reference.columns]
    values = [column for column, _ in COMPARED]
    ref_groups = {key: group for key, group in reference.groupby(keys, sort=True)}
    run_seeds: set[int] = set()
    ref_seeds: set[int] = set()
    bitwise = True
    for key, mine in run.groupby(keys, sort=True):
        theirs = ref_groups.get(key)
        if theirs is None:
            result.n_unmatched += 1
            continue
        result.n_cells += 1
        run_seeds |= {int(s) for s in mine["seed"]}
        ref_seeds |= {int(s) for s in theirs["seed"]}
        mine_text = mine.set_index("seed")[values].sort_index()
        theirs_text = theirs.set_index("seed")[values]
        same_seeds = mine_text.index.isin(theirs_text.index).all()
        bitwise = bitwise and same_seeds and mine_text.equals(theirs_text.loc[mine_text.index])
        n_test = float(mine["n_test"].iloc[0]) if "n_test" in mine else math.inf
        what = []
        for column, label in COMPARED:
            a = pd.to_numeric(mine[column]).to_numpy(dtype=float)
            b = pd.to_numeric(theirs[column]).to_numpy(dtype=float)
            sd = _pooled_sd(a, b)
            if not math.isfinite(sd):
                continue
            floor = 1.0 / n_test if column in _ACCURACIES else 1e-12
            error = max(sd, floor) * math.sqrt(1 / len(a) + 1 / len(b))
            bound = float(scipy.stats.t.ppf(1 - ALPHA / 2, len(a) + len(b) - 2))
            result.bound = bound if not result.statistical else max(result.bound, bound)
            z = abs(a.mean() - b.mean()) / error
            result.largest[column] = max(result.largest.get(column, 0.0), float(z))
            if z > bound:
                what.append(
                    f"{label} mean {a.mean():.4g} vs {b.mean():.4g} ({z:.1f} standard errors, "
                    f"sd {sd:.3g})"
                )
        if what:
            result.outside.append(OutsideCell(_cell_text(key, keys), "; ".join(what)))
    result.run_seeds = tuple(sorted(run_seeds))
    result.reference_seeds = tuple(sorted(ref_seeds))
    result.bitwise = result.n_cells > 0 and bitwise
    if result.n_cells == 0:
        ours = sorted(set(run.get("data_source", [])))
        other = sorted(set(reference.get("data_source", [])))
        if ours != other:
            result.notes.append(f"this run used {ours}, the reference {other}")
    return result


def compare_with_reference(run_dir: Path, reference_dir: Path) -> NetworkComparison:
    """Compare ``run_dir/results.csv`` with ``reference_dir/results.csv``.

    A missing reference table, or a run written into the reference folder itself, is a note
    (nothing compared).
    """
    result = NetworkComparison(reference_dir)
    if run_dir.resolve() == reference_dir.resolve():
        result.notes.append("this run wrote into the reference folder itself")
        return result
    reference_table = reference_dir / "results.csv"
    if not reference_table.is_file():
        result.notes.append(f"no reference table {reference_table}")
        return result

    def read(path: Path) -> pd.DataFrame:
        return pd.read_csv(path, dtype=str, keep_default_na=False)

    return compare_tables(read(run_dir / "results.csv"), read(reference_table), reference_dir)
