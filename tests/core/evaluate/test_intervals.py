"""Binomial intervals for proportions, MOVER for balanced accuracy, and the small-sample warnings."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import beta, norm

from core.errors import UserError
from core.evaluate.intervals import (MIN_CLASS_IMAGES, MIN_TEST_IMAGES, mean_of_proportions_ci, proportion_ci,
                                     sample_size_warnings, with_ci_method)
from core.evaluate.metrics import multi_label_report, single_label_report

Z = norm.ppf(0.975)


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson's score interval by its textbook formula (Brown, Cai & DasGupta 2001, eq. 4)."""
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return centre - half, centre + half


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """The exact interval from beta quantiles (Clopper & Pearson 1934)."""
    return (beta.ppf(0.025, k, n - k + 1) if k else 0.0), (beta.ppf(0.975, k + 1, n - k) if k < n else 1.0)


def test_six_of_six_is_about_sixty_to_one_hundred_percent_never_one_to_one() -> None:
    assert proportion_ci(6, 6) == pytest.approx((0.6097, 1.0), abs=1e-4)                     # 6 / (6 + z^2)
    assert proportion_ci(6, 6, "clopper-pearson") == pytest.approx((0.5407, 1.0), abs=1e-4)  # 0.025 ** (1/6)
    assert proportion_ci(6, 6)[0] == pytest.approx(6 / (6 + Z**2), abs=1e-12)
    assert proportion_ci(6, 6, "clopper-pearson")[0] == pytest.approx(0.025 ** (1 / 6), abs=1e-12)


def test_none_of_six_mirrors_it() -> None:
    assert proportion_ci(0, 6) == pytest.approx((0.0, Z**2 / (6 + Z**2)), abs=1e-12)            # (0, 0.3903)
    assert proportion_ci(0, 6, "clopper-pearson") == pytest.approx((0.0, 1 - 0.025 ** (1 / 6)), abs=1e-12)


@pytest.mark.parametrize("k, n", [(3, 6), (1, 9), (5, 10), (45, 50), (17, 230)])
def test_middle_cases_equal_the_formulas(k: int, n: int) -> None:
    assert proportion_ci(k, n) == pytest.approx(wilson(k, n), abs=1e-9)
    assert proportion_ci(k, n, "clopper-pearson") == pytest.approx(clopper_pearson(k, n), abs=1e-9)
    low, high = proportion_ci(k, n, "clopper-pearson")
    wl, wh = proportion_ci(k, n)
    assert low < k / n < high and wl < k / n < wh and high - low > wh - wl   # exact is the wider one


def test_three_of_six_by_hand() -> None:
    assert proportion_ci(3, 6) == pytest.approx((0.1876, 0.8124), abs=1e-4)
    assert proportion_ci(3, 6, "clopper-pearson") == pytest.approx((0.1181, 0.8819), abs=1e-4)


def test_undefined_and_bad_inputs() -> None:
    assert all(math.isnan(v) for v in proportion_ci(0, 0))
    with pytest.raises(ValueError):
        proportion_ci(7, 6)
    with pytest.raises(UserError, match="wilson, clopper-pearson"):
        proportion_ci(1, 2, "wald")


def test_mover_of_two_perfect_classes_by_hand() -> None:
    lower = 1 - math.sqrt(2 * (1 - wilson(3, 3)[0]) ** 2) / 2
    assert mean_of_proportions_ci([(3, 3), (3, 3)]) == pytest.approx((lower, 1.0), abs=1e-12)
    assert lower == pytest.approx(0.603, abs=1e-3)
    assert mean_of_proportions_ci([(3, 3), (0, 0)]) == pytest.approx(proportion_ci(3, 3))   # absent class left out
    assert all(math.isnan(v) for v in mean_of_proportions_ci([(0, 0)]))


