"""Dataset configurations of the experiments: pairs, triggers, grids (``docs/drivers.md``).

One frozen :class:`DatasetConfig` per dataset, built by a factory (``mnist_config``,
``cifar10_config``, ``imagenette_config``) plus a tiny smoke variant of each for tests and quick
looks (``smoke`` for MNIST, ``cifar10_smoke``, ``imagenette_smoke``; :func:`profile_config`
maps ``--dataset`` and ``--profile`` to one). Drivers take a config and differ by nothing
else. Each factory's docstring names the command that runs it; a new dataset adds its factory
with :func:`register_config`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.registry import uses_gamma
from backdoor_curves.naming import model_tag

__all__ = [
    "PAPER_BETAS",
    "CurveModel",
    "CurvesGrid",
    "DatasetConfig",
    "SlopeGrid",
    "cifar10_config",
    "cifar10_smoke_config",
    "config_names",
    "get_config",
    "imagenette_config",
    "imagenette_smoke_config",
    "mnist_config",
    "profile_config",
    "register_config",
    "smoke_config",
]

PAPER_BETAS: tuple[float, ...] = (
    0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.10, 0.13,
    0.16, 0.19, 0.24, 0.29, 0.36, 0.44, 0.54, 0.66, 0.81, 0.99,
)  # fmt: skip
"""The 20 poison weights of the paper's learning curves."""

PAPER_SEEDS: tuple[int, ...] = (1, 10, 11, 100, 101)


def _geomspace(start: float, stop: float, num: int) -> tuple[float, ...]:
    # Rounded to 12 significant digits so values print (and key results) stably.
    return tuple(float(f"{v:.12g}") for v in np.geomspace(start, stop, num))


@dataclass(frozen=True)
class SlopeGrid:
    """Hyperparameter grid of the slope sweep.

    Attributes
    ----------
    linear_C : tuple of float
        ``C`` values of svm, logistic and ridge.
    rbf_C : tuple of float
        ``C`` values of svm-rbf.
    rbf_gamma : tuple of float
        ``gamma`` values of svm-rbf.
    """

    linear_C: tuple[float, ...]
    rbf_C: tuple[float, ...]
    rbf_gamma: tuple[float, ...]

    def C_values(self, clf: str) -> tuple[float, ...]:
        """Return the ``C`` grid of a classifier (the RBF grid for models with a gamma)."""
        return self.rbf_C if uses_gamma(clf) else self.linear_C

    def gamma_values(self, clf: str) -> tuple[float | None, ...]:
        """Return the ``gamma`` grid of a classifier (``(None,)`` for models without one)."""
        return self.rbf_gamma if uses_gamma(clf) else (None,)


@dataclass(frozen=True)
class CurveModel:
    """One model of the learning-curve figure: a classifier, its gamma and two lambdas."""

    clf: str
    lambdas: tuple[float, ...]
    gamma: float | None = None

    @property
    def tag(self) -> str:
        """File-name tag: ``svm``, or ``svm-rbf_g0.0005`` for the RBF SVM (``naming.model_tag``)."""
        return model_tag(self.clf, self.gamma)


@dataclass(frozen=True)
class CurvesGrid:
    """Grid of the learning curves and parameter deviation (``docs/drivers.md``)."""

    models: tuple[CurveModel, ...]
    trigger: TriggerSpec
    poison_fractions: tuple[float, ...] = (0.01, 0.1, 0.2)
    deviation_fraction: float = 0.1
    betas: tuple[float, ...] = PAPER_BETAS
    seeds: tuple[int, ...] = (1,)


