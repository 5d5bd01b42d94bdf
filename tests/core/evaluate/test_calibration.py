from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.metrics import log_loss

from core.errors import UserError
from core.evaluate.calibration import (MIN_VAL_EVENTS, MIN_VAL_IMAGES, PLAUSIBLE_T, T_BOUNDS, apply_temperature,
                                      calibration_summary, fit_temperature, reliability_diagram,
                                      supported_temperature)


def true_logits(n: int, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits): calibrated by construction."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=1.5, size=(n, k))
    labels = (rng.random(n)[:, None] > softmax(logits, 1).cumsum(1)).sum(1)
    return logits, labels


def confidences(n: int, true_accuracy, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Binary probabilities whose top class (0) has confidence c, correct with probability true_accuracy(c)."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0.5, 1.0, n)
    labels = (rng.random(n) >= true_accuracy(c)).astype(int)
    return labels, np.c_[c, 1 - c]


def test_reliability_diagram_bins_by_hand() -> None:
    labels = np.array([0, 1, 1, 0])
    p = np.array([[0.9, 0.1], [0.65, 0.35], [0.3, 0.7], [0.55, 0.45]])   # confidences .9 .65 .7 .55
    diagram = reliability_diagram(labels, p, bins=5)
    assert [b["count"] for b in diagram["bins"]] == [0, 0, 1, 2, 1]
    assert [b["lower"] for b in diagram["bins"]] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8])
    b3 = diagram["bins"][3]    # (0.6, 0.8]: .65 wrong, .7 right
    assert (b3["confidence"], b3["accuracy"]) == pytest.approx((0.675, 0.5))
    assert np.isnan(diagram["bins"][0]["accuracy"])
    ece = (1 * abs(1 - 0.55) + 2 * abs(0.5 - 0.675) + 1 * abs(1 - 0.9)) / 4
    assert diagram["ece"] == pytest.approx(ece)
    assert diagram["mce"] == pytest.approx(0.45)
    assert diagram["accuracy"] == 0.75
    one_bin = reliability_diagram(labels, p, bins=1)
    assert one_bin["ece"] == pytest.approx(abs(0.75 - np.mean([0.9, 0.65, 0.7, 0.55])))
    json.dumps(diagram)


def test_ece_small_when_calibrated_large_when_overconfident() -> None:
    assert reliability_diagram(*confidences(20000, lambda c: c))["ece"] < 0.03
    over = reliability_diagram(*confidences(20000, lambda c: c - 0.25))
    assert over["ece"] == pytest.approx(0.25, abs=0.03) and over["mce"] > 0.2


def test_temperature_recovers_overconfidence_and_improves_the_test_split() -> None:
    logits_val, labels_val = true_logits(3000, seed=1)
    logits_test, labels_test = true_logits(3000, seed=2)
    assert fit_temperature(3 * logits_val, labels_val) == pytest.approx(3.0, rel=0.15)
    summary = calibration_summary(3 * logits_val, labels_val, 3 * logits_test, labels_test)
    before, after = summary["before"], summary["after"]
    assert summary["temperature"] == pytest.approx(3.0, rel=0.15)
    assert after["nll"] < before["nll"] and after["ece"] < before["ece"] / 2
    assert after["accuracy"] == before["accuracy"]
    assert after["nll"] == pytest.approx(log_loss(labels_test, softmax(3 * logits_test / summary["temperature"], 1)))
    assert summary["n_val"] == summary["n_test"] == 3000 and summary["applied"] and summary["note"] is None
    assert len(after["reliability"]["bins"]) == 10
    json.dumps(summary)


def test_temperature_stays_near_one_when_already_calibrated() -> None:
    logits, labels = true_logits(3000, seed=3)
    assert fit_temperature(logits, labels) == pytest.approx(1.0, abs=0.1)


def test_temperature_is_one_when_scaling_cannot_help() -> None:
    assert fit_temperature(np.zeros((20, 3)), np.arange(20) % 3) == 1.0   # uniform: NLL does not depend on T


