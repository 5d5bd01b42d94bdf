"""Calibration of a single-label classifier: reliability diagrams, ECE/MCE and temperature scaling.

Guo, Pleiss, Sun & Weinberger 2017, "On Calibration of Modern Neural Networks" (ICML): confidence (the top
probability) is grouped into equal-width bins; ECE is the count-weighted mean |accuracy - confidence| over the
bins and MCE the largest gap (their eqs. 3 and 5). Temperature scaling divides the logits by one T > 0 fitted
to minimise validation NLL; it rescales confidence but never changes the predicted class, so accuracy holds.

T is only applied when the validation split can support it. The fit learns from the cases the model gets wrong:
with no validation error the NLL keeps falling as T -> 0, so the optimiser stops at its bound (T = 0.05) and
makes every prediction certain. One parameter fitted by maximum likelihood is a logistic-type model, whose
estimate needs enough "events" (here the rarer of errors and correct cases): 10 per parameter is the classic
rule (Peduzzi et al. 1996, J Clin Epidemiol 49:1373), 5-9 proved adequate in simulations (Vittinghoff &
McCulloch 2007, Am J Epidemiol 165:710). With one parameter we take 5 (MIN_VAL_EVENTS), and MIN_VAL_IMAGES
images: on the built-in phantom, 5 errors in 458 validation images pin T to a 95% bootstrap range of 0.24-0.51
(point 0.40), while 0 errors send it to the search bound. A fitted T outside PLAUSIBLE_T (Guo et al. report
1.1-3.6 on their benchmarks) is taken as a failed fit. Either way T stays 1 and the summary says why.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.metrics import log_loss

from core.errors import UserError

T_BOUNDS = (0.05, 20.0)   # search range of the temperature (on log T)
MIN_VAL_IMAGES = 50       # fewer validation images: temperature scaling is not fitted
MIN_VAL_EVENTS = 5        # fewer validation errors (or correct cases): not fitted (events per parameter)
PLAUSIBLE_T = (0.25, 10.0)  # a fitted T outside this is not applied


def _labels_and(labels: Any, values: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated (int labels (N,), float64 values (N, K))."""
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels)
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] < 2:
        raise UserError(f"Expected {name} for at least one case and two classes, got an array of shape {values.shape}.")
    if labels.shape != (len(values),):
        raise UserError(f"The labels (shape {labels.shape}) do not match the {name} (shape {values.shape}).")
    if not np.isfinite(values).all():
        raise UserError(f"The {name} contain NaN or infinite values; the model may have diverged.")
    if not np.isin(labels, np.arange(values.shape[1])).all():
        raise UserError(f"Labels must be class indices from 0 to {values.shape[1] - 1}.")
    return labels.astype(np.int64), values


def reliability_diagram(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Reliability diagram of top-class confidence over `bins` equal-width bins (lower, upper].

    Returns "bins" (list of {lower, upper, count, confidence, accuracy, gap}; confidence, accuracy and gap are
    NaN for an empty bin), "ece", "mce", "n", "accuracy" and "mean_confidence".
    """
    y, p = _labels_and(labels, probabilities, "probabilities")
    if bins < 1:
        raise UserError(f"A reliability diagram needs at least one bin, not {bins}.")
    confidence = p.max(1)
    correct = (p.argmax(1) == y).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=confidence, minlength=bins)
    correct_sum = np.bincount(which, weights=correct, minlength=bins)
    filled = count > 0
    mean_conf = np.where(filled, conf_sum / np.maximum(count, 1), math.nan)
    accuracy = np.where(filled, correct_sum / np.maximum(count, 1), math.nan)
    gap = np.abs(accuracy - mean_conf)
    return {"bins": [{"lower": float(edges[b]), "upper": float(edges[b + 1]), "count": int(count[b]),
                      "confidence": float(mean_conf[b]), "accuracy": float(accuracy[b]), "gap": float(gap[b])}
                     for b in range(bins)],
            "ece": float(np.abs(correct_sum - conf_sum).sum() / len(y)), "mce": float(gap[filled].max()),
            "n": int(len(y)), "accuracy": float(correct.mean()), "mean_confidence": float(confidence.mean())}


def _nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of softmax(logits / T), computed stably from the logits."""
    return float(-log_softmax(logits / temperature, axis=1)[np.arange(len(labels)), labels].mean())


def fit_temperature(logits_val: np.ndarray, labels_val: np.ndarray) -> float:
    """The temperature T > 0 that minimises validation NLL of softmax(logits / T) (Guo et al. 2017, sec. 4.2).

    NLL is convex in 1/T, hence unimodal in log T: a bounded Brent search on log T within `T_BOUNDS` finds the
    optimum. Returns 1.0 when scaling does not lower the validation NLL (or the search fails).
    """
    y, z = _labels_and(labels_val, logits_val, "logits")
    baseline = _nll(z, y, 1.0)
    low, high = np.log(T_BOUNDS)
    result = minimize_scalar(lambda log_t: _nll(z, y, math.exp(log_t)), bounds=(low, high), method="bounded",
                             options={"xatol": 1e-6})
    if not result.success or not math.isfinite(result.fun) or result.fun >= baseline:
        return 1.0
    return float(math.exp(result.x))


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T) as float64 probabilities (N, K)."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise UserError(f"The temperature must be a positive number, not {temperature}.")
    return softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)