@dataclass(frozen=True)
class DatasetConfig:
    """Everything that differs between datasets.

    Attributes
    ----------
    dataset : str
        Data source name (see :mod:`backdoor_curves.utilities.data`).
    pairs : tuple of str
        Class pairs ``"a-b"`` (class a -> label 0, b -> label 1).
    features : str
        ``"pixels"`` (flattened images) or ``"alexnet"`` (frozen fc7 features).
    main_trigger, double_trigger : TriggerSpec
        The paper's main trigger and its double-size (or fainter) variant.
    slope_grid : SlopeGrid
        Grid of the slope sweep.
    curves : CurvesGrid
        Grid of the learning curves.
    seeds : tuple of int
        Experiment seeds (trigger patterns and poison choice).
    poison_fraction : float
        Fraction of the training set replaced by poisons in the slope sweep.
    n_train, n_test : int or None
        Subset sizes; None takes the data source's default.
    data_seed : int
        Seed of the train/test subset draw.

    The results folder is ``results/<results_name>`` (``mnist``, ``cifar``, ``imagenette``).
    """

    dataset: str
    pairs: tuple[str, ...]
    features: str
    main_trigger: TriggerSpec
    double_trigger: TriggerSpec
    slope_grid: SlopeGrid
    curves: CurvesGrid
    seeds: tuple[int, ...] = PAPER_SEEDS
    poison_fraction: float = 0.1
    n_train: int | None = None
    n_test: int | None = None
    data_seed: int = 999
    results_name: str = ""

    def __post_init__(self) -> None:
        if not self.results_name:
            object.__setattr__(self, "results_name", self.dataset)

    @property
    def results_dir(self) -> str:
        """Default results folder, e.g. ``results/cifar``."""
        return f"results/{self.results_name}"


_SVM, _LOG, _RIDGE, _RBF = "svm", "logistic", "ridge", "svm-rbf"


def mnist_config() -> DatasetConfig:
    """Build the MNIST config (pixels; 7-1, 3-0, 5-2).

    Run by ``./run_mnist.sh all`` and ``python incremental_curves.py``.
    """
    return DatasetConfig(
        dataset="mnist",
        pairs=("7-1", "3-0", "5-2"),
        features="pixels",
        main_trigger=TriggerSpec.badnet(3),
        double_trigger=TriggerSpec.badnet(6),
        slope_grid=SlopeGrid(
            linear_C=_geomspace(1e-4, 1e3, 10),
            rbf_C=_geomspace(0.1, 100, 10),
            rbf_gamma=_geomspace(5e-4, 5e-2, 5),
        ),
        curves=CurvesGrid(
            models=(
                CurveModel(_SVM, (100.0, 0.1)),
                CurveModel(_LOG, (10.0, 0.01)),
                CurveModel(_RIDGE, (1000.0, 1.0)),
                CurveModel(_RBF, (1.0, 0.01), gamma=5e-4),
                CurveModel(_RBF, (1.0, 0.01), gamma=5e-3),
            ),
            trigger=TriggerSpec.badnet(6),
        ),
    )


def cifar10_config() -> DatasetConfig:
    """Build the CIFAR-10 config (AlexNet features; 6-0, 2-5, 0-9): ``./run_cifar.sh all``."""
    return DatasetConfig(
        dataset="cifar10",
        results_name="cifar",
        pairs=("6-0", "2-5", "0-9"),
        features="alexnet",
        main_trigger=TriggerSpec.badnet(8),
        double_trigger=TriggerSpec.badnet(16),
        slope_grid=SlopeGrid(
            linear_C=_geomspace(1e-4, 100, 10),
            rbf_C=_geomspace(0.1, 100, 10),
            rbf_gamma=_geomspace(1e-4, 1e-2, 5),
        ),
        curves=CurvesGrid(
            models=(
                CurveModel(_SVM, (1e4, 0.1)),
                CurveModel(_LOG, (1e4, 100.0)),
                CurveModel(_RIDGE, (1e4, 1.0)),
                CurveModel(_RBF, (100.0, 1.0), gamma=1e-4),
                CurveModel(_RBF, (100.0, 1.0), gamma=1e-3),
            ),
            trigger=TriggerSpec.badnet(16),
        ),
    )


def imagenette_config() -> DatasetConfig:
    """Build the Imagenette config (AlexNet features; 6-0, 2-5, 0-9).

    Run by ``./run_imagenette.sh all``.
    """
    return DatasetConfig(
        dataset="imagenette",
        pairs=("6-0", "2-5", "0-9"),
        features="alexnet",
        main_trigger=TriggerSpec.invisible(75 / 255),
        double_trigger=TriggerSpec.invisible(10 / 255),
        slope_grid=SlopeGrid(
            linear_C=_geomspace(1e-5, 100, 10),
            rbf_C=_geomspace(0.1, 1e3, 10),
            rbf_gamma=_geomspace(1e-5, 1e-3, 5),
        ),
        curves=CurvesGrid(
            models=(
                CurveModel(_SVM, (1e4, 0.01)),
                CurveModel(_LOG, (1e4, 0.01)),
                CurveModel(_RIDGE, (1e4, 0.01)),
                CurveModel(_RBF, (10.0, 0.01), gamma=1e-5),
                CurveModel(_RBF, (10.0, 0.01), gamma=1e-4),
            ),
            trigger=TriggerSpec.invisible(10 / 255),
        ),
    )