def test_apply_temperature() -> None:
    logits, _ = true_logits(50)
    p = apply_temperature(logits, 2.0)
    assert np.allclose(p.sum(1), 1) and (p.argmax(1) == logits.argmax(1)).all()
    assert np.allclose(p, softmax(logits / 2, 1))
    with pytest.raises(UserError):
        apply_temperature(logits, 0.0)
    with pytest.raises(UserError):
        fit_temperature(np.full((3, 2), np.nan), np.zeros(3, int))
    with pytest.raises(UserError):
        reliability_diagram(np.zeros(2, int), np.zeros((3, 2)))


def with_errors(n: int, errors: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Confident logits (margin 4) for n cases of 3 classes, exactly `errors` of them wrong."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    predicted = labels.copy()
    predicted[:errors] = (labels[:errors] + 1) % 3
    logits = rng.normal(scale=0.3, size=(n, 3))
    logits[np.arange(n), predicted] += 4.0
    return logits, labels


def test_too_small_a_validation_split_is_not_fitted_and_says_so() -> None:
    logits, labels = with_errors(MIN_VAL_IMAGES - 1, 15)
    test_logits, test_labels = with_errors(60, 10, seed=1)
    summary = calibration_summary(logits, labels, test_logits, test_labels)
    assert summary["temperature"] == 1.0 and not summary["applied"] and summary["fitted_temperature"] is None
    assert summary["note"] == (f"Validation split too small to calibrate ({MIN_VAL_IMAGES - 1} images, fewer than "
                               f"{MIN_VAL_IMAGES}); temperature scaling not applied.")
    assert json.dumps(summary["after"]) == json.dumps(summary["before"])   # NaN bins compare equal as text
    json.dumps(summary)


def test_a_validation_split_without_errors_would_give_an_absurd_t_and_is_not_fitted() -> None:
    logits, labels = with_errors(200, 0)
    assert T_BOUNDS[0] <= fit_temperature(logits, labels) < 0.1 < PLAUSIBLE_T[0]   # the "T = 0.05" of the issue
    temperature, fitted, note = supported_temperature(logits, labels)
    assert (temperature, fitted) == (1.0, None)
    assert note == ("Validation split too small to calibrate: only 0 of its 200 images are misclassified (the fit "
                    f"learns from both and needs at least {MIN_VAL_EVENTS} of each); temperature scaling not applied.")


@pytest.mark.parametrize("errors, applied", [(MIN_VAL_EVENTS - 1, False), (MIN_VAL_EVENTS, True)])
def test_the_error_count_boundary(errors: int, applied: bool) -> None:
    logits, labels = with_errors(300, errors)
    temperature, fitted, note = supported_temperature(logits, labels)
    assert (note is None) == applied
    if applied:
        assert temperature == fitted == pytest.approx(fit_temperature(logits, labels))
        assert PLAUSIBLE_T[0] <= temperature <= PLAUSIBLE_T[1]
    else:
        assert temperature == 1.0 and f"only {errors} of its 300 images are misclassified" in note


def test_too_few_correct_cases_are_not_fitted_either() -> None:
    logits, labels = with_errors(100, 97)
    assert "only 3 of its 100 images are classified correctly" in supported_temperature(logits, labels)[2]


def test_an_implausible_fitted_temperature_is_not_applied() -> None:
    rng = np.random.default_rng(4)
    logits, labels = 12 * rng.normal(size=(400, 3)), rng.integers(0, 3, 400)   # confident and random: T runs off
    temperature, fitted, note = supported_temperature(logits, labels)
    assert temperature == 1.0 and fitted > PLAUSIBLE_T[1]
    assert note.startswith("The temperature fitted on the validation split (400 images) came out at T = ")
    assert note.endswith("outside the plausible 0.25-10, so the fit is not trusted; temperature scaling not applied.")
