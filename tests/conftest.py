"""Fixtures shared by the tests; ``e2e`` and ``torch`` markers applied by location and imports."""

import datetime
import inspect
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

Main = Callable[[Sequence[str] | None], int]


def exit_status(main: Main, argv: Sequence[str]) -> int:
    """Return what a driver's ``main`` returns, or the status of argparse's ``SystemExit``."""
    try:
        return main(list(argv))
    except SystemExit as stop:
        return int(stop.code or 0)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty data folder: full MNIST is absent, so the embedded digits are used."""
    return tmp_path_factory.mktemp("no-mnist")


@pytest.fixture
def one_line_error(
    capsys: pytest.CaptureFixture[str],
) -> Callable[[Main, list[str], str, Path], None]:
    """Check that ``main(argv)`` exits with 2, one stderr line naming ``needle``, no ``out_dir``."""

    def check(main: Main, argv: list[str], needle: str, out_dir: Path) -> None:
        capsys.readouterr()
        assert exit_status(main, argv) == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1, lines
        assert needle in lines[0], lines[0]
        assert not out_dir.exists()

    return check


def _test_seeds() -> list[int]:
    """Seeds of ``global_random_seed``: ``BACKDOOR_CURVES_TEST_SEEDS`` or two rotating ones.

    The variable takes ``"all"`` (0-99), a range ``"a-b"`` or a list ``"1,7,42"``. Unset, the
    seeds rotate daily (as scikit-learn's CI rotates ``global_random_seed``); a failing
    seed is in the test id and reruns with ``BACKDOOR_CURVES_TEST_SEEDS=<seed>``.
    """
    text = os.environ.get("BACKDOOR_CURVES_TEST_SEEDS", "").strip()
    if not text:
        day = datetime.date.today().toordinal()
        return [day % 100, (day * 37 + 11) % 100]
    if text == "all":
        return list(range(100))
    if "-" in text:
        first, last = (int(part) for part in text.split("-"))
        return list(range(first, last + 1))
    return [int(part) for part in text.split(",")]


@pytest.fixture(params=_test_seeds(), ids=lambda seed: f"seed{seed}")
def global_random_seed(request: pytest.FixtureRequest) -> int:
    """A seed that rotates between runs (see ``_test_seeds``)."""
    return int(request.param)


@pytest.fixture(scope="session")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight AlexNet state dict on disk (what ``--weights PATH`` points at)."""
    import torch  # only the deep-feature tests pay for importing torch
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "alexnet-random.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return path


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated CIFAR-10 batches, 20 train and 10 test images per class (deep-feature tests).

    Shared by the test modules: a run that caches features under it (no ``--feature-cache``)
    only saves later runs an extraction; tests that count extractions use their own cache.
    """
    from generated_data import write_cifar_batches

    root = tmp_path_factory.mktemp("cifar-data")
    write_cifar_batches(root, train_per_class=20, test_per_class=10)
    return root


@pytest.fixture(scope="session")
def imagenette_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated imagenette2-320 tree of solid-colour JPEGs, 20 train / 10 val per class."""
    from generated_data import write_imagenette

    root = tmp_path_factory.mktemp("imagenette-data")
    write_imagenette(root, n_train=20, n_val=10)
    return root


E2E_FOLDER = Path(__file__).resolve().parent / "e2e"


# A test module that imports torch (directly or through the package's torch layers) at its top.
_TORCH_IMPORT = re.compile(
    r"^(?:import|from) (?:torch|torchvision|backdoor_curves\.classifiers\.nn|"
    r"backdoor_curves\.experiments\.nn)\b",
    re.MULTILINE,
)


# A test function that imports torch or torchvision itself (its module does not).
_TORCH_IMPORT_IN_FUNCTION = re.compile(r"^\s+(?:import|from) (?:torch|torchvision)\b", re.MULTILINE)


def _imports_torch(path: Path) -> bool:
    return path.suffix == ".py" and bool(_TORCH_IMPORT.search(path.read_text(encoding="utf-8")))


def _function_imports_torch(item: pytest.Item) -> bool:
    function = getattr(item, "function", None)
    return function is not None and bool(
        _TORCH_IMPORT_IN_FUNCTION.search(inspect.getsource(function))
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With ``-m '... not torch ...'``, do not even import the torch test modules.

    Deselecting them after collection would still pay torch's import in every worker; the
    edit-loop subset (``./run_tests.sh --unit``) skips them at collection instead.
    """
    if "not torch" in (config.getoption("markexpr") or "") and _imports_torch(collection_path):
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of ``tests/e2e/`` with ``e2e``, those that import torch with ``torch``.

    A test imports torch when its module does (at its top) or its own function does.

    Then put the files of long tests (end to end, processes, torch) first, in their order, so
    that the short tests are what the workers share out (``--dist worksteal``) at the end.
    """
    for item in items:
        path = Path(str(item.path)).resolve()
        if E2E_FOLDER in path.parents:
            item.add_marker(pytest.mark.e2e)
        if _imports_torch(path) or _function_imports_torch(item):
            item.add_marker(pytest.mark.torch)
    long_files = {
        item.path
        for item in items
        if any(item.get_closest_marker(name) for name in ("e2e", "processes", "torch"))
    }
    items.sort(key=lambda item: item.path not in long_files)  # stable: order kept within
