"""The beta-weighted trainer: loss formulas, the poisons at beta = 0 (also through BatchNorm),
determinism, and the equivalence of a long run evaluated early with a short run."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812  # torch convention

from backdoor_curves.classifiers.nn.image_batches import TriggeredImages
from backdoor_curves.classifiers.nn.resnet import build_resnet
from backdoor_curves.classifiers.nn.weighted_trainer import (
    PoisonWeighting,
    TrainSettings,
    check_beta,
    epoch_plan,
    evaluate,
    train_weighted,
    training_batch,
    weighted_batch_loss,
)

CPU = torch.device("cpu")


class TinyNet(nn.Module):
    """Flatten -> Linear -> ReLU -> fc, with a seeded initialisation."""

    def __init__(self, seed: int, n_pixels: int = 36, n_classes: int = 3) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.body = nn.Linear(n_pixels, 8)
        self.fc = nn.Linear(8, n_classes)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.body(x.flatten(1))))


def tiny_images(n: int = 30, seed: int = 0, n_classes: int = 3) -> TriggeredImages:
    rng = np.random.default_rng(seed)
    is_poison = np.zeros(n, dtype=bool)
    is_poison[::5] = True
    return TriggeredImages(
        images=torch.from_numpy(rng.integers(0, 256, size=(n, 1, 6, 6), dtype=np.uint8)),
        labels=torch.from_numpy(rng.integers(0, n_classes, size=n)),
        is_poison=torch.from_numpy(is_poison),
        trigger_source=torch.full((n,), -1),
        trigger=None,
        mean=(0.5,),
        std=(0.5,),
    )


def test_batch_loss_is_the_explicit_formula() -> None:
    torch.manual_seed(0)
    logits = torch.randn(7, 4)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    is_poison = torch.tensor([False, True, False, False, True, False, True])
    ce = [float(F.cross_entropy(logits[i : i + 1], y[i : i + 1])) for i in range(7)]
    clean = np.mean([ce[i] for i in (0, 2, 3, 5)])
    poison = np.mean([ce[i] for i in (1, 4, 6)])
    loss = weighted_batch_loss(logits, y, is_poison, 0.3)
    assert float(loss) == pytest.approx(clean + 0.3 * poison, rel=1e-6)
    no_poison = weighted_batch_loss(logits[[0, 2]], y[[0, 2]], is_poison[[0, 2]], 0.3)
    assert float(no_poison) == pytest.approx(np.mean([ce[0], ce[2]]), rel=1e-6)


def test_per_sample_weighting_is_the_weighted_mean() -> None:
    torch.manual_seed(1)
    logits, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    is_poison = torch.tensor([False, True, False, False, True, False])
    ce = F.cross_entropy(logits, y, reduction="none").numpy()
    loss = weighted_batch_loss(logits, y, is_poison, 0.25, PoisonWeighting.PER_SAMPLE)
    want = (ce[[0, 2, 3, 5]].sum() + 0.25 * ce[[1, 4]].sum()) / (4 + 0.25 * 2)
    assert float(loss) == pytest.approx(want, rel=1e-6)
    full = weighted_batch_loss(logits, y, is_poison, 1.0, PoisonWeighting.PER_SAMPLE)
    assert float(full) == pytest.approx(ce.mean(), rel=1e-6)  # beta = 1: plain training


def test_beta_zero_gives_exactly_zero_gradient_from_the_poisons() -> None:
    data = tiny_images()
    model = TinyNet(seed=1)
    X, y, is_poison = data.batch(torch.arange(len(data)), CPU)
    logits = model(X)
    logits.retain_grad()
    weighted_batch_loss(logits, y, is_poison, 0.0).backward()
    assert logits.grad is not None
    assert torch.count_nonzero(logits.grad[is_poison]) == 0
    # The parameter gradient equals the clean-only loss's (up to summation order).
    full = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    F.cross_entropy(model(X[~is_poison]), y[~is_poison]).backward()
    for got, want in zip(full, [p.grad for p in model.parameters()], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("beta", [-0.1, 1.5, float("nan"), "0.5", True])
def test_beta_outside_unit_interval_is_rejected(beta: object) -> None:
    with pytest.raises(ValueError, match="beta"):
        check_beta(beta)


def test_epoch_plan_does_not_depend_on_anything_but_seed_and_epoch() -> None:
    first = epoch_plan(10, 3, seed=7, batch_size=4, flip=True)
    again = epoch_plan(10, 3, seed=7, batch_size=4, flip=True)
    assert [len(index) for index, _ in first] == [4, 4, 2]
    assert all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        for a, b in zip(first, again, strict=True)
    )
    other = epoch_plan(10, 4, seed=7, batch_size=4, flip=True)
    assert not torch.equal(torch.cat([i for i, _ in first]), torch.cat([i for i, _ in other]))


def train(seed: int, epochs: int, beta: float = 0.5, snapshot_at: int | None = None):
    model = TinyNet(seed=seed)
    snapshots = {}

    def keep(log, network) -> None:
        snapshots[log.epoch] = {k: v.clone() for k, v in network.state_dict().items()}

    settings = TrainSettings(epochs=epochs, lr=0.05, batch_size=8, flip=True)
    logs = train_weighted(
        model, tiny_images(), beta, settings, seed=seed, device=CPU, on_epoch_end=keep
    )
    return model, logs, snapshots


def test_one_tiny_epoch_trains() -> None:
    before = TinyNet(seed=3).state_dict()
    model, logs, _ = train(seed=3, epochs=1)
    assert len(logs) == 1 and np.isfinite(logs[0].train_loss) and logs[0].seconds >= 0
    changed = [not torch.equal(before[k], v) for k, v in model.state_dict().items()]
    assert all(changed)


def test_training_is_deterministic_per_seed_on_cpu() -> None:
    first, _, _ = train(seed=5, epochs=2)
    second, _, _ = train(seed=5, epochs=2)
    other, _, _ = train(seed=6, epochs=2)
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key])
    assert not torch.equal(first.fc.weight, other.fc.weight)


def test_long_run_evaluated_early_equals_the_short_run() -> None:
    _, _, snapshots = train(seed=9, epochs=4)
    short, _, _ = train(seed=9, epochs=2)
    for key, value in short.state_dict().items():
        assert torch.equal(snapshots[2][key], value)


def test_resnet_builder_is_seeded_and_adapts_to_one_channel() -> None:
    a = build_resnet("resnet18", 10, seed=1, in_channels=1, stem="small", width=2)
    b = build_resnet("resnet18", 10, seed=1, in_channels=1, stem="small", width=2)
    c = build_resnet("resnet18", 10, seed=2, in_channels=1, stem="small", width=2)
    assert a(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert torch.equal(a.conv1.weight, b.conv1.weight)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)
    with pytest.raises(ValueError, match="unknown architecture 'vgg'"):
        build_resnet("vgg", 10, seed=0)


def test_beta_zero_batches_leave_the_poisons_out() -> None:
    data = tiny_images()
    index = torch.arange(10)
    X, y, is_poison = training_batch(data, index, None, 0.0, CPU)
    assert not is_poison.any() and len(X) == 10 - int(data.is_poison[:10].sum())
    X_all, _, poison_all = training_batch(data, index, None, 0.5, CPU)
    assert len(X_all) == 10 and poison_all.any()
    only_poisons = torch.from_numpy(np.flatnonzero(data.is_poison.numpy()))
    assert training_batch(data, only_poisons, None, 0.0, CPU) is None


def bn_resnet(seed: int = 0) -> nn.Module:
    model = build_resnet("resnet18", 3, seed=seed, in_channels=1, stem="small", width=2)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    return model


def test_beta_zero_keeps_poisons_out_of_batchnorm_on_a_resnet() -> None:
    """At beta = 0 a ResNet with BatchNorm trains exactly as on the clean rows alone."""
    data = tiny_images(n=24)
    settings = TrainSettings(epochs=1, lr=0.1, batch_size=12, weight_decay=1e-3)
    model = bn_resnet()
    train_weighted(model, data, 0.0, settings, seed=4, device=CPU)
    # Reference: the same batches with their poisons removed, the same optimiser.
    clean_only = bn_resnet()
    clean_only.train()
    optimiser = torch.optim.SGD(clean_only.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for index, _ in epoch_plan(len(data), 1, seed=4, batch_size=12, flip=False):
        index = index[~data.is_poison[index]]
        X, y, _ = data.batch(index, CPU)
        optimiser.zero_grad()
        F.cross_entropy(clean_only(X), y).backward()
        optimiser.step()
    for key, value in clean_only.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)


def relative_gradient_change(model: nn.Module, beta: float) -> float:
    """``||grad(batch with poisons) - grad(clean rows only)|| / ||grad(clean rows only)||``."""
    data = tiny_images(n=30)
    X, y, is_poison = data.batch(torch.arange(30), CPU)
    model.train()

    def gradient(X: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        model.zero_grad()
        weighted_batch_loss(model(X), y, mask, beta).backward()
        return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    with_poisons = gradient(X, y, is_poison)
    clean = gradient(X[~is_poison], y[~is_poison], is_poison[~is_poison])
    return float((with_poisons - clean).norm() / clean.norm())


def test_for_beta_above_zero_batchnorm_sees_the_poisons() -> None:
    """The measured truth for beta -> 0+: BatchNorm's batch statistics include the poisons,
    so the gradient is not the clean batch's however small beta is (a network without
    BatchNorm tends to it)."""
    assert relative_gradient_change(bn_resnet(), 1e-9) > 0.05
    assert relative_gradient_change(TinyNet(seed=2), 1e-9) < 1e-6


def test_evaluate_uses_autocast_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    real = torch.autocast

    def spy(*args, **kwargs):
        seen.append(kwargs.get("enabled"))
        return real(*args, **{**kwargs, "device_type": "cpu", "enabled": False})

    monkeypatch.setattr(torch, "autocast", spy)
    fake_cuda = torch.device("cuda")
    monkeypatch.setattr(
        TriggeredImages, "batch", lambda self, index, device, flip=None, channels_last=False: (
            torch.zeros(len(index), 36), self.labels[index], self.is_poison[index]
        ),
    )  # fmt: skip
    model = TinyNet(seed=0)
    evaluate(model, tiny_images(), fake_cuda, amp=False)
    evaluate(model, tiny_images(), fake_cuda, amp=True)
    assert seen == [False, True]
