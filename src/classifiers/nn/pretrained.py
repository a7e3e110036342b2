"""Resolve the pretrained weights of a torchvision architecture, offline-first.

Rules (``docs/data.md``, "Pretrained weights"), in order:

1. ``weights_path`` given (the ``--weights PATH`` flag): that file, nothing else.
2. The file torchvision's weights API names for the architecture's default ImageNet weights
   (e.g. ``resnet18-f37072fd.pth``) in the local torch hub cache,
   ``<torch.hub.get_dir()>/checkpoints/`` (``$TORCH_HOME/hub/checkpoints``).
3. ``download=True`` (the ``--download`` flag): torchvision fetches that file into the cache.

Otherwise a ``FileNotFoundError`` with one line naming the file, the folder to put it in and
the ``--weights`` flag. A file that is not a state dict of the architecture (corrupt,
truncated, another network) raises a ``ValueError`` naming the file. The result carries the
file's SHA-256, which drivers write into their manifest.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backdoor_curves.utilities.hashing import file_sha256

if TYPE_CHECKING:
    import torch

__all__ = [
    "ALEXNET_FC7",
    "PretrainedWeights",
    "file_sha256",
    "hub_checkpoint_dir",
    "locate_weights",
    "resolve_weights",
]

ALEXNET_FC7 = "alexnet-fc7"
"""Name of the AlexNet fc7 extractor (network, layer and preprocessing) in cache keys.

Defined here, with no torch import, so that a run reads cached features by name without
loading the network (:mod:`backdoor_curves.classifiers.nn.features` builds it).
"""


@dataclass(frozen=True, eq=False)
class PretrainedWeights:
    """A verified state dict of an ImageNet-1k torchvision model.

    Attributes
    ----------
    arch : str
        torchvision model name (``"resnet18"``, ``"alexnet"``, ...).
    path : Path
        File the state dict was read from.
    sha256 : str
        Hex SHA-256 of that file.
    state_dict : dict of str to torch.Tensor
        Parameters and buffers, loadable with ``strict=True`` into
        ``torchvision.models.get_model(arch, weights=None)`` (1000 classes).
    """

    arch: str
    path: Path
    sha256: str
    state_dict: dict[str, torch.Tensor] = field(repr=False)


def hub_checkpoint_dir() -> Path:
    """Folder where torchvision looks for (and downloads) weight files."""
    import torch  # noqa: PLC0415  # see the module docstring

    return Path(torch.hub.get_dir()) / "checkpoints"


def _default_weights(arch: str) -> Any:
    """Torchvision's default weights enum member of ``arch``; ValueError if unknown."""
    from torchvision import models

    try:
        return models.get_model_weights(arch).DEFAULT
    except (ValueError, KeyError):
        valid = ", ".join(sorted(models.list_models(module=models)))
        raise ValueError(f"unknown torchvision architecture {arch!r}; valid: {valid}") from None


def _load_checked(arch: str, path: Path) -> dict[str, torch.Tensor]:
    """Load a state dict from ``path`` and check it fits ``arch`` exactly."""
    import torch  # noqa: PLC0415  # see the module docstring
    from torchvision import models

    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols before failing; the error below says it all.
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types (pickle, zip, EOF) for a bad file
        raise ValueError(
            f"weights file {path} is not a readable torch state dict ({type(exc).__name__}: "
            f"{_load_failure(exc)}); --weights expects the {arch} state dict, saved with "
            "torch.save(model.state_dict())"
        ) from None
    if not isinstance(state, dict):
        raise ValueError(f"weights file {path} holds a {type(state).__name__}, not a state dict")
    # On the meta device: shapes and names only, no memory, no random initialisation.
    with torch.device("meta"):
        model = models.get_model(arch, weights=None)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(f"weights file {path} does not hold {arch} weights: {first}") from None
    return state


def _load_failure(exc: Exception) -> str:
    """Return the reason in ``torch.load``'s error, without the paragraphs of advice.

    For a file the weights-only unpickler refuses, torch suggests ``weights_only=False``
    (unsafe, and useless for a corrupt file); the reason is after "WeightsUnpickler error:".
    Otherwise the reason is the first sentence.
    """
    text = " ".join(str(exc).split())
    marker = "WeightsUnpickler error:"
    if marker in text:
        reason = text.split(marker, 1)[1].split(" Check the documentation", 1)[0].strip()
        return f"refused by the weights-only unpickler: {reason}"
    return text.split(". ", 1)[0]


def locate_weights(
    arch: str,
    *,
    weights_path: str | Path | None = None,
    download: bool = False,
    fallback_flag: str | None = "--no-pretrained",
) -> Path:
    """Return the weights file of ``arch`` by the module's rules, without reading it.

    Parameters and errors are those of :func:`resolve_weights`, except that a corrupt file or
    one of another architecture is only detected when it is loaded. With ``weights_path``,
    ``arch`` is not checked here and torch is not imported.
    """
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"--weights file {path} does not exist")
        return path
    default = _default_weights(arch)
    file_name = Path(default.url).name
    path = hub_checkpoint_dir() / file_name
    if not path.is_file():
        if not download:
            options = ["pass --weights PATH", "run with --download"]
            options += [f"use {fallback_flag}"] if fallback_flag else []
            raise FileNotFoundError(
                f"pretrained {arch} weights not found: torchvision looks for {file_name} in "
                f"{path.parent} (the torch hub cache); put the file there, "
                f"{', '.join(options[:-1])} or {options[-1]}"
            )
        default.get_state_dict(progress=False)
    return path


def resolve_weights(
    arch: str,
    *,
    weights_path: str | Path | None = None,
    download: bool = False,
    fallback_flag: str | None = "--no-pretrained",
) -> PretrainedWeights:
    """Find, verify and load the ImageNet weights of ``arch`` (see the module docstring).

    Parameters
    ----------
    arch : str
        torchvision model name, e.g. ``"resnet18"``, ``"resnet50"``, ``"alexnet"``.
    weights_path : str or Path, optional
        Explicit state-dict file (``--weights``); overrides the cache and ``download``.
    download : bool, default=False
        Let torchvision download the default weights into the hub cache when missing.
    fallback_flag : str or None, default "--no-pretrained"
        The caller's flag that runs without pretrained weights, named in the missing-weights
        message (None: the caller has none).

    Returns
    -------
    PretrainedWeights

    Raises
    ------
    ValueError
        Unknown architecture, or a file that is corrupt or not of ``arch`` (names the file).
    FileNotFoundError
        ``weights_path`` missing, or the weights are not cached and ``download`` is False
        (names the expected file, the cache folder and the ``--weights`` flag).
    """
    _default_weights(arch)  # an unknown architecture fails before any file is read
    path = locate_weights(
        arch, weights_path=weights_path, download=download, fallback_flag=fallback_flag
    )
    return PretrainedWeights(
        arch=arch, path=path, sha256=file_sha256(path), state_dict=_load_checked(arch, path)
    )
