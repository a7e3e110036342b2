"""Pretrained-weights resolution on random-weight state dicts saved to temporary files."""

import hashlib
from pathlib import Path

import pytest
import torch
from torchvision import models

from backdoor_curves.classifiers.nn.pretrained import hub_checkpoint_dir, resolve_weights
from backdoor_curves.classifiers.nn.resnet import build_resnet

RESNET18_FILE = "resnet18-f37072fd.pth"


@pytest.fixture(scope="module")
def resnet18_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random-resnet18.pth"
    torch.save(models.resnet18(weights=None).state_dict(), path)
    return path


@pytest.fixture
def empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_explicit_file_is_verified_hashed_and_loadable(resnet18_state: Path) -> None:
    weights = resolve_weights("resnet18", weights_path=resnet18_state)
    assert weights.sha256 == hashlib.sha256(resnet18_state.read_bytes()).hexdigest()
    model = build_resnet("resnet18", 10, seed=0, weights=weights)
    assert torch.equal(model.conv1.weight, weights.state_dict["conv1.weight"])
    assert model.fc.out_features == 10


def test_file_in_the_hub_cache_is_found(resnet18_state: Path, empty_hub: Path) -> None:
    target = hub_checkpoint_dir() / RESNET18_FILE
    assert target.parent == empty_hub / "checkpoints"
    target.parent.mkdir(parents=True)
    target.write_bytes(resnet18_state.read_bytes())
    assert resolve_weights("resnet18").path == target


def test_missing_weights_offline_is_one_line_naming_file_folder_and_flag(empty_hub: Path) -> None:
    with pytest.raises(FileNotFoundError) as error:
        resolve_weights("resnet18")
    message = str(error.value)
    assert "\n" not in message
    for needle in (RESNET18_FILE, str(empty_hub / "checkpoints"), "--weights"):
        assert needle in message


def test_wrong_architecture_names_the_file(resnet18_state: Path) -> None:
    with pytest.raises(ValueError, match="does not hold resnet50 weights") as error:
        resolve_weights("resnet50", weights_path=resnet18_state)
    assert str(resnet18_state) in str(error.value)


def test_corrupt_file_names_the_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.pth"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable torch state dict") as error:
        resolve_weights("resnet18", weights_path=corrupt)
    assert str(corrupt) in str(error.value)
    # torch's reason, without its advice to load the file unsafely
    assert "Unsupported operand" in str(error.value)
    assert "weights_only" not in str(error.value)


def test_truncated_file_gives_torch_s_reason(resnet18_state: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(resnet18_state.read_bytes()[:100_000])
    with pytest.raises(ValueError, match="failed finding central directory") as error:
        resolve_weights("resnet18", weights_path=truncated)
    assert str(truncated) in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_architecture_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown torchvision architecture 'resnet7'"):
        resolve_weights("resnet7")
