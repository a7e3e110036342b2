"""Tests of backdoor_curves.naming: one name per model and trigger, everywhere."""

from __future__ import annotations

import enum
import math

import pytest

from backdoor_curves import naming
from backdoor_curves.attacks.triggers import TriggerSpec


def test_trigger_tags_and_labels_from_table_columns():
    assert naming.trigger_tag("badnet", 3.0, math.nan) == "badnet3"
    assert naming.trigger_label("badnet", 3.0, math.nan) == "badnet 3x3"
    assert naming.trigger_tag("invisible", None, 75 / 255) == "invisible75"
    assert naming.trigger_label("invisible", math.nan, 75 / 255) == "invisible 75/255"
    # Tags are file names: the amplitude is rounded to whole 1/255 steps; labels keep it.
    assert naming.trigger_tag("invisible", eps=0.1) == "invisible26"
    assert naming.trigger_label("invisible", eps=0.1) == "invisible 25.5/255"


@pytest.mark.parametrize(
    ("kind", "size", "eps", "message"),
    [
        ("blend", 3.0, None, "valid triggers are"),
        ("badnet", math.nan, None, "finite trigger_size"),
        ("badnet", None, None, "finite trigger_size"),
        ("invisible", 3.0, math.nan, "finite trigger_eps"),
    ],
)
def test_bad_trigger_columns_raise_naming_the_value(kind, size, eps, message):
    with pytest.raises(ValueError, match=message):
        naming.trigger_tag(kind, size, eps)
    with pytest.raises(ValueError, match=message):
        naming.trigger_label(kind, size, eps)


@pytest.mark.parametrize(
    ("spec", "tag", "label"),
    [
        (TriggerSpec.badnet(3), "badnet3", "badnet 3x3"),
        (TriggerSpec.badnet(6, position="top-left"), "badnet6", "badnet 6x6 top-left"),
        (
            TriggerSpec.badnet(2, position=(1, 2), low=0.5),
            "badnet2",
            "badnet 2x2 at (1, 2) [0.5, 1]",
        ),
        (TriggerSpec.invisible(), "invisible75", "invisible 75/255"),
        (TriggerSpec.invisible(10 / 255), "invisible10", "invisible 10/255"),
    ],
)
def test_trigger_spec_names(spec, tag, label):
    assert naming.trigger_spec_tag(spec) == tag
    assert naming.trigger_spec_label(spec) == label


def test_spec_and_column_names_agree():
    # A results folder (named from the spec) and its figures (named from the columns) match.
    for spec in (TriggerSpec.badnet(6), TriggerSpec.invisible(10 / 255)):
        columns = (spec.kind.value, spec.size, spec.eps)
        assert naming.trigger_spec_tag(spec) == naming.trigger_tag(*columns)
        assert naming.trigger_spec_label(spec) == naming.trigger_label(*columns)


def test_model_tags_and_labels():
    assert naming.model_tag("svm") == "svm"
    assert naming.model_tag("ridge", math.nan) == "ridge"
    assert naming.model_tag("svm-rbf", 5e-4) == "svm-rbf_g0.0005"
    assert naming.model_label("svm-rbf", 5e-4) == "RBF SVM, γ = 0.0005"
    assert naming.model_label("logistic") == "Logistic classifier"
    with pytest.raises(ValueError, match="gamma must be finite and positive, got -1"):
        naming.model_tag("svm-rbf", -1.0)
    with pytest.raises(ValueError, match="non-empty"):
        naming.model_label("")


def test_unregistered_model_gets_a_readable_default_label():
    assert naming.model_label("knn-vote") == "Knn vote"
    assert naming.model_label("deep_features-svm", 0.5) == "Deep features svm, γ = 0.5"


def test_registered_label_is_used_and_conflicts_raise(monkeypatch):
    monkeypatch.setattr(naming, "_MODEL_LABELS", dict(naming._MODEL_LABELS))
    naming.register_model_label("knn", "k-NN vote")
    naming.register_model_label("knn", "k-NN vote")  # the same again is fine
    assert naming.model_label("knn") == "k-NN vote"
    assert list(naming.registered_model_labels())[-1] == "knn"
    with pytest.raises(ValueError, match="already has the label 'k-NN vote'"):
        naming.register_model_label("knn", "nearest neighbours")


def test_model_order_puts_registered_models_first():
    names = [("zeta", None), ("svm-rbf", 5e-3), ("svm", None), ("alpha", 1.0), ("svm-rbf", 5e-4)]
    ordered = sorted(names, key=lambda m: naming.model_order(*m))
    assert ordered == [
        ("svm", None),
        ("svm-rbf", 5e-4),
        ("svm-rbf", 5e-3),
        ("alpha", 1.0),
        ("zeta", None),
    ]


def test_format_value_is_compact():
    values = (5e-4, 5e-5, 2.1544, 100.0, 1000.0)
    assert [naming.format_value(v) for v in values] == ["0.0005", "5e-5", "2.15", "100", "1e3"]


def test_enum_member_reads_a_value_back_or_lists_the_valid_ones() -> None:
    class Colour(enum.Enum):
        RED = "red"
        BLUE = "blue"

    assert naming.enum_member(Colour, "blue", "colour") is Colour.BLUE
    with pytest.raises(ValueError, match=r"^unknown colour 'green'; valid: red, blue$"):
        naming.enum_member(Colour, "green", "colour")
