"""The AlexNet extractor and the feature cache on weights resolved from a file.

Uses :mod:`backdoor_curves.classifiers.pretrained` (the weights module of the network
experiment); skipped where that module is not present yet.
"""

import numpy as np
import pytest
import torch
import torchvision

from backdoor_curves.classifiers.features import ALEXNET_FC7, alexnet_extractor
from backdoor_curves.utilities.feature_cache import FeatureCache, FeatureSource

pretrained = pytest.importorskip("backdoor_curves.classifiers.pretrained")

CPU = torch.device("cpu")


def test_cache_keys_follow_the_weights_file(weights_file, tmp_path):
    weights = pretrained.resolve_weights("alexnet", weights_path=weights_file)
    assert weights.sha256 == pretrained.file_sha256(weights_file)
    extractor = alexnet_extractor(weights.state_dict, CPU, quiet=True)
    cache = FeatureCache(
        tmp_path, extractor.transform, extractor=ALEXNET_FC7, weights_sha256=weights.sha256
    )
    images = np.random.default_rng(0).uniform(size=(2, 3, 32, 32)).astype(np.float32)
    source = FeatureSource("cifar10", "6-0", 999)
    entry = cache.get(source, "test", "clean", np.arange(2), images)
    assert entry.load().shape == (2, 4096)
    assert weights.sha256 in entry.path.with_suffix(".json").read_text()
    # Other weights (one bias changed, saved to another file): another key, recomputed.
    state = torch.load(weights_file, weights_only=True)
    state["classifier.4.bias"] += 1.0
    other_file = tmp_path / "alexnet-other.pth"
    torch.save(state, other_file)
    other = pretrained.resolve_weights("alexnet", weights_path=other_file)
    other_extractor = alexnet_extractor(other.state_dict, CPU, quiet=True)
    other_cache = FeatureCache(
        tmp_path, other_extractor.transform, extractor=ALEXNET_FC7, weights_sha256=other.sha256
    )
    assert other_cache.get(source, "test", "clean", np.arange(2), images).path != entry.path
    assert other_extractor.n_images_ == 2


def test_weights_of_another_network_are_refused(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match=str(path)):
        pretrained.resolve_weights("alexnet", weights_path=path)
