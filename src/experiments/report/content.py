"""What a results folder holds, read for the report: its run folders and its figures.

- :func:`run_folders_of`: every folder under the results folder with a ``manifest.json``
  (``slope/7-1_badnet3``, ``nn``, ...), as a :class:`RunFolderInfo`: table, data source, the
  commits that produced its rows (the manifest's producers, with their task counts), versions,
  date, wall time and the cells the last run computed and skipped;
- :func:`figure_sections`: every PNG figure under the results folder, grouped by figure family
  (:data:`~backdoor_curves.plots.captions.FIGURE_FAMILIES`) with the family's caption, as a
  path relative to the report or embedded as a ``data:`` URI;
- :func:`run_totals`: the header's wall time and cell counts, summed over the run folders.

Reading only: nothing here writes.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backdoor_curves.plots.captions import FIGURE_FAMILIES, FigureFamily, figure_family
from backdoor_curves.utilities.manifest import MANIFEST_FILENAME, read_manifest
from backdoor_curves.utilities.store import RESULTS_FILENAME

__all__ = [
    "FigureEntry",
    "FigureSection",
    "RunFolderInfo",
    "RunTotals",
    "figure_sections",
    "run_folders_of",
    "run_totals",
]

# Packages named in the report's version column (the manifest records more).
_SHOWN_VERSIONS = ("python", "numpy", "scipy", "scikit-learn", "torch", "backdoor-curves")


@dataclass(frozen=True)
class RunFolderInfo:
    """One run folder of a results folder, from its manifest.

    Attributes
    ----------
    folder : str
        Path relative to the results folder, e.g. ``slope/7-1_badnet3``.
    rows : int
        Rows of its ``results.csv`` (0 if it has none).
    data_source : str
        The manifest's data source.
    commits : str
        The commits whose runs produced its rows, e.g. ``f8e4c906 (40 tasks)``; ``+dirty``
        when a run had uncommitted changes; ``unknown`` for rows of no recorded run.
    created : str
        When the manifest was written (UTC, ISO 8601).
    versions : str
        Python and the main packages of the last run.
    wall_seconds : float or None
        Wall time of the last run (None if not recorded).
    n_computed, n_skipped : int or None
        Cells the last run computed, and found done and skipped.
    command : str
        The last run's command line.
    """

    folder: str
    rows: int
    data_source: str
    commits: str
    created: str
    versions: str
    wall_seconds: float | None
    n_computed: int | None
    n_skipped: int | None
    command: str


@dataclass(frozen=True)
class RunTotals:
    """Sums over the run folders: wall time and cells computed / skipped by the last runs."""

    n_folders: int
    wall_seconds: float
    n_computed: int
    n_skipped: int


@dataclass(frozen=True)
class FigureEntry:
    """One figure: its path relative to the results folder and the ``src`` of its image."""

    path: str
    source: str


@dataclass(frozen=True)
class FigureSection:
    """The figures of one family (``family`` None: figures of no known family)."""

    family: FigureFamily | None
    figures: tuple[FigureEntry, ...]

    @property
    def title(self) -> str:
        """Heading of the section."""
        return self.family.title if self.family is not None else "Other figures"


def _visible(path: Path, root: Path) -> bool:
    """Whether no part of ``path`` below ``root`` is hidden (a dot folder or file)."""
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def _producer_text(producer: Mapping[str, Any], n_tasks: int) -> str:
    commit = producer.get("git_commit")
    if not commit:
        return f"unknown ({n_tasks} tasks)"
    dirty = "+dirty" if producer.get("git_dirty") else ""
    return f"{str(commit)[:8]}{dirty} ({n_tasks} tasks)"


def _commits(manifest: Mapping[str, Any]) -> str:
    producers = manifest.get("producers")
    task_producer = manifest.get("task_producer")
    if isinstance(producers, list) and isinstance(task_producer, dict) and task_producer:
        counts = Counter(task_producer.values())
        return ", ".join(
            _producer_text(producers[index], counts[index])
            for index in sorted(counts)
            if isinstance(index, int) and 0 <= index < len(producers)
        )
    return _producer_text(manifest, 0).replace(" (0 tasks)", "")


def _versions(manifest: Mapping[str, Any]) -> str:
    versions = manifest.get("versions") or {}
    return ", ".join(f"{name} {versions[name]}" for name in _SHOWN_VERSIONS if name in versions)


def _count_rows(path: Path) -> int:
    if not path.is_file():
        return 0
    with path.open(encoding="utf-8") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


def _optional_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def run_folders_of(root: Path) -> list[RunFolderInfo]:
    """Every folder under ``root`` holding a ``manifest.json``, in path order.

    Raises
    ------
    ValueError
        A manifest is not readable JSON (see
        :func:`~backdoor_curves.utilities.manifest.read_manifest`).
    """
    folders = []
    for path in sorted(root.rglob(MANIFEST_FILENAME)):
        if not _visible(path, root):
            continue
        manifest = read_manifest(path, RESULTS_FILENAME)
        timings = manifest.get("timings") or {}
        wall = timings.get("wall_seconds")
        command = manifest.get("command") or []
        folders.append(
            RunFolderInfo(
                folder=path.parent.relative_to(root).as_posix() or ".",
                rows=_count_rows(path.parent / RESULTS_FILENAME),
                data_source=str(manifest.get("data_source", "")),
                commits=_commits(manifest),
                created=str(manifest.get("created", "")),
                versions=_versions(manifest),
                wall_seconds=float(wall) if isinstance(wall, int | float) else None,
                n_computed=_optional_int(timings.get("n_computed")),
                n_skipped=_optional_int(timings.get("n_skipped")),
                command=" ".join(str(part) for part in command),
            )
        )
    return folders


def run_totals(folders: Sequence[RunFolderInfo]) -> RunTotals:
    """Sum the recorded wall times and cell counts of the run folders (unrecorded count 0)."""
    return RunTotals(
        n_folders=len(folders),
        wall_seconds=sum(f.wall_seconds or 0.0 for f in folders),
        n_computed=sum(f.n_computed or 0 for f in folders),
        n_skipped=sum(f.n_skipped or 0 for f in folders),
    )


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def figure_sections(root: Path, *, embed: bool = False) -> list[FigureSection]:
    """Return the PNG figures under ``root``, grouped by family in the order of the docs.

    Parameters
    ----------
    root : Path
        The results folder (the report is written there, so relative paths resolve).
    embed : bool, default False
        Give each figure as a ``data:image/png;base64`` URI (a report that can be moved on
        its own) instead of its path relative to ``root``.

    Returns
    -------
    list of FigureSection
        Families with at least one figure, then the figures of no known family.
    """
    by_family: dict[FigureFamily | None, list[FigureEntry]] = {}
    for path in sorted(root.rglob("*.png")):
        if not _visible(path, root):
            continue
        relative = path.relative_to(root).as_posix()
        source = _data_uri(path) if embed else relative
        by_family.setdefault(figure_family(path), []).append(FigureEntry(relative, source))
    order: list[FigureFamily | None] = [*FIGURE_FAMILIES, None]
    return [
        FigureSection(family, tuple(by_family[family])) for family in order if family in by_family
    ]