@pytest.mark.parametrize("method", ["wilson", "clopper-pearson"])
def test_mover_middle_case_by_hand(method: str) -> None:
    parts = [(5, 10), (8, 10), (30, 40)]
    p = np.array([k / n for k, n in parts])
    limits = np.array([proportion_ci(k, n, method) for k, n in parts])
    low, high = mean_of_proportions_ci(parts, method)
    assert low == pytest.approx(p.mean() - math.sqrt(((p - limits[:, 0]) ** 2).sum()) / 3, abs=1e-12)
    assert high == pytest.approx(p.mean() + math.sqrt(((limits[:, 1] - p) ** 2).sum()) / 3, abs=1e-12)
    assert low < p.mean() < high


def perfect(n_per_class: int = 3) -> tuple[np.ndarray, np.ndarray]:
    labels = np.repeat([0, 1], n_per_class)
    return labels, np.where(labels[:, None] == 1, [[0.2, 0.8]], [[0.9, 0.1]])


def test_a_perfect_small_test_split_gets_wide_intervals_and_says_which() -> None:
    headline = single_label_report(*perfect(), ["neg", "pos"], n_bootstrap=200)["headline"]
    assert headline["accuracy"] == {"value": 1.0, "ci_low": pytest.approx(0.6097, abs=1e-4), "ci_high": 1.0,
                                    "method": "wilson", "successes": 6, "trials": 6}
    for name in ("sensitivity", "specificity", "ppv", "npv"):   # 3 of 3 each
        assert (headline[name]["ci_low"], headline[name]["ci_high"]) == pytest.approx(wilson(3, 3)), name
        assert headline[name]["method"] == "wilson"
    for name in ("balanced_accuracy", "macro_recall", "macro_specificity"):
        assert headline[name]["method"] == "mover-wilson" and headline[name]["ci_low"] == pytest.approx(0.603, abs=1e-3)
    assert headline["weighted_recall"]["ci_low"] == headline["accuracy"]["ci_low"]
    assert headline["roc_auc"]["method"] == headline["macro_f1"]["method"] == "bootstrap"
    exact = single_label_report(*perfect(), ["neg", "pos"], n_bootstrap=200, ci_method="clopper-pearson")
    assert exact["headline"]["accuracy"]["ci_low"] == pytest.approx(0.5407, abs=1e-4)
    assert exact["ci_method"] == "clopper-pearson"


def test_all_wrong_gives_zero_to_upper_limit() -> None:
    labels, probabilities = perfect()
    headline = single_label_report(1 - labels, probabilities, ["neg", "pos"], n_bootstrap=50)["headline"]
    assert (headline["accuracy"]["ci_low"], headline["accuracy"]["ci_high"]) == pytest.approx((0.0, 0.3903), abs=1e-4)


def test_every_headline_interval_contains_its_value() -> None:
    rng = np.random.default_rng(0)
    for k in (2, 3):
        labels = np.arange(40) % k
        logits = rng.normal(size=(40, k))
        logits[np.arange(40), labels] += 1
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        for method in ("wilson", "clopper-pearson"):
            for name, entry in single_label_report(labels, p, list("abc")[:k], n_bootstrap=100,
                                                   ci_method=method)["headline"].items():
                assert entry["ci_low"] <= entry["value"] <= entry["ci_high"], (k, method, name)


def test_switching_method_from_stored_counts_equals_recomputing() -> None:
    labels, probabilities = perfect(5)
    probabilities[[0, 7]] = probabilities[[0, 7]][:, ::-1]   # one error in each class
    wilson_report = single_label_report(labels, probabilities, ["neg", "pos"], n_bootstrap=100)
    exact_report = single_label_report(labels, probabilities, ["neg", "pos"], n_bootstrap=100,
                                       ci_method="clopper-pearson")
    assert with_ci_method(wilson_report["headline"], "clopper-pearson") == exact_report["headline"]
    assert with_ci_method(exact_report["headline"], "wilson") == wilson_report["headline"]
    old = {"accuracy": {"value": 0.9, "ci_low": 0.8, "ci_high": 0.95}}   # stored before counts existed
    assert with_ci_method(old, "clopper-pearson") == old


