"""The head slope of a (random-weight) network: the columns, the expansion point, the check."""

import numpy as np
import pytest
import torch

from backdoor_curves.attacks.triggers import TriggerSpec
from backdoor_curves.classifiers.nn.resnet import build_resnet
from backdoor_curves.classifiers.nn.weighted_trainer import evaluate
from backdoor_curves.experiments.nn.columns import HEAD_BETAS, HEAD_COLUMNS, head_curve_column
from backdoor_curves.experiments.nn.data import MulticlassSplit, poisoned_run
from backdoor_curves.experiments.nn.head import NO_HEAD, head_columns

CPU = torch.device("cpu")


def tiny_run():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(60, 1, 8, 8), dtype=np.uint8)
    labels = np.arange(60) % 10
    split = MulticlassSplit(images, labels, images[:20], labels[:20], "generated")
    return poisoned_run(split, TriggerSpec.badnet(2), 0.2, seed=3, normalisation=((0.5,), (0.5,)))


def test_head_columns_expand_at_the_network_own_last_layer() -> None:
    data = tiny_run()
    model = build_resnet("resnet18", 10, seed=1, in_channels=1, stem="small", width=2)
    columns = head_columns(model, data, CPU, weight_decay=1e-4, damping=0.05, per_sample=False)
    assert set(columns) == set(HEAD_COLUMNS) == set(NO_HEAD)
    assert columns["head_status"] == "ok" and columns["head_damping"] == 0.05
    # beta = 0 of the head's curve is the network itself: its backdoor CE, evaluated.
    _, network_ce = evaluate(model, data.backdoor, CPU, amp=False)
    assert columns["head_backdoor_ce"] == pytest.approx(network_ce, rel=1e-5)
    # The tangent checked on the head's own curve.
    assert columns["head_slope_fd"] == pytest.approx(columns["head_slope_if"], rel=1e-3)
    assert columns["head_tangent_valid_until"] >= HEAD_BETAS[0]
    curve = [columns["head_backdoor_ce"], *(columns[head_curve_column(b)] for b in HEAD_BETAS)]
    assert np.all(np.isfinite(curve))
