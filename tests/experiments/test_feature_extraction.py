"""The AlexNet extractor and the feature cache on weights resolved from a file.

Uses :mod:`backdoor_curves.classifiers.nn.pretrained` (the weights module of the network
experiment); skipped where that module is not present yet.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch
import torchvision

from backdoor_curves.classifiers.nn.features import ALEXNET_FC7, alexnet_extractor
from backdoor_curves.utilities.feature_cache import FeatureCache, FeatureSource

pretrained = pytest.importorskip("backdoor_curves.classifiers.nn.pretrained")

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


def test_opened_stage_builds_the_network_only_for_missing_images(
    weights_file, tmp_path, monkeypatch
):
    from backdoor_curves.experiments import feature_extraction as feature_stage

    settings = feature_stage.FeatureSettings(
        weights=weights_file, device="cpu", cache_dir=tmp_path / "cache", quiet=True
    )
    images = np.random.default_rng(0).uniform(size=(2, 3, 32, 32)).astype(np.float32)
    source = FeatureSource("cifar10", "6-0", 999)
    first = feature_stage.open_feature_stage("alexnet", settings, None, 999)
    assert first is not None
    assert first.features.weights_sha256 == pretrained.file_sha256(weights_file)
    stored = first.cache.get(source, "test", "clean", np.arange(2), images).load()
    assert first.extractor.n_images_ == 2
    # A second stage over the same cache reads the entry and never builds the network.
    with monkeypatch.context() as patch:
        patch.setattr(feature_stage, "load_alexnet", refuse_to_build)
        again = feature_stage.open_feature_stage("alexnet", settings, None, 999)
        assert again is not None
        entry = again.cache.get(source, "test", "clean", np.arange(2), images)
        np.testing.assert_array_equal(entry.load(), stored)
    # Weights replaced by other AlexNet weights after the stage hashed the file: refused
    # when the network is built, before anything is extracted with them.
    changed = tmp_path / "alexnet.pth"
    changed.symlink_to(weights_file)
    stage = feature_stage.open_feature_stage(
        "alexnet", replace(settings, weights=changed), None, 999
    )
    assert stage is not None
    state = torch.load(weights_file, weights_only=True)
    state["classifier.4.bias"] += 1.0
    changed.unlink()
    torch.save(state, changed)
    with pytest.raises(ValueError, match="changed while the run started"):
        stage.cache.get(source, "test", "clean", np.arange(3), np.concatenate([images] * 2)[:3])


def refuse_to_build(*args, **kwargs):
    raise AssertionError("the network was built although the features are cached")


def test_features_computed_on_a_gpu_have_their_own_cache_key(tmp_path, monkeypatch):
    from backdoor_curves.experiments import feature_extraction as feature_stage

    weights = tmp_path / "alexnet.pth"
    weights.write_bytes(b"hashed, never read here")
    settings = feature_stage.FeatureSettings(weights=weights, device="cpu", quiet=True)
    cpu = feature_stage.open_feature_stage("alexnet", settings, None, 999)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    gpu = feature_stage.open_feature_stage("alexnet", replace(settings, device="auto"), None, 999)
    assert cpu is not None and gpu is not None
    assert cpu.features.extractor == ALEXNET_FC7  # the key of the caches written before
    assert gpu.features.extractor == f"{ALEXNET_FC7}@cuda"
    assert gpu.features.network == cpu.features.network == ALEXNET_FC7
    # An entry extracted on the CPU is not what the GPU stage reads.
    images = np.zeros((2, 3, 8, 8), dtype=np.float32)
    source = FeatureSource("cifar10", "6-0", 999)
    calls = []

    def features(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return np.ones((len(batch), 4), dtype=np.float32)

    caches = [
        FeatureCache(tmp_path / "cache", features, extractor=stage.features.extractor,
                     weights_sha256=stage.features.weights_sha256)
        for stage in (cpu, gpu)
    ]  # fmt: skip
    paths = {cache.get(source, "test", "clean", np.arange(2), images).path for cache in caches}
    assert len(paths) == 2 and calls == [2, 2]