def test_multi_label_subset_accuracy_is_a_proportion() -> None:
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0]])
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.1, 0.2], [0.8, 0.1]])  # case 3 misses label 1
    headline = multi_label_report(labels, scores, ["a", "b"], [0.5, 0.5], n_bootstrap=50)["headline"]
    entry = headline["subset_accuracy"]
    assert (entry["successes"], entry["trials"], entry["method"]) == (4, 5, "wilson")
    assert (entry["ci_low"], entry["ci_high"]) == pytest.approx(wilson(4, 5))
    assert headline["hamming_loss"]["method"] == "bootstrap"


def balanced(n: int, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % k
    rng = np.random.default_rng(n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += 1
    return labels, np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


def test_test_split_under_thirty_images_is_warned_about_and_thirty_is_not() -> None:
    small = sample_size_warnings(single_label_report(*balanced(MIN_TEST_IMAGES - 1), ["a", "b"], n_bootstrap=50))
    assert any(f"only {MIN_TEST_IMAGES - 1} images" in w and "uncertain" in w for w in small)
    enough = sample_size_warnings(single_label_report(*balanced(2 * MIN_CLASS_IMAGES + 10), ["a", "b"],
                                                      n_bootstrap=50))
    assert not any("test split holds only" in w for w in enough)


def test_a_class_under_ten_test_images_is_named() -> None:
    labels, p = balanced(60, 3)
    keep = (labels != 2) | (np.cumsum(labels == 2) <= MIN_CLASS_IMAGES - 1)   # 9 images of class "c"
    warnings = sample_size_warnings(single_label_report(labels[keep], p[keep], ["a", "b", "c"], n_bootstrap=50))
    assert warnings == [f"Fewer than {MIN_CLASS_IMAGES} test images for class 'c' (9 test images), so the "
                        "sensitivity, precision and AUC of this class rest on too few cases to be trusted."]
    keep = (labels != 2) | (np.cumsum(labels == 2) <= MIN_CLASS_IMAGES)        # 10: enough
    assert sample_size_warnings(single_label_report(labels[keep], p[keep], ["a", "b", "c"], n_bootstrap=50)) == []


def test_multi_label_counts_positives_and_a_collapsed_bootstrap_is_called_unknown() -> None:
    rng = np.random.default_rng(1)
    labels = (rng.random((40, 2)) < [0.5, 0.1]).astype(int)
    warnings = sample_size_warnings(multi_label_report(labels, labels * 0.8 + 0.1, ["a", "b"], [0.5, 0.5],
                                                       n_bootstrap=50))
    assert any(f"label 'b' ({labels[:, 1].sum()} positive test images)" in w for w in warnings)
    assert any(w.startswith("The bootstrap intervals of roc auc") and "unknown" in w for w in warnings)
    perfect_small = sample_size_warnings(single_label_report(*perfect(), ["neg", "pos"], n_bootstrap=50))
    assert len(perfect_small) == 3 and "roc auc" in perfect_small[2]


def test_two_small_classes_read_in_the_plural_and_an_absent_class_gets_its_own_sentence() -> None:
    labels, p = balanced(60, 3)
    keep = (labels == 0) | ((labels == 1) & (np.cumsum(labels == 1) <= 4))   # 4 of 'b', none of 'c'
    warnings = sample_size_warnings(single_label_report(labels[keep], p[keep], ["a", "b", "c"], n_bootstrap=50))
    assert ("The test split holds no test images of class 'c', so the sensitivity of this class cannot be "
            "measured at all.") in warnings
    assert (f"Fewer than {MIN_CLASS_IMAGES} test images for classes 'b' (4 test images), 'c' (0 test images), so "
            "the sensitivity, precision and AUC of these classes rest on too few cases to be trusted.") in warnings
    assert not any("classs" in w for w in warnings)
