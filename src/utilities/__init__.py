"""Generic building blocks that know nothing of backdoors (the bottom layer).

:mod:`.atomic` (atomic file writes), :mod:`.hashing`, :mod:`.provenance` (git, versions),
:mod:`.store` (result store: journal, table, manifest), :mod:`.locks` (one writer per folder),
:mod:`.tasks` (task keys), :mod:`.backends` (in-process, joblib, Dask), :mod:`.grid`
(resumable grids), :mod:`.feature_cache` (on-disk arrays keyed by opaque strings),
:mod:`.commands` (command-line plumbing), :mod:`.metrics` and :mod:`.data` (the dataset
readers). Nothing here imports the rest of the package. Import the submodules directly; this
package re-exports the data entry points.
"""

from backdoor_curves.utilities.data import PairTask, load_pair_task, parse_pair
from backdoor_curves.utilities.metrics import accuracy

__all__ = ["PairTask", "accuracy", "load_pair_task", "parse_pair"]
