"""Gradient maps: built once per key and kept by their group; unknown features refused."""

from __future__ import annotations

import pytest
from fresh_python import run_without_torch

from backdoor_curves.attacks.explanations import PixelFeatures
from backdoor_curves.experiments.explain.gradients import GradientMaps, deep_feature_name
from backdoor_curves.experiments.feature_extraction import FeatureSettings
from backdoor_curves.experiments.feature_stage import CachedFeatures


def test_a_map_is_built_once_and_kept() -> None:
    maps = GradientMaps(FeatureSettings())
    first = maps.get("pixels")
    assert isinstance(first, PixelFeatures) and first.name == "pixels"
    assert maps.get("pixels") is first and len(maps) == 1
    assert GradientMaps(FeatureSettings()).get("pixels") is not first  # another group's own


def test_unknown_features_and_extractors_are_refused() -> None:
    maps = GradientMaps(FeatureSettings())
    with pytest.raises(ValueError, match="unknown features 'edges'"):
        maps.get("edges")
    with pytest.raises(ValueError, match="unknown extractor 'vgg-fc7'; valid: alexnet-fc7"):
        maps.get(CachedFeatures("vgg-fc7", "0" * 64, 0))
    assert len(maps) == 0


def test_deep_features_are_named_by_extractor_and_weights() -> None:
    name = deep_feature_name(CachedFeatures("alexnet-fc7", "1a2b3c4d5e6f7a8b" * 4, 0))
    assert name == "alexnet-fc7 sha256:1a2b3c4d5e6f"


@pytest.mark.processes
def test_pixels_need_no_torch() -> None:
    """The MNIST explanation modules and a pixel map import no torch."""
    run_without_torch(
        "from backdoor_curves.experiments.explain import cli, gradients",
        "from backdoor_curves.experiments.feature_extraction import FeatureSettings",
        "gradients.GradientMaps(FeatureSettings()).get('pixels')",
    )
