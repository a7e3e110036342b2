"""The maps input gradients are taken through, built once per group of tasks that shares them.

A task's ``features`` say what its models see: ``"pixels"`` (a
:class:`~backdoor_curves.attacks.explanations.PixelFeatures`: the models' own input gradients)
or a deep-feature stage (a
:class:`~backdoor_curves.experiments.feature_stage.CachedFeatures`: the input gradients go
back through the network, a
:class:`~backdoor_curves.classifiers.nn.input_gradients.TorchFeatures`). A network is not
loaded once per task: the tasks of one group share a :class:`GradientMaps`
(:class:`~backdoor_curves.experiments.explain.cell.ExplainWorkspace`), keyed by the features'
content and dropped with the group. The driver builds its own map from the network it opened
for the extraction (:func:`stage_gradient_map`).

Importing this module does not import torch; a deep map does, when it is built.
"""

from __future__ import annotations

from backdoor_curves.attacks.explanations import FeatureMap, PixelFeatures
from backdoor_curves.classifiers.nn.pretrained import ALEXNET_FC7
from backdoor_curves.experiments.feature_extraction import (
    FeatureSettings,
    OpenedStage,
    load_alexnet,
)
from backdoor_curves.experiments.feature_stage import CachedFeatures

__all__ = ["GradientMaps", "deep_feature_name", "stage_gradient_map"]


def deep_feature_name(features: CachedFeatures) -> str:
    """Name the deep features in the tables: extractor and weights, ``alexnet-fc7 sha256:...``."""
    return f"{features.extractor} sha256:{features.weights_sha256[:12]}"


def stage_gradient_map(stage: OpenedStage) -> FeatureMap:
    """Return the gradient map through the network of a driver's opened stage.

    Reading ``stage.extractor`` builds the network (and verifies its weights) if the
    extraction has not yet.
    """
    # torch loads here, only for deep features.
    from backdoor_curves.classifiers.nn.input_gradients import TorchFeatures  # noqa: PLC0415

    extractor = stage.extractor
    return TorchFeatures(extractor.module, extractor.device, name=deep_feature_name(stage.features))


class GradientMaps:
    """The gradient maps of the tasks of one group, each built on first use.

    Parameters
    ----------
    settings : FeatureSettings
        Weights file, device and download permission of the deep extractor.

    Notes
    -----
    The key of a map is the content of the task's features: ``"pixels"``, or the extractor
    and the SHA-256 of its weights. A group's maps are made empty in the driver's process and
    travel to the worker that way; the worker builds the network, which never travels.
    """

    def __init__(self, settings: FeatureSettings) -> None:
        self.settings = settings
        self._maps: dict[str | tuple[str, str], FeatureMap] = {}

    def __len__(self) -> int:
        """Return the number of maps built and kept."""
        return len(self._maps)

    def get(self, features: str | CachedFeatures) -> FeatureMap:
        """Return the map of ``features``, building it the first time.

        Raises
        ------
        ValueError
            Unknown features or extractor, or weights whose SHA-256 differs from the one the
            features were extracted with.
        """
        if isinstance(features, str):
            if features != "pixels":
                raise ValueError(
                    f"unknown features {features!r}; valid: 'pixels' or a feature stage"
                )
            return self._maps.setdefault(features, PixelFeatures())
        key = (features.extractor, features.weights_sha256)
        if key not in self._maps:
            self._maps[key] = self._deep_map(features)
        return self._maps[key]

    def _deep_map(self, features: CachedFeatures) -> FeatureMap:
        """Load the network of ``features`` and check its weights (see :meth:`get`)."""
        if features.network != ALEXNET_FC7:
            raise ValueError(f"unknown extractor {features.extractor!r}; valid: {ALEXNET_FC7}")
        # torch loads here, only for deep features.
        from backdoor_curves.classifiers.nn.features import resolve_device  # noqa: PLC0415
        from backdoor_curves.classifiers.nn.input_gradients import TorchFeatures  # noqa: PLC0415

        device = resolve_device(self.settings.device)
        extractor, resolved = load_alexnet(
            self.settings.weights, download=self.settings.download, device=device, quiet=True
        )
        if resolved.sha256 != features.weights_sha256:
            raise ValueError(
                f"the weights {resolved.path} (sha256 {resolved.sha256[:12]}) are not the ones "
                f"the features were extracted with (sha256 {features.weights_sha256[:12]})"
            )
        return TorchFeatures(extractor.module, device, name=deep_feature_name(features))
