"""Which C values are safe? The backdoor learning slope of your own scikit-learn models.

A worked example of the user API (docs/api.md) on a data set that ships with scikit-learn:
the 8x8 digits of ``sklearn.datasets.load_digits`` (pixels 0..16), the binary task "3 vs 8",
and a 2x2 white patch in the bottom-right corner as the backdoor trigger: 10% of the training
3s get the patch and the label 8. For an RBF ``SVC`` and a ``LogisticRegression`` over a small
grid of C, it computes

- the backdoor learning slope at beta = 0 and its normalised form theta (larger: the backdoor
  is learned faster), exact, from the clean model only;
- BA, the backdoor accuracy (triggered test 3s classified as 8), and CA, the clean test
  accuracy, of the model trained with the poisons at full weight (beta = 1);

and calls a C value *safe* when the poisoned model's BA stays at or below ``SAFE_BA`` (the
backdoor is not learned at this poisoning rate) while its CA is at least ``USEFUL_CA`` (a
model that predicts one class is not learning the backdoor, but it is no use either). It
writes ``digits_backdoor.csv`` (the table, also printed) and ``digits_backdoor.png`` (theta,
BA and CA against C, one line per model) into the folder given (default: ``digits_backdoor``
in the working directory)::

    python examples/digits_backdoor.py [OUTPUT_FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from backdoor_curves.api import MaskTrigger, backdoor_test_set, learning_curve, poison

C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)
MODELS = {"RBF SVC": SVC(kernel="rbf"), "LogisticRegression": LogisticRegression(max_iter=5000)}
SOURCE, TARGET = 3, 8
FRACTION = 0.1
SAFE_BA = 0.5
USEFUL_CA = 0.9
VALUE_RANGE = (0.0, 16.0)


def digits_problem(seed: int = 0):
    """Return the poisoned 3-vs-8 training set, the backdoor and the clean test sets (2:1 split)."""
    digits = load_digits()
    keep = np.isin(digits.target, (SOURCE, TARGET))
    images, labels = digits.images[keep], digits.target[keep]
    X_train, X_test, y_train, y_test = train_test_split(
        images, labels, test_size=1 / 3, stratify=labels, random_state=seed
    )
    mask = np.zeros((8, 8), dtype=bool)
    mask[-2:, -2:] = True  # the 2x2 trigger: bottom-right corner, full intensity
    trigger = MaskTrigger(mask=mask, pattern=np.full((8, 8), VALUE_RANGE[1]))
    poisoned = poison(
        X_train, y_train, trigger, FRACTION, value_range=VALUE_RANGE, target=TARGET, seed=seed
    )
    X_backdoor, y_backdoor = backdoor_test_set(
        X_test, y_test, poisoned.trigger, value_range=VALUE_RANGE, target=TARGET
    )
    flat = lambda images: images.reshape(len(images), -1) / VALUE_RANGE[1]  # noqa: E731
    return (
        flat(poisoned.X),
        poisoned.y,
        poisoned.is_poison,
        flat(X_backdoor),
        y_backdoor,
        flat(X_test),
        y_test,
    )


def c_grid_table(seed: int = 0) -> pd.DataFrame:
    """Return one row per (model, C): slope, theta, BA and CA, and whether C is safe."""
    X, y, is_poison, X_backdoor, y_backdoor, X_test, y_test = digits_problem(seed)
    rows = []
    for name, estimator in MODELS.items():
        for C in C_GRID:
            curve = learning_curve(
                clone(estimator).set_params(C=C),
                X,
                y,
                is_poison,
                X_backdoor,
                y_backdoor,
                (0.0, 1.0),
                X_test=X_test,
                y_test=y_test,
            )
            clean, poisoned = curve.table.iloc[0], curve.table.iloc[-1]
            rows.append(
                {
                    "model": name,
                    "C": C,
                    "slope": curve.slope.slope,
                    "theta": curve.slope.theta,
                    "BA_clean": clean.backdoor_accuracy,
                    "BA": poisoned.backdoor_accuracy,
                    "CA": poisoned.clean_accuracy,
                    "safe": bool(
                        poisoned.backdoor_accuracy <= SAFE_BA
                        and poisoned.clean_accuracy >= USEFUL_CA
                    ),
                    "status": curve.slope.status,
                }
            )
    return pd.DataFrame(rows)


def draw(table: pd.DataFrame, path: Path) -> None:
    """Draw theta (left), BA and CA at beta = 1 (right) against C, one line per model."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    for name, rows in table.groupby("model", sort=False):
        left.plot(rows["C"], rows["theta"], marker="o", label=name)
        (line,) = right.plot(rows["C"], rows["BA"], marker="o", label=f"{name}: BA")
        right.plot(
            rows["C"], rows["CA"], marker="s", linestyle=":", color=line.get_color(),
            label=f"{name}: CA",
        )  # fmt: skip
        unsafe = rows[~rows["safe"]]
        right.scatter(unsafe["C"], unsafe["BA"], s=120, facecolors="none", edgecolors="red")
    right.axhline(SAFE_BA, color="grey", linestyle="--", linewidth=1, label=f"BA = {SAFE_BA}")
    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_xlabel("C")
        axis.grid(alpha=0.3)
    left.set_ylabel(r"normalised slope $\theta$ (larger: learned faster)")
    left.set_title(r"backdoor learning slope at $\beta = 0$")
    right.set_ylabel("accuracy")
    right.set_ylim(-0.05, 1.05)
    right.set_title(r"BA and CA of the poisoned model ($\beta = 1$)")
    right.legend(fontsize=7, loc="center right")
    figure.suptitle(
        f"digits 3 vs 8, 2x2 trigger on {FRACTION:.0%} of the training 3s: unsafe C circled in red",
        fontsize=10,
    )
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(output: Path) -> pd.DataFrame:
    """Compute the table, write it and the figure into ``output``, print the table."""
    output.mkdir(parents=True, exist_ok=True)
    table = c_grid_table()
    table.to_csv(output / "digits_backdoor.csv", index=False)
    draw(table, output / "digits_backdoor.png")
    print(table.to_string(index=False, float_format=lambda value: f"{value:.4g}"))
    safe = table[table["safe"]].groupby("model", sort=False)["C"].apply(list)
    for name in MODELS:
        print(f"safe C for {name}: {safe.get(name, [])}")
    return table


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("digits_backdoor"))
