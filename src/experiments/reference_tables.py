"""The committed reference tables: compare a run with them, and update them from a run.

A run writes its tables (and its resume journal) under a *run root*, by default the ignored
folder ``runs/<dataset>`` (:func:`~backdoor_curves.experiments.recording.default_run_root`);
the committed *reference* lives under ``results/<dataset>``, with the same layout
(``<kind>/<run folder>/results.csv`` + ``manifest.json``). A fresh clone therefore computes
every cell, and at the end of a run the driver compares what it computed with the reference,
table by table (:func:`~backdoor_curves.experiments.table_comparison.compare_table`: cells
matched on their identity columns, values within stated tolerances).

:class:`ReferenceCheck` collects the comparisons of one driver run and prints either one line
``reproduces the reference (N cells, max rel. diff slope .., CA .., BA ..)`` or the cells that
differ; :func:`compare_tree` does the same after the fact, and :func:`update_reference` copies
a finished run's tables over the reference (the command line of both is
:mod:`backdoor_curves.experiments.reference`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from backdoor_curves.experiments.recording import folder_variant
from backdoor_curves.experiments.table_comparison import (
    Comparison,
    compare_table,
    table_spec,
)
from backdoor_curves.utilities.atomic import atomic_write_text
from backdoor_curves.utilities.store import JOURNAL_FILENAME, MANIFEST_FILENAME, RESULTS_FILENAME

__all__ = ["ReferenceCheck", "compare_tree", "run_folders", "update_reference"]


def run_folders(root: Path, kind: str, variants: Sequence[str] | None) -> list[Path]:
    """Finished run folders of ``kind`` under ``root`` (of the given data variants, if any)."""
    folders = sorted(path.parent for path in (root / kind).glob(f"*/{RESULTS_FILENAME}"))
    if variants is not None:
        folders = [folder for folder in folders if folder_variant(folder.name) in variants]
    return folders


def compare_tree(
    run_root: Path,
    reference_root: Path,
    kind: str,
    folders: Sequence[str] | None = None,
    known: Mapping[Path, Comparison] | None = None,
) -> Comparison:
    """Compare the run folders of ``kind`` under ``run_root`` with the reference.

    Parameters
    ----------
    run_root, reference_root : Path
        Results roots holding ``<kind>/<folder>/results.csv``.
    kind : str
        ``"slope"`` or ``"curves"``.
    folders : sequence of str, optional
        Run folder names to compare (default: every folder of ``run_root/kind``).
    known : mapping of Path to Comparison, optional
        Comparisons of run folders (``run_root/<kind>/<folder>``) with the same reference,
        already made (:attr:`ReferenceCheck.by_folder` of the driver run that wrote them):
        used as they are instead of reading both tables again.

    Returns
    -------
    Comparison
        Folder by folder in the order of ``folders``.
    """
    spec = table_spec(kind)
    comparison = Comparison(spec)
    names = folders if folders is not None else [p.name for p in run_folders(run_root, kind, None)]
    known = known or {}
    for name in names:
        run_dir = run_root / kind / name
        if run_dir in known:
            comparison.merge(known[run_dir])
        elif (run_dir / RESULTS_FILENAME).is_file():
            reference_table = reference_root / kind / name / RESULTS_FILENAME
            comparison.merge(compare_table(run_dir / RESULTS_FILENAME, reference_table, spec))
    return comparison


def _same_folder(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


class ReferenceCheck:
    """Collect a driver run's tables and report how they compare with the reference.

    Parameters
    ----------
    kind : str
        Table kind the driver writes (``"slope"``, ``"curves"``).
    reference_root : Path or None
        Reference results root (``results/<dataset>``); None turns the check off.
    fail_on_difference : bool, default False
        Make :meth:`report` return 1 when a cell differs (``--fail-on-difference``, for CI).
    """

    def __init__(
        self, kind: str, reference_root: Path | None, *, fail_on_difference: bool = False
    ) -> None:
        self.spec = table_spec(kind)
        self.reference_root = reference_root
        self.fail_on_difference = fail_on_difference
        self.comparison = Comparison(self.spec)
        self.by_folder: dict[Path, Comparison] = {}
        """The comparison of each run folder compared so far (reused by the report)."""
        self._into_reference = False

    def add(self, run_dir: Path) -> None:
        """Compare the finished table in ``run_dir`` (``<root>/<kind>/<folder>``)."""
        if self.reference_root is None:
            return
        reference_dir = self.reference_root / self.spec.kind / run_dir.name
        if _same_folder(run_dir, reference_dir):
            self._into_reference = True
            return
        compared = compare_table(
            run_dir / RESULTS_FILENAME, reference_dir / RESULTS_FILENAME, self.spec
        )
        self.by_folder[run_dir] = compared
        self.comparison.merge(compared)

    def report(self, emit: Callable[[str], None] = print) -> int:
        """Emit the comparison lines (prefixed ``[<kind>]``); return the exit status.

        Returns
        -------
        int
            0, or 1 when ``fail_on_difference`` is set and a compared cell differs.
        """
        if self.reference_root is None:
            return 0
        prefix = f"[{self.spec.kind}]"
        if self._into_reference:
            emit(f"{prefix} this run wrote into the reference folder itself: not compared")
            return 0
        for line in self.comparison.lines(self.reference_root):
            emit(f"{prefix} {line}")
        failed = bool(self.comparison.differences)
        return 1 if failed and self.fail_on_difference else 0


# --------------------------------------------------------------------------- update


def _check_finished(folder: Path) -> None:
    if (folder / JOURNAL_FILENAME).exists():
        raise ValueError(
            f"{folder} holds an unfinished run ({JOURNAL_FILENAME} present); rerun the same "
            "command to finish it before updating the reference"
        )
    if not (folder / MANIFEST_FILENAME).is_file():
        raise ValueError(f"{folder} has no {MANIFEST_FILENAME}; it is not a finished run folder")


def update_reference(
    run_root: Path,
    reference_root: Path,
    kinds: Sequence[str],
    variants: Sequence[str] | None = ("",),
) -> list[Path]:
    """Copy a run's finished tables (``results.csv`` + ``manifest.json``) over the reference.

    Parameters
    ----------
    run_root, reference_root : Path
        Run root (``runs/mnist``) and reference root (``results/mnist``).
    kinds : sequence of str
        Table kinds to copy, e.g. ``("slope", "curves", "deviation")``.
    variants : sequence of str or None, default ("",)
        Data variants copied (see :func:`~backdoor_curves.experiments.recording.data_variant`);
        by default only runs on the configuration's data; None copies every run folder.

    Returns
    -------
    list of Path
        The reference folders written.

    Raises
    ------
    ValueError
        If the run root holds no such table, or a folder is unfinished; nothing is copied then.
    """
    if _same_folder(run_root, reference_root):
        raise ValueError(f"the run root and the reference are the same folder ({run_root})")
    sources = [folder for kind in kinds for folder in run_folders(run_root, kind, variants)]
    if not sources:
        where = ", ".join(str(run_root / kind) for kind in kinds)
        raise ValueError(f"no finished run table to copy under {where}")
    for folder in sources:
        _check_finished(folder)
    written = []
    for folder in sources:
        target = reference_root / folder.parent.name / folder.name
        target.mkdir(parents=True, exist_ok=True)
        for name in (RESULTS_FILENAME, MANIFEST_FILENAME):
            atomic_write_text(target / name, (folder / name).read_text(encoding="utf-8"))
        written.append(target)
    return written
