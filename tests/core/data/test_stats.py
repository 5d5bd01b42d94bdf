"""The class-balance advice of the Dataset and Train pages."""
from __future__ import annotations

from core.data.stats import imbalance_advice, imbalance_ratio


def test_balanced_classes_get_no_advice_and_imbalanced_ones_a_ratio() -> None:
    assert imbalance_advice({"normal": 100, "nodule": 90}) is None
    advice = imbalance_advice({"normal": 300, "nodule": 100})
    assert advice is not None and "'normal' has 3.0× as many images as 'nodule'" in advice


def test_classes_without_training_images_are_left_out_never_an_infinite_ratio() -> None:
    """A synthetic dataset of one class keeps the other classes' names with no images (it said '∞×')."""
    assert imbalance_advice({"normal": 0, "nodule": 570, "cavity": 0}) is None
    advice = imbalance_advice({"normal": 0, "nodule": 600, "cavity": 200})
    assert advice is not None and "3.0×" in advice and "'normal'" not in advice
    assert imbalance_ratio({"a": 0, "b": 5}) == float("inf")  # the ratio itself still says a class is missing
