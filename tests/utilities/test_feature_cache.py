"""Tests of the on-disk feature cache: hit, miss, invalidation, corrupt entries, one pass per image.

A tiny stand-in network (a fixed random projection with a ReLU) goes through the real
:class:`FeatureExtractor`, whose ``n_images_`` counts every image passed through the network.
"""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from backdoor_curves.attacks.poisoning import backdoor_test_set, poison_training_set
from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.nn.features import FeatureExtractor
from backdoor_curves.classifiers.registry import make_classifier
from backdoor_curves.experiments.feature_stage import (
    clean_features,
    poisoned_training_features,
    trigger_variant,
    triggered_features,
)
from backdoor_curves.utilities.feature_cache import (
    CLEAN,
    FeatureCache,
    FeatureSource,
    Split,
    default_cache_dir,
)

SHAPE = (3, 8, 8)
SOURCE = FeatureSource("cifar10", "6-0", 999)
FRACTION = 0.25


class Projection(torch.nn.Module):
    """``relu(W vec(x))`` with a fixed random W: a cheap deterministic feature map."""

    feature_dim = 16

    def __init__(self, seed=0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.weight = torch.nn.Parameter(
            torch.randn(int(np.prod(SHAPE)), self.feature_dim, generator=generator),
            requires_grad=False,
        )

    def forward(self, images):
        return torch.relu(images.flatten(1) @ self.weight)


def pair_images(n_train=24, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    y_train, y_test = np.arange(n_train) % 2, np.arange(n_test) % 2
    X_train = (
        rng.uniform(size=(n_train, *SHAPE)).astype(np.float32) * 0.5
        + 0.25 * y_train[:, None, None, None]
    )
    X_test = (
        rng.uniform(size=(n_test, *SHAPE)).astype(np.float32) * 0.5
        + 0.25 * y_test[:, None, None, None]
    )
    return X_train, y_train, X_test, y_test


def poison(X_train, y_train, X_test, y_test, spec, seed):
    """The drivers' recipe: trigger patterns, then the poison choice, from one seeded rng."""
    rng = np.random.default_rng(seed)
    trigger = spec.build(SHAPE, 2, rng)
    poisoned = poison_training_set(X_train, y_train, trigger, FRACTION, rng, n_classes=2)
    X_backdoor, y_backdoor = backdoor_test_set(X_test, y_test, trigger, n_classes=2)
    return poisoned, X_backdoor, y_backdoor


def make_cache(root, weights_seed=0):
    extractor = FeatureExtractor(
        Projection(weights_seed), torch.device("cpu"), batch_size=7, quiet=True
    )
    cache = FeatureCache(
        root, extractor.transform, extractor="projection", weights_sha256=f"weights-{weights_seed}"
    )
    return cache, extractor


BADNET = TriggerSpec.badnet(3)
# Positions of the drawn images in their (imaginary) dataset splits: the images' identities.
TRAIN_POS = np.random.default_rng(7).choice(1000, 24, replace=False)
TEST_POS = np.random.default_rng(8).choice(1000, 10, replace=False)
POSITIONS = {"train_indices": TRAIN_POS, "test_indices": TEST_POS}
TRIGGERED_POSITIONS = {"train_indices": TRAIN_POS, "backdoor_indices": TEST_POS}
INVISIBLE = TriggerSpec.invisible(10 / 255)


def test_miss_then_hit_reads_memory_mapped_without_extracting(tmp_path):
    X_train, y_train, X_test, y_test = pair_images()
    cache, extractor = make_cache(tmp_path)
    clean = clean_features(cache, SOURCE, X_train, X_test, **POSITIONS)
    assert extractor.n_images_ == len(X_train) + len(X_test)
    assert sorted(p.suffix for p in clean.train.path.parent.iterdir()) == [
        ".json",
        ".json",
        ".npy",
        ".npy",
    ]
    again = clean_features(cache, SOURCE, X_train, X_test, **POSITIONS)
    assert extractor.n_images_ == len(X_train) + len(X_test)
    assert again.train.path == clean.train.path
    loaded = again.train.load()
    assert isinstance(loaded, np.memmap) and not loaded.flags.writeable
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, extractor.transform(X_train))
    np.testing.assert_array_equal(again.test.load(), extractor.transform(X_test))
    assert cache.n_extracted_ == len(X_train) + len(X_test)
    assert cache.n_reused_ == len(X_train) + len(X_test)


def test_another_draw_reuses_the_images_it_shares(tmp_path):
    """Images are identified by their dataset position: a draw sharing some reuses their rows."""
    X_train, _, X_test, _ = pair_images()
    cache, extractor = make_cache(tmp_path)
    clean_features(cache, SOURCE, X_train, X_test, **POSITIONS)
    X_new, _, _, _ = pair_images(seed=5)
    X_other = np.concatenate([X_train[:12], X_new[:6]])
    other_pos = np.concatenate([TRAIN_POS[:12], 1000 + np.arange(6)])
    before = extractor.n_images_
    entry = cache.get(SOURCE, Split.TRAIN, CLEAN, other_pos, X_other)
    assert extractor.n_images_ - before == 6
    assert cache.n_reused_ == 12
    np.testing.assert_allclose(entry.load(), extractor.transform(X_other), rtol=1e-6, atol=1e-6)


def test_a_fresh_cache_object_on_the_same_folder_hits(tmp_path):
    X_train, _, X_test, _ = pair_images()
    clean_features(make_cache(tmp_path)[0], SOURCE, X_train, X_test, **POSITIONS)
    cache, extractor = make_cache(tmp_path)
    clean_features(cache, SOURCE, X_train, X_test, **POSITIONS)
    assert extractor.n_images_ == 0


def test_poisoned_training_features_equal_features_of_the_poisoned_images(tmp_path):
    X_train, y_train, X_test, y_test = pair_images()
    cache, extractor = make_cache(tmp_path)
    clean = clean_features(cache, SOURCE, X_train, X_test, **POSITIONS)
    poisoned, X_backdoor, _ = poison(X_train, y_train, X_test, y_test, BADNET, seed=1)
    triggered = triggered_features(
        cache, SOURCE, trigger_variant(BADNET, 1), poisoned, X_backdoor, **TRIGGERED_POSITIONS
    )
    features = poisoned_training_features(clean.train, triggered)
    # Equal up to float32 rounding: batches of other composition sum in another order.
    np.testing.assert_allclose(
        features, extractor.transform(np.asarray(poisoned.X)), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(
        triggered.backdoor.load(), extractor.transform(np.asarray(X_backdoor)), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_array_equal(triggered.poisons.indices, TRAIN_POS[poisoned.poison_indices])
    np.testing.assert_array_equal(triggered.poison_rows, poisoned.poison_indices)
    # Workers get handles, not arrays: they pickle small.
    assert len(pickle.dumps((clean, triggered))) < 2000


def triggered_count(cache, extractor, spec, seed):
    X_train, y_train, X_test, y_test = pair_images()
    poisoned, X_backdoor, _ = poison(X_train, y_train, X_test, y_test, spec, seed)
    before = extractor.n_images_
    triggered_features(
        cache, SOURCE, trigger_variant(spec, seed), poisoned, X_backdoor, **TRIGGERED_POSITIONS
    )
    return extractor.n_images_ - before


def test_invalidation_by_trigger_seed_and_weights(tmp_path):
    cache, extractor = make_cache(tmp_path)
    n_poison, n_test = round(FRACTION * 24), 10
    assert triggered_count(cache, extractor, BADNET, 1) == n_poison + n_test
    assert triggered_count(cache, extractor, BADNET, 1) == 0  # hit
    assert triggered_count(cache, extractor, BADNET, 10) == n_poison + n_test  # other seed
    assert triggered_count(cache, extractor, TriggerSpec.badnet(2), 1) == n_poison + n_test
    other_weights, other_extractor = make_cache(tmp_path, weights_seed=1)
    assert triggered_count(other_weights, other_extractor, BADNET, 1) == n_poison + n_test
    assert triggered_count(other_weights, other_extractor, BADNET, 1) == 0


def test_invisible_copies_are_shared_by_seeds(tmp_path):
    """The invisible trigger draws nothing: a second seed only extracts its new poisons."""
    X_train, y_train, X_test, y_test = pair_images()
    cache, extractor = make_cache(tmp_path)
    first = poison(X_train, y_train, X_test, y_test, INVISIBLE, 1)[0].poison_indices
    second = poison(X_train, y_train, X_test, y_test, INVISIBLE, 11)[0].poison_indices
    new = np.setdiff1d(second, first)
    assert 0 < new.size < second.size  # the two seeds' poisons overlap
    assert triggered_count(cache, extractor, INVISIBLE, 1) == first.size + len(X_test)
    assert triggered_count(cache, extractor, INVISIBLE, 11) == new.size
    # The reused rows are the right ones.
    poisoned, X_backdoor, _ = poison(X_train, y_train, X_test, y_test, INVISIBLE, 11)
    triggered = triggered_features(
        cache, SOURCE, trigger_variant(INVISIBLE, 11), poisoned, X_backdoor, **TRIGGERED_POSITIONS
    )
    np.testing.assert_allclose(
        triggered.poisons.load(),
        extractor.transform(np.asarray(poisoned.X)[second]),
        rtol=1e-6,
        atol=1e-6,
    )


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("flip-byte", "contents differ from the recorded SHA-256"),
        ("truncate", "contents differ from the recorded SHA-256"),
        ("missing-npy", "features file missing"),
        ("garbage-json", "index file missing or unreadable"),
        ("missing-json", "index file missing or unreadable"),
        ("other-key", "index file of another key"),
    ],
)
def test_corrupt_or_partial_entry_is_recomputed_never_used(tmp_path, damage, reason):
    X_train, _, X_test, _ = pair_images()
    cache, extractor = make_cache(tmp_path)
    entry = clean_features(cache, SOURCE, X_train, X_test, **POSITIONS).train
    expected = np.array(entry.load())
    npy, sidecar = entry.path, entry.path.with_suffix(".json")
    if damage == "flip-byte":
        data = bytearray(npy.read_bytes())
        data[-5] ^= 0xFF
        npy.write_bytes(bytes(data))
    elif damage == "truncate":
        npy.write_bytes(npy.read_bytes()[:-64])
    elif damage == "missing-npy":
        npy.unlink()
    elif damage == "garbage-json":
        sidecar.write_text("{not json")
    elif damage == "missing-json":  # a writer stopped between the two renames
        sidecar.unlink()
    else:
        sidecar.write_text(sidecar.read_text().replace('"split": "train"', '"split": "test"'))
    before = extractor.n_images_
    assert cache.recomputed_ == {}
    again = clean_features(cache, SOURCE, X_train, X_test, **POSITIONS)
    assert extractor.n_images_ - before == len(X_train)  # only the damaged entry
    assert cache.recomputed_ == {reason: 1}  # and it is counted, with why
    np.testing.assert_array_equal(again.train.load(), expected)
    third = clean_features(cache, SOURCE, X_train, X_test, **POSITIONS)  # and the rewrite is valid
    assert extractor.n_images_ - before == len(X_train)
    assert third.train.path == entry.path


def test_no_temporary_files_are_left_and_default_folder(tmp_path):
    X_train, _, X_test, _ = pair_images()
    cache, _ = make_cache(default_cache_dir(tmp_path))
    clean_features(cache, SOURCE, X_train, X_test, **POSITIONS)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 4 and not any(p.name.startswith(".") for p in files)
    assert all(p.is_relative_to(tmp_path / "features" / "cifar10" / "6-0") for p in files)


def test_trigger_variant_names():
    assert trigger_variant(INVISIBLE, 1) == trigger_variant(INVISIBLE, 10)
    assert "seed" not in trigger_variant(INVISIBLE, 1)
    assert trigger_variant(BADNET, 1) != trigger_variant(BADNET, 10)
    assert trigger_variant(BADNET, 1) != trigger_variant(TriggerSpec.badnet(3, "top-left"), 1)
    assert trigger_variant(INVISIBLE, 1) != trigger_variant(TriggerSpec.invisible(75 / 255), 1)
    assert CLEAN not in {trigger_variant(BADNET, 1), trigger_variant(INVISIBLE, 1)}


def test_bad_requests_are_refused(tmp_path):
    X_train, _, _, _ = pair_images()
    cache, _ = make_cache(tmp_path)
    with pytest.raises(ValueError, match="must be distinct"):
        cache.get(SOURCE, Split.TRAIN, CLEAN, np.array([0, 0]), X_train[:2])
    with pytest.raises(ValueError, match="got 3 images for 2 indices"):
        cache.get(SOURCE, Split.TRAIN, CLEAN, np.array([0, 1]), X_train[:3])
    with pytest.raises(ValueError, match="non-empty 1-D integer array"):
        cache.get(SOURCE, Split.TRAIN, CLEAN, np.array([], dtype=int), X_train[:0])
    with pytest.raises(ValueError, match="'valid'"):
        cache.get(SOURCE, "valid", CLEAN, np.array([0]), X_train[:1])


# ------------------------------------------------------------------ one pass over a small grid

SEEDS = (1, 10, 11)
GRID = [("svm", None), ("logistic", None), ("ridge", None), ("svm-rbf", 0.05)]
C_VALUES = (0.1, 1.0, 10.0)


def run_small_grid(cache, spec):
    """Mimic a slope driver: prepare features in the main process, then cells only read.

    Returns the (split, index, variant) triples the grid used, and the number of cells.
    """
    X_train, y_train, X_test, y_test = pair_images()
    clean = clean_features(cache, SOURCE, X_train, X_test, **POSITIONS)
    used = {(Split.TRAIN, int(i), CLEAN) for i in TRAIN_POS}
    used |= {(Split.TEST, int(i), CLEAN) for i in TEST_POS}
    prepared = {}
    for seed in SEEDS:
        poisoned, X_backdoor, y_backdoor = poison(X_train, y_train, X_test, y_test, spec, seed)
        variant = trigger_variant(spec, seed)
        triggered = triggered_features(
            cache, SOURCE, variant, poisoned, X_backdoor, **TRIGGERED_POSITIONS
        )
        prepared[seed] = pickle.dumps((clean, triggered, np.asarray(poisoned.y), y_backdoor))
        used |= {(Split.TRAIN, int(i), variant) for i in TRAIN_POS[poisoned.poison_indices]}
        used |= {(Split.TEST, int(i), variant) for i in TEST_POS}
    n_cells = 0
    for seed in SEEDS:
        for clf, gamma in GRID:
            for C in C_VALUES:
                cell_clean, cell_triggered, y_poisoned, y_backdoor = pickle.loads(prepared[seed])
                X = poisoned_training_features(cell_clean.train, cell_triggered).astype(np.float64)
                is_poison = np.zeros(len(X), dtype=bool)
                is_poison[cell_triggered.poison_rows] = True
                model = make_classifier(clf, C, gamma).fit(
                    X, y_poisoned, (~is_poison).astype(float)
                )
                assert np.isfinite(
                    model.decision_function(np.asarray(cell_triggered.backdoor.load(), float))
                ).all()
                n_cells += 1
    return used, n_cells


@pytest.mark.parametrize("spec", [BADNET, INVISIBLE], ids=["badnet", "invisible"])
def test_one_extractor_pass_per_distinct_image_and_variant_over_a_grid(tmp_path, spec):
    cache, extractor = make_cache(tmp_path)
    used, n_cells = run_small_grid(cache, spec)
    assert n_cells == len(SEEDS) * len(GRID) * len(C_VALUES)
    assert extractor.n_images_ == len(used)
    assert cache.n_extracted_ == len(used)
    # A second run of the grid (a resumed driver) extracts nothing.
    run_small_grid(cache, spec)
    assert extractor.n_images_ == len(used)


WORKER = """
import pickle, sys
import numpy as np
from backdoor_curves.experiments.feature_stage import poisoned_training_features
clean, triggered = pickle.loads(open(sys.argv[1], "rb").read())
features = poisoned_training_features(clean.train, triggered)
np.save(sys.argv[2], features)
print("torch" in sys.modules, triggered.backdoor.load().shape)
"""


@pytest.mark.processes
def test_a_worker_process_reads_features_without_torch(tmp_path):
    """What a joblib or Dask worker does with the handles: read, never load the network."""
    X_train, y_train, X_test, y_test = pair_images()
    cache, extractor = make_cache(tmp_path / "cache")
    clean = clean_features(cache, SOURCE, X_train, X_test, **POSITIONS)
    poisoned, X_backdoor, _ = poison(X_train, y_train, X_test, y_test, BADNET, seed=1)
    triggered = triggered_features(
        cache, SOURCE, trigger_variant(BADNET, 1), poisoned, X_backdoor, **TRIGGERED_POSITIONS
    )
    (tmp_path / "handles.pkl").write_bytes(pickle.dumps((clean, triggered)))
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(tmp_path / "handles.pkl"), str(tmp_path / "out.npy")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["False", "(10,", "16)"]
    np.testing.assert_array_equal(
        np.load(tmp_path / "out.npy"), poisoned_training_features(clean.train, triggered)
    )
