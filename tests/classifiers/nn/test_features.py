"""Tests of the frozen AlexNet fc7 feature extractor (docs/data.md, deep features).

The reference is torchvision's own AlexNet with the same (random) weights, run whole with a
forward hook on the ReLU after fc7 and fed by torchvision's own ``Resize`` and ``Normalize``.
"""

import numpy as np
import pytest
import torch
import torchvision
from torchvision import transforms

from backdoor_curves.classifiers.nn.features import (
    ALEXNET_FEATURE_DIM,
    IMAGENET_MEAN,
    IMAGENET_STD,
    FeatureExtractor,
    alexnet_fc7,
    resolve_device,
    state_dict_sha256,
)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def alexnet():
    torch.manual_seed(0)
    return torchvision.models.alexnet(weights=None).eval()


def torchvision_fc7(alexnet, images):
    """fc7 after ReLU of the whole torchvision AlexNet (hook on classifier[5])."""
    captured = []
    handle = alexnet.classifier[5].register_forward_hook(lambda m, i, o: captured.append(o))
    preprocess = transforms.Compose(
        [
            transforms.Resize((224, 224), antialias=True),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    try:
        with torch.no_grad():
            alexnet(preprocess(images))
    finally:
        handle.remove()
    assert isinstance(alexnet.classifier[5], torch.nn.ReLU)
    assert isinstance(alexnet.classifier[4], torch.nn.Linear)
    return captured[0].numpy()


def images(n, channels, side, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, channels, side, side)).astype(np.float32)


@pytest.mark.parametrize("side", [32, 224, 240])
def test_features_equal_torchvision_alexnet_cut_after_fc7_relu(alexnet, side):
    X = images(3, 3, side)[:2] if side != 32 else images(3, 3, side)
    expected = torchvision_fc7(alexnet, torch.from_numpy(X))
    assert expected.shape == (len(X), ALEXNET_FEATURE_DIM)
    extractor = FeatureExtractor(alexnet_fc7(alexnet.state_dict()), CPU, batch_size=2, quiet=True)
    features = extractor.transform(X)
    assert features.dtype == np.float32
    assert features.shape == (len(X), ALEXNET_FEATURE_DIM)
    assert (features >= 0).all() and (features > 0).any()
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    assert extractor.n_images_ == len(X) and extractor.n_calls_ == (len(X) + 1) // 2


def test_grayscale_is_repeated_to_rgb(alexnet):
    gray = images(1, 1, 32, seed=1)
    extractor = FeatureExtractor(alexnet_fc7(alexnet.state_dict()), CPU, quiet=True)
    np.testing.assert_array_equal(
        extractor.transform(gray), extractor.transform(np.repeat(gray, 3, axis=1))
    )


def test_batching_and_float64_input_do_not_change_features(alexnet):
    X = images(3, 3, 32, seed=2)
    module = alexnet_fc7(alexnet.state_dict())
    whole = FeatureExtractor(module, CPU, batch_size=3, quiet=True).transform(X)
    batched = FeatureExtractor(module, CPU, batch_size=2, quiet=True).transform(
        X.astype(np.float64)
    )
    np.testing.assert_allclose(batched, whole, rtol=1e-5, atol=1e-6)


def test_extractor_is_frozen_and_differentiable_in_the_input(alexnet):
    module = alexnet_fc7(alexnet.state_dict())
    module.train()
    assert not module.training
    assert not any(p.requires_grad for p in module.parameters())
    x = torch.from_numpy(images(1, 3, 32, seed=3)).requires_grad_(True)
    direction = torch.from_numpy(np.random.default_rng(4).normal(size=ALEXNET_FEATURE_DIM)).float()
    (module(x) @ direction).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in module.parameters())


@pytest.mark.slow
def test_input_gradient_matches_central_differences(alexnet):
    """Directional derivative of ``u . features(x)`` vs central differences, in float64.

    ReLU and max-pool kinks make steps of 1e-5 or larger cross non-differentiable points,
    so the step is 1e-7 (float64 keeps the difference accurate).
    """
    module = alexnet_fc7(alexnet.state_dict()).double()
    x = torch.from_numpy(np.random.default_rng(3).uniform(size=(1, 3, 32, 32))).requires_grad_(True)
    direction = torch.from_numpy(np.random.default_rng(4).normal(size=ALEXNET_FEATURE_DIM))
    (gradient,) = torch.autograd.grad((module(x) @ direction).sum(), x)
    v = torch.from_numpy(np.random.default_rng(5).normal(size=x.shape))
    h = 1e-7
    with torch.no_grad():
        fd = ((module(x + h * v) - module(x - h * v)) @ direction).sum() / (2 * h)
    assert float((gradient * v).sum()) == pytest.approx(float(fd), rel=1e-5)


def test_bad_input_is_a_clear_error(alexnet):
    extractor = FeatureExtractor(alexnet_fc7(alexnet.state_dict()), CPU, quiet=True)
    with pytest.raises(ValueError, match=r"C = 1 or 3, got \(2, 2, 32, 32\)"):
        extractor.transform(images(2, 2, 32))
    with pytest.raises(ValueError, match="floating-point array of shape"):
        extractor.transform(np.zeros((2, 3, 32, 32), dtype=np.uint8))
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        FeatureExtractor(alexnet_fc7(alexnet.state_dict()), CPU, batch_size=0)


def test_wrong_architecture_weights_are_refused():
    resnet = torchvision.models.resnet18(weights=None).state_dict()
    with pytest.raises(ValueError, match="not torchvision AlexNet weights"):
        alexnet_fc7(resnet)


def test_resolve_device():
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match=r"unknown device 'gpu'; valid: auto, cpu, cuda"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device is available"):
            resolve_device("cuda")


class MeanPixel(torch.nn.Module):
    """A network-free stand-in: the mean pixel of each channel (3 features)."""

    feature_dim = 3

    def forward(self, images):
        return images.mean(dim=(2, 3))


def test_progress_bar_shows_images_per_second_unless_quiet(capsys):
    X = images(6, 3, 4)
    FeatureExtractor(MeanPixel(), CPU, batch_size=2).transform(X, description="cifar10 6-0")
    err = capsys.readouterr().err
    assert "cifar10 6-0" in err and "img/s" in err
    extractor = FeatureExtractor(MeanPixel(), CPU, batch_size=2, quiet=True)
    features = extractor.transform(X)
    assert capsys.readouterr().err == ""
    np.testing.assert_allclose(features, X.mean(axis=(2, 3)), rtol=1e-6)
    assert extractor.images_per_second_ > 0


def test_state_dict_hash_identifies_the_weights():
    torch.manual_seed(0)
    state = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4, 2)).state_dict()
    changed = {name: tensor.clone() for name, tensor in state.items()}
    changed["1.bias"][0] += 1.0
    assert state_dict_sha256(state) == state_dict_sha256(dict(reversed(state.items())))
    assert state_dict_sha256(changed) != state_dict_sha256(state)
    renamed = {f"x{name}": tensor for name, tensor in state.items()}
    assert state_dict_sha256(renamed) != state_dict_sha256(state)
    assert len(state_dict_sha256(state)) == 64
