"""The out-of-distribution reasons: one case per reason with its exact sentence, flagged only when truly past a
limit, and never worded as a contradiction. ood.py has five reasons (colour, brightness, contrast, feature
distance, confidence); size and channel mismatches are handled before it, when an image is prepared."""
from __future__ import annotations

import re

import numpy as np
import pytest

from core.evaluate.ood import COLOUR_LIMIT, CONFIDENCE_TOLERANCE, OODReference, check


def reference(confidence_limit: float = 0.9, distance_limit: float = 5.0) -> OODReference:
    """Training brightness 0.3-0.5, contrast 0-1, one class mean at the origin of a 2-D feature space."""
    return OODReference(greyscale_training=True, mean_range=(0.3, 0.5), std_range=(0.0, 1.0),
                        class_means=[[0.0, 0.0]], precision=[[1.0, 0.0], [0.0, 1.0]],
                        distance_limit=distance_limit, confidence_limit=confidence_limit)


def run(ref: OODReference, confidence: float = 0.99, distance: float = 1.0, brightness: float = 0.4):
    return check(ref, 0.0, np.full((1, 4, 4), brightness), np.array([distance, 0.0]), confidence)


def numbers(reason: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+\.\d+", reason)]


@pytest.mark.parametrize("limit", [0.9, 0.95, 0.999, 0.9999999, 0.99999999999])
def test_confidence_at_or_just_under_the_limit_is_not_unsure(limit: float) -> None:
    ref = reference(limit)
    assert not run(ref, limit).flagged
    assert not run(ref, limit - CONFIDENCE_TOLERANCE / 2).flagged          # float32 noise, not a real gap
    assert not run(ref, np.float32(limit).item()).flagged                 # the same value through float32


@pytest.mark.parametrize("limit, confidence", [(0.95, 0.9499), (0.9999999, 0.9999975), (0.999, 0.998),
                                               (0.99999999999, 0.999998), (0.9, 0.5)])
def test_an_unsure_reason_shows_a_value_visibly_below_its_limit(limit: float, confidence: float) -> None:
    result = run(reference(limit), confidence)
    assert result.flagged and len(result.reasons) == 1
    reason = result.reasons[0]
    shown, shown_limit = numbers(reason)
    assert shown < shown_limit, reason
    assert "1.00, below" not in reason and "below the 1.00 " not in reason


def test_the_issue_case_reads_sensibly() -> None:
    reason = run(reference(0.9999996), 0.9999981).reasons[0]
    assert reason == ("the model is unsure (top probability 0.999998, below the 1.000000 that 99% of validation "
                      "images reach)")


def test_distance_boundary_and_wording() -> None:
    ref = reference(distance_limit=5.0)
    assert not run(ref, distance=5.0).flagged
    reason = run(ref, distance=5.00001).reasons[0]
    shown, limit = numbers(reason)
    assert shown > limit and reason.startswith("the model's features are unlike the training images (distance 5.00001;")


def test_brightness_boundary_includes_the_margin() -> None:
    ref = reference()
    assert not run(ref, brightness=0.2801).flagged           # within the 0.02 margin below 0.30
    reason = run(ref, brightness=0.27).reasons[0]
    assert reason == "its brightness (0.27) is outside the training range (0.30-0.50)"
    assert run(ref, brightness=0.53).reasons == ["its brightness (0.53) is outside the training range (0.30-0.50)"]


def two_tone(low: float, high: float) -> np.ndarray:
    """A (1, 2, 2) prepared image, half `low` and half `high`: brightness (low+high)/2, contrast (high-low)/2."""
    return np.array([[[low, high], [low, high]]])


CASE_REFERENCE = OODReference(greyscale_training=True, mean_range=(0.3, 0.5), std_range=(0.1, 0.2),
                              class_means=[[0.0, 0.0]], precision=[[1.0, 0.0], [0.0, 1.0]],
                              distance_limit=5.0, confidence_limit=0.9)
COLOUR = "it is a colour image, but the model was trained on greyscale images"
BRIGHTNESS = "its brightness (0.70) is outside the training range (0.30-0.50)"
CONTRAST = "its contrast (0.30) is outside the training range (0.10-0.20)"
DISTANCE = "the model's features are unlike the training images (distance 6.0; 99% of validation images are below 5.0)"
UNSURE = "the model is unsure (top probability 0.50, below the 0.90 that 99% of validation images reach)"
# (colourfulness, prepared image, features, confidence, greyscale training, expected reasons in order)
TEST_CASES_REASONS = [
    (0.0, two_tone(0.25, 0.55), [1.0, 0.0], 0.99, True, []),                        # like the training data
    (0.2, two_tone(0.25, 0.55), [1.0, 0.0], 0.99, True, [COLOUR]),
    (COLOUR_LIMIT, two_tone(0.25, 0.55), [1.0, 0.0], 0.99, True, []),              # at the limit: greyscale
    (0.5, two_tone(0.25, 0.55), [1.0, 0.0], 0.99, False, []),                      # trained on colour
    (0.0, two_tone(0.55, 0.85), [1.0, 0.0], 0.99, True, [BRIGHTNESS]),
    (0.0, two_tone(0.1, 0.7), [1.0, 0.0], 0.99, True, [CONTRAST]),
    (0.0, two_tone(0.25, 0.55), [6.0, 0.0], 0.99, True, [DISTANCE]),
    (0.0, two_tone(0.25, 0.55), [3.0, 4.0], 0.99, True, []),                        # distance 5.0: at the limit
    (0.0, two_tone(0.25, 0.55), [1.0, 0.0], 0.5, True, [UNSURE]),
    (0.2, two_tone(0.4, 1.0), [0.0, 6.0], 0.5, True, [COLOUR, BRIGHTNESS, CONTRAST, DISTANCE, UNSURE]),
]


@pytest.mark.parametrize("colour,prepared,features,confidence,greyscale,reasons", TEST_CASES_REASONS)
def test_each_reason_has_its_own_sentence(colour: float, prepared: np.ndarray, features: list[float],
                                          confidence: float, greyscale: bool, reasons: list[str]) -> None:
    reference = OODReference(**{**CASE_REFERENCE.__dict__, "greyscale_training": greyscale})
    result = check(reference, colour, prepared, np.array(features), confidence)
    assert result.reasons == reasons and result.flagged is bool(reasons)
    assert result.scores == pytest.approx({"colourfulness": colour, "brightness": prepared.mean(),
                                           "contrast": prepared.std(), "feature_distance": np.hypot(*features),
                                           "confidence": confidence})