def _summary(logits: np.ndarray, labels: np.ndarray, temperature: float, bins: int) -> dict[str, Any]:
    probabilities = apply_temperature(logits, temperature)
    diagram = reliability_diagram(labels, probabilities, bins)
    return {"ece": diagram["ece"], "mce": diagram["mce"], "accuracy": diagram["accuracy"],
            "nll": float(log_loss(labels, probabilities, labels=np.arange(logits.shape[1]))),
            "reliability": diagram}


def supported_temperature(logits_val: np.ndarray, labels_val: np.ndarray) -> tuple[float, float | None, str | None]:
    """(T to apply, T fitted or None when not fitted, why T is not applied or None).

    Not fitted on fewer than MIN_VAL_IMAGES images or fewer than MIN_VAL_EVENTS errors or correct cases; a fit
    outside PLAUSIBLE_T is not applied. T to apply is 1.0 (no scaling) in those cases.
    """
    y, z = _labels_and(labels_val, logits_val, "logits")
    n, errors = len(y), int((z.argmax(1) != y).sum())
    if n < MIN_VAL_IMAGES:
        return 1.0, None, (f"Validation split too small to calibrate ({n} images, fewer than {MIN_VAL_IMAGES}); "
                           "temperature scaling not applied.")
    if min(errors, n - errors) < MIN_VAL_EVENTS:
        which = f"{errors} of its {n} images are misclassified" if errors < MIN_VAL_EVENTS else \
            f"{n - errors} of its {n} images are classified correctly"
        return 1.0, None, (f"Validation split too small to calibrate: only {which} (the fit learns from both "
                           f"and needs at least {MIN_VAL_EVENTS} of each); temperature scaling not applied.")
    fitted = fit_temperature(z, y)
    low, high = PLAUSIBLE_T
    if not low <= fitted <= high:
        return 1.0, fitted, (f"The temperature fitted on the validation split ({n} images) came out at T = "
                             f"{fitted:.3g}, outside the plausible {low:g}-{high:g}, so the fit is not trusted; "
                             "temperature scaling not applied.")
    return fitted, fitted, None


def calibration_summary(logits_val: np.ndarray, labels_val: np.ndarray, logits_test: np.ndarray,
                        labels_test: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Fit T on validation (when it can support it, see `supported_temperature`), then compare the TEST split
    before and after scaling.

    Returns "temperature" (the T applied: 1.0 when not applied), "applied" (bool), "fitted_temperature" (None
    when not fitted), "note" (why not applied, else None), "n_val", "n_test", and "before" / "after" with "ece",
    "mce", "nll" (log loss), "accuracy" (the same in both: scaling keeps the predicted class) and "reliability"
    (`reliability_diagram`); "after" equals "before" when T is not applied.
    """
    temperature, fitted, note = supported_temperature(logits_val, labels_val)
    y, z = _labels_and(labels_test, logits_test, "logits")
    if z.shape[1] != np.shape(logits_val)[1]:
        raise UserError("Validation and test logits have different numbers of classes.")
    return {"temperature": temperature, "applied": note is None, "fitted_temperature": fitted, "note": note,
            "n_val": int(len(labels_val)), "n_test": int(len(y)),
            "before": _summary(z, y, 1.0, bins), "after": _summary(z, y, temperature, bins)}
