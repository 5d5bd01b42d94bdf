"""Confidence intervals for proportions, and warnings when the test split is too small to be sure of anything.

A proportion k/n (accuracy, sensitivity, specificity, PPV, NPV, subset accuracy) gets a binomial interval, not a
bootstrap: resampling 6 correct cases out of 6 only ever gives 6/6, so the percentile bootstrap says [1, 1],
while 6/6 is quite compatible with a true rate of 0.7. Two methods (Brown, Cai & DasGupta 2001, "Interval
Estimation for a Binomial Proportion", Statistical Science 16:101):
- "wilson" (default): Wilson's score interval (1927); close to nominal coverage even for small n and k at 0 or n.
- "clopper-pearson": the exact interval from the binomial distribution (1934); never below nominal coverage, wider.
Both come from `scipy.stats.binomtest(k, n).proportion_ci` ("wilson" and "exact").

Balanced accuracy (= macro recall) is the mean of the per-class recalls, independent binomial proportions of
disjoint sets of cases. Its interval is MOVER (Zou & Donner 2008, "Construction of confidence limits about effect
measures: A general approach", Statistics in Medicine 27:1693; Newcombe 1998's method 10 for a difference is the
same construction), combining each class's Wilson or Clopper-Pearson limits:
    L = mean(p) - sqrt(sum((p_c - l_c)^2)) / K,   U = mean(p) + sqrt(sum((u_c - p_c)^2)) / K.
So 3/3 and 3/3 correct give about [0.60, 1], like 6/6 accuracy. Everything else (AUC, F1, precision averaged
over classes, log loss) keeps the percentile bootstrap of metrics.py.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from core.errors import UserError

CI_METHODS = {"wilson": "wilson", "clopper-pearson": "exact"}   # our name -> scipy's name
DEFAULT_CI_METHOD = "wilson"
METHOD_TEXT = {"wilson": "Wilson score", "clopper-pearson": "Clopper-Pearson exact",
               "bootstrap": "percentile bootstrap", "mover-wilson": "MOVER of per-class Wilson intervals",
               "mover-clopper-pearson": "MOVER of per-class Clopper-Pearson intervals"}
MIN_TEST_IMAGES = 30    # below this, no test-split number is worth more than its interval
MIN_CLASS_IMAGES = 10   # below this, a class's sensitivity, PPV and AUC rest on a handful of cases


def _check_method(method: str) -> None:
    if method not in CI_METHODS:
        raise UserError(f"Unknown confidence interval method '{method}'; choose one of {', '.join(CI_METHODS)}.")


def proportion_ci(successes: int, trials: int, method: str = DEFAULT_CI_METHOD, confidence: float = 0.95
                  ) -> tuple[float, float]:
    """Two-sided interval for a binomial proportion successes/trials (Wilson score or Clopper-Pearson exact).

    Returns (low, high) within [0, 1]; (NaN, NaN) when trials == 0 (the proportion is undefined). Raises
    UserError for an unknown method and ValueError when successes is not within 0..trials.
    """
    _check_method(method)
    k, n = int(successes), int(trials)
    if n == 0:
        return math.nan, math.nan
    if not 0 <= k <= n:
        raise ValueError(f"successes ({k}) must lie between 0 and trials ({n})")
    from scipy.stats import binomtest  # here, not at the top: scipy.stats takes most of a second to import

    interval = binomtest(k, n).proportion_ci(confidence_level=confidence, method=CI_METHODS[method])
    return float(interval.low), float(interval.high)


def mean_of_proportions_ci(components: list[tuple[int, int]], method: str = DEFAULT_CI_METHOD,
                           confidence: float = 0.95) -> tuple[float, float]:
    """MOVER interval (Zou & Donner 2008) of the unweighted mean of independent proportions [(k, n), ...].

    Components with n == 0 are left out (as balanced accuracy leaves out absent classes); (NaN, NaN) when none is
    left. Each component's limits come from `proportion_ci(method)`; the result is clipped to [0, 1].
    """
    parts = [(k, n) for k, n in components if n > 0]
    if not parts:
        return math.nan, math.nan
    p = np.array([k / n for k, n in parts])
    limits = np.array([proportion_ci(k, n, method, confidence) for k, n in parts])
    mean, count = p.mean(), len(parts)
    low = mean - math.sqrt(((p - limits[:, 0]) ** 2).sum()) / count
    high = mean + math.sqrt(((limits[:, 1] - p) ** 2).sum()) / count
    return max(0.0, float(low)), min(1.0, float(high))


def proportion_entry(value: float, successes: int, trials: int, method: str) -> dict[str, Any]:
    """A headline entry {"value", "ci_low", "ci_high", "method", "successes", "trials"} for k/n."""
    low, high = proportion_ci(successes, trials, method)
    return {"value": float(value), "ci_low": low, "ci_high": high, "method": method,
            "successes": int(successes), "trials": int(trials)}


def mean_entry(value: float, components: list[tuple[int, int]], method: str) -> dict[str, Any]:
    """A headline entry for a mean of independent proportions (balanced accuracy), with its components."""
    low, high = mean_of_proportions_ci(components, method)
    return {"value": float(value), "ci_low": low, "ci_high": high, "method": f"mover-{method}",
            "components": [[int(k), int(n)] for k, n in components]}


def with_ci_method(headline: dict[str, Any], method: str) -> dict[str, Any]:
    """A copy of a report's headline with its proportion intervals recomputed by `method` from the stored counts.

    Bootstrap intervals (entries without counts) are kept as they are; a report stored before the counts existed
    comes back unchanged.
    """
    _check_method(method)
    out = {}
    for name, entry in headline.items():
        if isinstance(entry, dict) and "trials" in entry:
            entry = proportion_entry(entry["value"], entry["successes"], entry["trials"], method)
        elif isinstance(entry, dict) and "components" in entry:
            entry = mean_entry(entry["value"], [tuple(c) for c in entry["components"]], method)
        out[name] = entry
    return out


def sample_size_warnings(metrics: dict[str, Any]) -> list[str]:
    """Sentences saying why the numbers of a test report (`single_label_report` / `multi_label_report`) are
    uncertain: a test split under MIN_TEST_IMAGES images, classes (labels: positives) under MIN_CLASS_IMAGES."""
    warnings = []
    n = int(metrics.get("n", 0))
    if n < MIN_TEST_IMAGES:
        warnings.append(f"The test split holds only {n} images (fewer than {MIN_TEST_IMAGES}), so every number "
                        "in this report is uncertain: trust the confidence intervals, not the values, and test on "
                        "more images before relying on the model.")
    multilabel = "per_label" in metrics
    rows = metrics.get("per_label" if multilabel else "per_class", [])
    small = [(row.get("label", row.get("class")), int(row["support"])) for row in rows
             if int(row["support"]) < MIN_CLASS_IMAGES]
    what = "positive test images" if multilabel else "test images"
    absent = [name for name, count in small if count == 0]
    if absent:
        noun = ("label" if multilabel else "class") if len(absent) == 1 else ("labels" if multilabel else "classes")
        warnings.append(f"The test split holds no {what} of {noun} " + ", ".join(f"'{name}'" for name in absent)
                        + ", so the sensitivity of " + ("this" if len(absent) == 1 else "these")
                        + f" {noun} cannot be measured at all.")
    if small:
        listed = ", ".join(f"'{name}' ({count} {what})" for name, count in small)
        singular = "label" if multilabel else "class"
        noun = singular if len(small) == 1 else ("labels" if multilabel else "classes")
        warnings.append(f"Fewer than {MIN_CLASS_IMAGES} {what} for {noun} {listed}, so the sensitivity, "
                        "precision and AUC of " + ("these" if len(small) > 1 else "this") + f" {noun} rest on "
                        "too few cases to be trusted.")
    collapsed = [name.replace("_", " ") for name, entry in metrics.get("headline", {}).items()
                 if isinstance(entry, dict) and entry.get("method") == "bootstrap"
                 and entry.get("ci_low") == entry.get("ci_high") == entry.get("value")]
    if collapsed:
        warnings.append("The bootstrap intervals of " + ", ".join(collapsed) + " shrink to a single value because "
                        "every resample of these test images gives that same value; this is not certainty (the "
                        "bootstrap cannot reach beyond the cases it has), so read their uncertainty as unknown.")
    return warnings
