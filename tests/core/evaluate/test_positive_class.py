"""The default positive class of a two-class task: the finding, not the "normal" class."""
from __future__ import annotations

import pytest

from core.errors import UserError
from core.evaluate.metrics import default_positive_class, names_no_finding


@pytest.mark.parametrize("classes, positive", [
    (["NORMAL", "PNEUMONIA"], "PNEUMONIA"),
    (["abnormal", "normal"], "abnormal"),          # "abnormal" is a finding although it contains "normal"
    (["benign", "malignant"], "malignant"),
    (["glioma", "no_tumor"], "glioma"),
    (["Effusion", "No Finding"], "Effusion"),
    (["non-malignant", "malignant"], "malignant"),
    (["negative", "positive"], "positive"),
    (["control", "patient"], "patient"),
    (["healthy", "normal"], "normal"),             # both read as no finding: the second class
    (["cat", "dog"], "dog"),                       # neither: the second class (scikit-learn's pos_label=1)
    (["0", "1"], "1"),
])
def test_default_positive_class(classes, positive):
    assert default_positive_class(classes) == positive


@pytest.mark.parametrize("name, expected", [("Normal", True), ("no finding", True), ("Not_Sick", True),
                                            ("normal_tissue", True), ("abnormal", False), ("nodule", False),
                                            ("triple negative", False), ("clear cell", False), ("", False)])
def test_names_no_finding(name, expected):
    assert names_no_finding(name) is expected


def test_more_than_two_classes_is_a_user_error():
    with pytest.raises(UserError, match="exactly two classes, not 3"):
        default_positive_class(["a", "b", "c"])
