"""The explanation command line: flags to typed settings, profile defaults filled in."""

from __future__ import annotations

from pathlib import Path

from backdoor_curves.experiments.driver import FigureStep
from backdoor_curves.experiments.explain.cli import IMAGE_DEFAULTS, build_parser, settings_from_args


def settings(dataset: str, *argv: str):
    return settings_from_args(build_parser(dataset).parse_args(list(argv)))


def test_image_counts_default_to_the_profile() -> None:
    paper = settings("mnist")
    assert (paper.n_images, paper.n_show) == IMAGE_DEFAULTS["paper"]
    smoke = settings("mnist", "--profile", "smoke")
    assert (smoke.n_images, smoke.n_show) == IMAGE_DEFAULTS["smoke"]
    few = settings("mnist", "--n-images", "1")
    assert (few.n_images, few.n_show) == (1, 1)  # --n-show at most --n-images


def test_flags_become_typed_settings() -> None:
    parsed = settings(
        "mnist", "--pair", "3-0", "--clf", "ridge", "--k", "4", "--C", "0.1,1",
        "--example-C", "1,0.1", "--gamma", "0.2", "--figures-only", "--out-dir", "o",
    )  # fmt: skip
    assert (parsed.pairs, parsed.classifiers, parsed.k) == ("3-0", "ridge", 4)
    assert parsed.C_values == (0.1, 1.0) and parsed.example_C == (1.0, 0.1)
    assert parsed.gamma == 0.2 and parsed.figures is FigureStep.ONLY
    assert parsed.common.out_dir == Path("o") and parsed.common.reference is None


def test_deep_datasets_read_the_feature_flags() -> None:
    deep = settings("cifar10", "--weights", "w.pth", "--feature-cache", "cache")
    assert deep.common.features.weights == Path("w.pth")
    assert deep.common.features.cache_dir == Path("cache")
    assert settings("mnist", "--device", "cpu").common.features.device == "cpu"
