"""The beta-weighted trainer: loss formula, zero poison gradient at beta = 0, determinism,
and the equivalence of a long run evaluated early with a short run."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812  # torch convention

from backdoor_curves.classifiers.nn.image_batches import TriggeredImages
from backdoor_curves.classifiers.nn.resnet import build_resnet
from backdoor_curves.classifiers.nn.weighted_trainer import (
    TrainSettings,
    check_beta,
    epoch_plan,
    train_weighted,
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