def smoke_config() -> DatasetConfig:
    """Build a tiny MNIST variant for tests and quick looks (``--profile smoke``)."""
    base = mnist_config()
    return replace(
        base,
        pairs=("7-1",),
        slope_grid=SlopeGrid(linear_C=(1e-3, 1.0), rbf_C=(1.0,), rbf_gamma=(5e-3,)),
        curves=replace(
            base.curves,
            models=(
                CurveModel(_SVM, (1.0,)),
                CurveModel(_LOG, (1.0,)),
                CurveModel(_RIDGE, (1.0,)),
                CurveModel(_RBF, (1.0,), gamma=5e-3),
            ),
            poison_fractions=(0.1,),
            betas=(0.0, 0.01, 0.1, 0.5, 1.0),
        ),
        seeds=(1, 2),
        n_train=120,
        n_test=60,
    )


def _deep_smoke(base: DatasetConfig, gamma: float) -> DatasetConfig:
    """Shrink a deep-feature config to seconds on CPU: one pair, 20 / 10 images, 2 seeds."""
    linear_C = base.slope_grid.linear_C
    return replace(
        base,
        pairs=("6-0",),
        slope_grid=SlopeGrid(
            linear_C=(linear_C[3], linear_C[-1]), rbf_C=(1.0,), rbf_gamma=(gamma,)
        ),
        curves=replace(
            base.curves,
            models=(
                CurveModel(_SVM, (base.curves.models[0].lambdas[-1],)),
                CurveModel(_LOG, (base.curves.models[1].lambdas[-1],)),
                CurveModel(_RIDGE, (base.curves.models[2].lambdas[-1],)),
                CurveModel(_RBF, (1.0,), gamma=gamma),
            ),
            poison_fractions=(0.1,),
            betas=(0.0, 0.01, 0.1, 0.5, 1.0),
        ),
        seeds=(1, 2),
        n_train=20,
        n_test=10,
    )


def cifar10_smoke_config() -> DatasetConfig:
    """Build the CIFAR-10 smoke variant: ``./run_cifar.sh cifar_60 --profile smoke``."""
    return _deep_smoke(cifar10_config(), gamma=1e-3)


def imagenette_smoke_config() -> DatasetConfig:
    """Build the Imagenette smoke variant: ``./run_imagenette.sh imagenette_60 --profile smoke``."""
    return _deep_smoke(imagenette_config(), gamma=1e-4)


_FACTORIES: dict[str, Callable[[], DatasetConfig]] = {
    "mnist": mnist_config,
    "cifar10": cifar10_config,
    "imagenette": imagenette_config,
    "smoke": smoke_config,
    "cifar10_smoke": cifar10_smoke_config,
    "imagenette_smoke": imagenette_smoke_config,
}

PROFILES = ("paper", "smoke")
"""Values of ``--profile``."""


def profile_config(dataset: str, profile: str) -> DatasetConfig:
    """Return the configuration of ``--dataset`` in ``--profile`` (``paper`` or ``smoke``).

    Raises
    ------
    ValueError
        Unknown profile or dataset (the message lists the valid ones).
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    if profile == "paper":
        return get_config(dataset)
    return get_config("smoke" if dataset == "mnist" else f"{dataset}_smoke")


def register_config(name: str, factory: Callable[[], DatasetConfig]) -> None:
    """Register the configuration factory of a new dataset (or variant) under ``name``.

    A new dataset plugs in by a module that registers its data source
    (:func:`backdoor_curves.utilities.data.register_data_source`) and its configuration here.

    Raises
    ------
    ValueError
        If ``name`` is already registered.
    """
    if name in _FACTORIES:
        raise ValueError(f"configuration {name!r} is already registered")
    _FACTORIES[name] = factory


def config_names() -> tuple[str, ...]:
    """Names of the registered configurations, in registration order."""
    return tuple(_FACTORIES)


def get_config(name: str) -> DatasetConfig:
    """Return the configuration called ``name``; unknown names raise listing the valid ones."""
    try:
        return _FACTORIES[name]()
    except KeyError:
        valid = ", ".join(_FACTORIES)
        raise ValueError(f"unknown configuration {name!r}; valid: {valid}") from None
