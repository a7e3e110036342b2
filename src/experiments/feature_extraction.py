r"""The deep-feature stage, driver side: resolve the weights, extract once before the grid.

In the driver's main process, before the grid is dispatched (:func:`open_feature_stage`,
:meth:`OpenedStage.extract`): the weights are resolved (``--weights``, the torch hub cache, or
``--download``) and hashed, and for each class pair the clean train and test splits are
extracted once, then for each experiment seed (and poison fraction) only the triggered copies:
the poisons and the backdoor test set. Everything goes through
:class:`~backdoor_curves.utilities.feature_cache.FeatureCache`, so a resumed run or another
driver over the same images extracts nothing again. The network itself is built only when an
image is missing from the cache.

Importing this module does not import torch; :func:`load_alexnet` does, and an
:class:`OpenedStage` calls it only when the cache lacks an image.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from backdoor_curves.classifiers.nn.pretrained import ALEXNET_FC7, locate_weights, resolve_weights
from backdoor_curves.experiments.feature_stage import (
    CachedFeatures,
    FeatureReader,
    PoisonVariant,
    device_extractor,
    feature_cache_dir,
    pair_name,
)
from backdoor_curves.experiments.problem import poisoned_images
from backdoor_curves.utilities.data import PairTask
from backdoor_curves.utilities.feature_cache import FeatureCache
from backdoor_curves.utilities.hashing import file_sha256

if TYPE_CHECKING:
    import torch

    from backdoor_curves.classifiers.nn.features import FeatureExtractor
    from backdoor_curves.classifiers.nn.pretrained import PretrainedWeights

__all__ = [
    "DEEP_FEATURES",
    "FeatureSettings",
    "OpenedStage",
    "extract_pair",
    "feature_device_kind",
    "load_alexnet",
    "open_feature_stage",
]

DEEP_FEATURES = ("alexnet",)
"""Feature names of dataset configurations that go through this stage."""


@dataclass(frozen=True)
class FeatureSettings:
    """The command line's deep-feature flags, typed.

    Attributes
    ----------
    weights : Path or None
        ``--weights PATH`` (None: torchvision's file in the torch hub cache).
    download : bool
        ``--download``: torchvision may fetch the weights (and the dataset).
    device : str
        ``--device`` (``auto``, ``cpu``, ``cuda``), resolved by :func:`open_feature_stage`.
    cache_dir : Path or None
        ``--feature-cache`` (None: ``<data dir>/features``).
    quiet : bool
        Hide the extraction progress bar.
    """

    weights: Path | None = None
    download: bool = False
    device: str = "auto"
    cache_dir: Path | None = None
    quiet: bool = False


def load_alexnet(
    weights: str | Path | None,
    *,
    download: bool,
    device: torch.device,
    quiet: bool = False,
    batch_size: int = 64,
) -> tuple[FeatureExtractor, PretrainedWeights]:
    """Resolve AlexNet's ImageNet weights and build the frozen fc7 extractor on ``device``.

    Parameters
    ----------
    weights : str, Path or None
        ``--weights PATH``; None reads torchvision's file from the torch hub cache.
    download : bool
        ``--download``: let torchvision fetch the weights when they are not cached.
    device : torch.device
        Where the network runs (``resolve_device(--device)``).
    quiet : bool
        Hide the progress bar.
    batch_size : int
        Images per forward call.

    Returns
    -------
    extractor : FeatureExtractor
        Numpy in, numpy out; ``extractor.module`` is the differentiable
        :class:`~backdoor_curves.classifiers.features.AlexNetFC7` (input gradients).
    weights : PretrainedWeights
        The file and its SHA-256 (for the cache key and the manifest).

    Raises
    ------
    FileNotFoundError, ValueError
        Weights missing (names the file torchvision looks for, the folder and ``--weights``),
        or a file that is corrupt or not AlexNet weights (names the file).
    """
    # torch and torchvision load here, only for deep-feature runs.
    from backdoor_curves.classifiers.nn.features import alexnet_extractor  # noqa: PLC0415

    resolved = resolve_weights(
        "alexnet", weights_path=weights, download=download, fallback_flag=None
    )
    extractor = alexnet_extractor(resolved.state_dict, device, batch_size=batch_size, quiet=quiet)
    return extractor, resolved


def extract_pair(
    cache: FeatureCache, features: CachedFeatures, task: PairTask, variants: Iterable[PoisonVariant]
) -> None:
    """Extract (or find stored) every feature a pair's grid reads: run in the main process.

    The clean splits once, then for each distinct :class:`PoisonVariant` the triggered copies
    (poisons and backdoor test set). Rows already stored for the same (image, trigger variant)
    are reused, so the extractor sees each distinct (image, variant) once.

    Parameters
    ----------
    cache : FeatureCache
        Cache with the real extractor (its key fields must match ``features``).
    features : CachedFeatures
        The stage the tasks carry.
    task : PairTask
        The pair's images.
    variants : iterable of PoisonVariant
        The poisoned problems of the grid.
    """
    if (cache.extractor, cache.weights_sha256) != (features.extractor, features.weights_sha256):
        raise ValueError("the cache's extractor or weights differ from the tasks' feature stage")
    reader = FeatureReader(features, cache)
    reader.clean(task)
    for variant in dict.fromkeys(variants):
        images = poisoned_images(task, variant.trigger, variant.fraction, variant.seed)
        reader.problem(task, images)


class OpenedStage:
    """A deep-feature stage opened by a driver: the weights file is known, the network is lazy.

    Building AlexNet imports torch and torchvision (slow imports) and reads 233 MB of
    weights; a run whose features are all in the cache needs neither. The network is built the
    first time an image is missing from the cache, or when :attr:`extractor` is read (the
    explanations need its input gradients). A weights file that is corrupt or not AlexNet's
    fails at that point, so drivers extract before they write anything; its SHA-256 is known
    from the start (it keys the cache and goes into the manifest).

    Parameters
    ----------
    features : CachedFeatures
        What the grid tasks carry.
    weights_path : Path
        The weights file (``--weights`` or torchvision's file in the torch hub cache).
    cache_dir : Path
        The feature cache folder.
    settings : FeatureSettings
        ``--device`` and ``--quiet`` for the network.

    Attributes
    ----------
    cache : FeatureCache
        The cache; its ``extract`` builds the network on first use.
    """

    def __init__(
        self,
        features: CachedFeatures,
        weights_path: Path,
        cache_dir: Path,
        settings: FeatureSettings,
    ) -> None:
        self.features = features
        self.weights_path = weights_path
        self.settings = settings
        self.cache = FeatureCache(
            cache_dir,
            self._transform,
            extractor=features.extractor,
            weights_sha256=features.weights_sha256,
        )
        self._extractor: FeatureExtractor | None = None

    @property
    def extractor(self) -> FeatureExtractor:
        """The network (built, and its weights verified, on first use)."""
        if self._extractor is None:
            # torch and torchvision load here, only for images the cache does not hold.
            from backdoor_curves.classifiers.nn.features import resolve_device  # noqa: PLC0415

            extractor, weights = load_alexnet(
                self.weights_path,
                download=False,
                device=resolve_device(self.settings.device),
                quiet=self.settings.quiet,
            )
            if weights.sha256 != self.features.weights_sha256:
                raise ValueError(
                    f"weights file {weights.path} changed while the run started (sha256 "
                    f"{self.features.weights_sha256[:12]}, now {weights.sha256[:12]}); rerun"
                )
            self._extractor = extractor
        return self._extractor

    def _transform(self, images: np.ndarray) -> np.ndarray:
        return self.extractor.transform(images)

    def extract(self, task: PairTask, variants: Iterable[PoisonVariant]) -> str:
        """Extract (or find stored) every feature a pair's grid reads (see :func:`extract_pair`).

        Returns one console line: the images that went through the network, where the others
        were read from, and how many stored entries were corrupt and recomputed, and why.
        """
        before = self.cache.n_extracted_
        recomputed_before = dict(self.cache.recomputed_)
        extract_pair(self.cache, self.features, task, variants)
        line = (
            f"[features] {pair_name(task)}: {self.cache.n_extracted_ - before} image(s) through "
            f"{self.features.extractor} (weights {self.weights_path.name}, sha256 "
            f"{self.features.weights_sha256[:12]}), the rest read from {self.cache.root}"
        )
        recomputed = {
            reason: count - recomputed_before.get(reason, 0)
            for reason, count in self.cache.recomputed_.items()
            if count > recomputed_before.get(reason, 0)
        }
        if recomputed:
            reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(recomputed.items()))
            line += (
                f"; {sum(recomputed.values())} corrupt cache entr"
                f"{'y' if sum(recomputed.values()) == 1 else 'ies'} recomputed ({reasons})"
            )
        return line


def feature_device_kind(device: str) -> str:
    """Return the kind of device (``"cpu"`` or ``"cuda"``) features are computed on.

    ``--device cpu`` and ``cuda`` say it without importing torch; ``auto`` imports torch to
    ask whether CUDA is available (as the extractor itself will). An unknown name or
    ``cuda`` without a GPU raises when the network is built.
    """
    if device in ("cpu", "cuda"):
        return device
    # torch loads here, only to resolve --device auto.
    from backdoor_curves.classifiers.nn.features import resolve_device  # noqa: PLC0415

    return resolve_device(device).type


def open_feature_stage(
    features: str, settings: FeatureSettings, data_dir: str | Path | None, data_seed: int
) -> OpenedStage | None:
    """Open the stage of a configuration's ``features`` (None for ``"pixels"``).

    Called by a driver after validating its data and before writing anything: an unknown
    feature name and a missing weights file fail here; the file is hashed (the cache key, with
    the device kind: :func:`~backdoor_curves.experiments.feature_stage.device_extractor`) but
    loaded only when an image needs the network (see :class:`OpenedStage`), so drivers
    extract before writing results.

    Raises
    ------
    ValueError
        Unknown feature name.
    FileNotFoundError
        The weights file is missing (names the file, the folder and ``--weights``).
    """
    if features == "pixels":
        return None
    if features not in DEEP_FEATURES:
        raise ValueError(
            f"unknown features {features!r}; valid: pixels, {', '.join(DEEP_FEATURES)}"
        )
    weights_path = locate_weights(
        "alexnet", weights_path=settings.weights, download=settings.download, fallback_flag=None
    )
    extractor = device_extractor(ALEXNET_FC7, feature_device_kind(settings.device))
    stage = CachedFeatures(extractor, file_sha256(weights_path), data_seed)
    return OpenedStage(
        stage, weights_path, feature_cache_dir(settings.cache_dir, data_dir), settings
    )
