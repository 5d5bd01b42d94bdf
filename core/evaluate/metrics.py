"""Test-set metrics with 95% confidence intervals, for single- and multi-label classifiers.

Point estimates are scikit-learn's. Proportions (accuracy, sensitivity, specificity, PPV, NPV, subset accuracy)
get a binomial interval, Wilson or Clopper-Pearson, and balanced accuracy a MOVER interval of those (intervals.py):
a bootstrap of 6/6 correct cases can only say [1, 1]. Every other metric (AUC, average precision, F1, averaged
precision, log loss) gets Efron's percentile bootstrap (Efron & Tibshirani 1993, "An Introduction to the
Bootstrap", ch. 13): test cases are resampled with replacement and resamples where a metric is undefined are
skipped. Each headline entry names its "method". A resample is kept as a vector of case counts, so the confusion
matrices, log loss, ROC-AUC (Mann-Whitney statistic with ties) and average precision of all resamples are a few
matrix products instead of thousands of scikit-learn calls; tests check them against scikit-learn on real
resamples. Averages over classes use the classes present in the test set (an absent class has no sensitivity or
AUC).
"""
from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (accuracy_score, average_precision_score, balanced_accuracy_score, confusion_matrix,
                             hamming_loss, log_loss, multilabel_confusion_matrix, precision_recall_curve,
                             precision_recall_fscore_support, roc_auc_score, roc_curve)

from core.errors import UserError
from core.evaluate.intervals import DEFAULT_CI_METHOD, mean_entry, proportion_entry

ALPHA = 0.05         # 95% intervals
MIN_DEFINED = 0.5    # an interval needs the metric defined in at least half of the resamples, else NaN
_CHUNK = 4_000_000   # resamples x cases held in memory at once
NAN = math.nan
_BINARY = {"sensitivity": ("recall", 1), "specificity": ("specificity", 1), "ppv": ("precision", 1),
           "npv": ("precision", 0)}   # headline rates of the positive class (index 1) when K == 2


# --- bootstrap ---------------------------------------------------------------------------------------------
def _index_chunks(n: int, n_bootstrap: int, seed: int) -> Iterator[np.ndarray]:
    """Rows of resampled case indices, in chunks; the same (n, n_bootstrap, seed) always gives the same rows."""
    rng = np.random.default_rng(seed)
    step = max(1, _CHUNK // max(n, 1))
    for start in range(0, n_bootstrap, step):
        yield rng.integers(0, n, size=(min(step, n_bootstrap - start), n))


def _interval(replicates: np.ndarray, alpha: float = ALPHA) -> tuple[float, float]:
    """Percentile interval of the finite replicates (NaN when too few resamples define the metric)."""
    defined = replicates[np.isfinite(replicates)]
    if not len(replicates) or len(defined) < MIN_DEFINED * len(replicates):
        return NAN, NAN
    low, high = np.percentile(defined, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def bootstrap_ci(metric_fn: Callable[..., float], *arrays: np.ndarray, n_bootstrap: int = 1000, seed: int = 0,
                 alpha: float = ALPHA) -> tuple[float, float]:
    """Percentile-bootstrap (Efron) interval of `metric_fn(*arrays)`, resampling rows of all arrays together.

    Resamples where the metric raises ValueError or is not finite are skipped. Uses the same resamples as the
    reports for the same seed and number of cases, so it reproduces their intervals for the same metric.
    """
    arrays = tuple(np.asarray(a) for a in arrays)
    n = len(arrays[0])
    if n == 0 or any(len(a) != n for a in arrays):
        raise ValueError("bootstrap_ci needs non-empty arrays with the same number of rows")
    values = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for chunk in _index_chunks(n, n_bootstrap, seed):
            for rows in chunk:
                try:
                    values.append(float(metric_fn(*(a[rows] for a in arrays))))
                except ValueError:
                    values.append(NAN)
    return _interval(np.asarray(values, dtype=float), alpha)


def _div(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    """num / den elementwise, `empty` where den == 0."""
    num, den = np.broadcast_arrays(np.asarray(num, float), np.asarray(den, float))
    out = np.full(num.shape, empty)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _weighted_auc_ap(weights_t: np.ndarray, positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC and average precision of one binary problem under each column of case weights (n, b).

    AUC is the Mann-Whitney P(score_pos > score_neg) + P(tie) / 2, equal to the trapezoidal area under
    scikit-learn's ROC curve; AP is the mean over positives of the precision at their score (cases scoring at
    least as high), which is `average_precision_score`. NaN where a resample has no positive (AUC, AP) or no
    negative (AUC).
    """
    pos_order, neg_order = (np.flatnonzero(m)[np.argsort(scores[m], kind="stable")] for m in (positive, ~positive))
    sp, sn = scores[pos_order], scores[neg_order]
    cum_p, cum_n = (np.concatenate([np.zeros((1, weights_t.shape[1])), np.cumsum(weights_t[o], axis=0)])
                    for o in (pos_order, neg_order))
    n_pos, n_neg = cum_p[-1], cum_n[-1]
    wp = weights_t[pos_order]
    below, upto = cum_n[np.searchsorted(sn, sp, "left")], cum_n[np.searchsorted(sn, sp, "right")]
    auc = _div((wp * (below + upto)).sum(0) / 2, n_pos * n_neg, NAN)
    tp, fp = n_pos - cum_p[np.searchsorted(sp, sp, "left")], n_neg - below
    ap = _div((wp * _div(tp, tp + fp, 0.0)).sum(0), n_pos, NAN)
    return auc, ap


def _rates(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class rates from one-vs-rest counts; precision and F1 are 0 where 0/0 (scikit-learn zero_division=0)."""
    return {"precision": _div(tp, tp + fp, 0.0), "recall": _div(tp, tp + fn, NAN),
            "specificity": _div(tn, tn + fp, NAN), "f1": _div(2 * tp, 2 * tp + fp + fn, 0.0)}


# --- input checks ------------------------------------------------------------------------------------------
def _check(labels: Any, probabilities: Any, classes: list[str], multilabel: bool) -> tuple[np.ndarray, np.ndarray]:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    k = len(classes)
    if probabilities.ndim != 2 or probabilities.shape[1] != k or len(probabilities) == 0:
        raise UserError(f"Expected predicted probabilities for at least one case and {k} classes, "
                        f"got an array of shape {probabilities.shape}.")
    if labels.shape != ((len(probabilities), k) if multilabel else (len(probabilities),)):
        raise UserError(f"The test labels (shape {labels.shape}) do not match the predictions "
                        f"(shape {probabilities.shape}).")
    if not np.isfinite(probabilities).all() or probabilities.min() < 0 or probabilities.max() > 1:
        raise UserError("Predicted probabilities must be finite numbers between 0 and 1.")
    if multilabel:
        if not np.isin(labels, (0, 1)).all():
            raise UserError("Multi-label test labels must be 0 or 1.")
        return labels.astype(bool), probabilities
    if not np.isin(labels, np.arange(k)).all():
        raise UserError(f"Test labels must be class indices from 0 to {k - 1}.")
    if np.abs(probabilities.sum(1) - 1).max() > 1e-3:
        raise UserError("Predicted class probabilities of each case must sum to 1 (apply softmax to the logits).")
    return labels.astype(np.int64), probabilities


# --- single-label ------------------------------------------------------------------------------------------
def _macro(values: np.ndarray, mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(Weighted) mean over the classes in `mask` along the last axis; NaN when the mask is empty."""
    if not mask.any():
        return np.full(values.shape[:-1], NAN)
    if weights is None:
        return values[..., mask].mean(-1)
    return _div((values * weights)[..., mask].sum(-1), weights[..., mask].sum(-1), NAN)


def _stack(values: list[np.ndarray | float]) -> np.ndarray:
    """Per-class (b,) arrays or NaN placeholders -> (b, K)."""
    return np.stack(np.broadcast_arrays(*values), -1)


def _cm_rates(cm: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One-vs-rest rates and support from confusion matrices (..., K, K), rows = true class."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support, predicted = cm.sum(-1), cm.sum(-2)
    fp, fn = predicted - tp, support - tp
    return _rates(tp, fp, fn, cm.sum((-2, -1))[..., None] - tp - fp - fn), support


def _report(point: dict[str, float], n: int, n_bootstrap: int, seed: int,
            resample: Callable[[np.ndarray], dict[str, np.ndarray]]) -> dict[str, Any]:
    """Headline values with intervals; resample(counts) -> metric -> (b,) values, where counts (n, b) says how
    often each case was drawn into each of b resamples (those of `_index_chunks`)."""
    parts: dict[str, list[np.ndarray]] = {}
    with np.errstate(all="ignore"):
        for idx in _index_chunks(n, n_bootstrap, seed):
            counts = np.bincount((idx * len(idx) + np.arange(len(idx))[:, None]).ravel(), minlength=n * len(idx))
            for name, values in resample(counts.reshape(n, len(idx)).astype(np.float64)).items():
                parts.setdefault(name, []).append(values)
    intervals = {name: _interval(np.concatenate(parts[name])) for name in point}
    return {"headline": {name: {"value": float(value), "ci_low": intervals[name][0], "ci_high": intervals[name][1],
                                "method": "bootstrap"} for name, value in point.items()},
            "bootstrap": {"method": "percentile", "n_resamples": int(n_bootstrap), "seed": int(seed),
                          "confidence": 1 - ALPHA}}


def single_label_report(labels: np.ndarray, probabilities: np.ndarray, classes: list[str], *,
                        n_bootstrap: int = 1000, seed: int = 0, ci_method: str = DEFAULT_CI_METHOD) -> dict[str, Any]:
    """The test report of a single-label classifier; the predicted class is the most probable one.

    Returns "headline" (metric -> {"value", "ci_low", "ci_high", "method"}: accuracy, balanced_accuracy,
    macro_/weighted_ precision, recall, specificity, f1, roc_auc, average_precision, log_loss), "per_class"
    (class, support, precision, recall, specificity, f1, auc, average_precision), "confusion_matrix" (rows =
    true), "confusion_matrix_normalized", "n", "classes", "positive_class" (K == 2, else None), "bootstrap".
    For two classes roc_auc and average_precision are those of the positive class (index 1), and the headline
    adds its sensitivity, specificity, ppv and npv (macro recall = macro specificity = balanced accuracy then).
    Proportions get `ci_method` ("wilson" or "clopper-pearson") intervals and keep their "successes" and
    "trials"; balanced accuracy (= macro recall) a MOVER interval with its per-class "components"; weighted
    recall equals accuracy and gets its interval; the rest the bootstrap.
    """
    y, p = _check(labels, probabilities, classes, multilabel=False)
    n, k = p.shape
    pred, ks = p.argmax(1), np.arange(k)
    cm = confusion_matrix(y, pred, labels=ks)
    rates, support = _cm_rates(cm.astype(float))
    present, onehot = support > 0, y[:, None] == ks
    normalized = p / p.sum(1, keepdims=True)   # for log loss only: float32 softmax sums are off by ~1e-7
    auc_mask = ks == 1 if k == 2 else present & (support < n)
    ap_mask = ks == 1 if k == 2 else present
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")   # a class absent from the test set
        precision, recall, f1, _ = precision_recall_fscore_support(y, pred, labels=ks, average=None, zero_division=0)
        auc = np.array([roc_auc_score(onehot[:, c], p[:, c]) if 0 < support[c] < n else NAN for c in ks])
        ap = np.array([average_precision_score(onehot[:, c], p[:, c]) if support[c] else NAN for c in ks])
        point = {"accuracy": accuracy_score(y, pred), "balanced_accuracy": balanced_accuracy_score(y, pred)}
        for avg in ("macro", "weighted"):
            pr, rc, f, _ = precision_recall_fscore_support(y, pred, labels=ks[present], average=avg, zero_division=0)
            point |= {f"{avg}_precision": pr, f"{avg}_recall": rc, f"{avg}_f1": f, f"{avg}_specificity":
                      _macro(rates["specificity"], present, support if avg == "weighted" else None)}
    per = {"precision": precision, "recall": np.where(present, recall, NAN), "specificity": rates["specificity"]}
    point |= {name: per[rate][c] for name, (rate, c) in _BINARY.items() if k == 2}
    point |= {"roc_auc": _macro(auc, auc_mask), "average_precision": _macro(ap, ap_mask),
              "log_loss": log_loss(y, normalized, labels=ks)}
    cells = np.zeros((n, k * k))
    cells[np.arange(n), y * k + pred] = 1
    correct = (y == pred).astype(float)
    eps = np.finfo(np.float64).eps   # log_loss clips like this
    loss = -np.log(np.clip(normalized[np.arange(n), y], eps, 1 - eps))

    def resample(wt: np.ndarray) -> dict[str, np.ndarray]:
        w = wt.T
        r, sup = _cm_rates((w @ cells).reshape(-1, k, k))
        drawn = (sup[:, present] > 0).all(1)   # else a class of the test set is missing: skip the resample
        values = {f"{avg}_{name}": np.where(drawn, _macro(v, present, sup if avg == "weighted" else None), NAN)
                  for name, v in r.items() for avg in ("macro", "weighted")}
        ranked = [_weighted_auc_ap(wt, onehot[:, c], p[:, c]) if auc_mask[c] or ap_mask[c] else (NAN, NAN)
                  for c in ks]
        values |= {name: r[rate][:, c] for name, (rate, c) in _BINARY.items() if k == 2}
        return values | {"balanced_accuracy": values["macro_recall"], "accuracy": w @ correct / n,
                         "log_loss": w @ loss / n, "roc_auc": _macro(_stack([a for a, _ in ranked]), auc_mask),
                         "average_precision": _macro(_stack([a for _, a in ranked]), ap_mask)}

    per_class = [{"class": classes[c], "support": int(support[c]),
                  "precision": float(precision[c]) if present[c] or cm[:, c].any() else NAN,
                  "recall": float(recall[c]) if present[c] else NAN, "specificity": float(rates["specificity"][c]),
                  "f1": float(f1[c]) if present[c] else NAN, "auc": float(auc[c]),
                  "average_precision": float(ap[c])} for c in ks]
    report = _report({m: float(v) for m, v in point.items()}, n, n_bootstrap, seed, resample)
    headline = report["headline"]
    correct_count = int(np.trace(cm))
    for name in ("accuracy", "weighted_recall"):   # weighted recall over the present classes is accuracy
        headline[name] = proportion_entry(point[name], correct_count, n, ci_method)
    recalls = [(int(cm[c, c]), int(support[c])) for c in ks if present[c]]
    for name in ("balanced_accuracy", "macro_recall") + (("macro_specificity",) if k == 2 and present.all() else ()):
        headline[name] = mean_entry(point[name], recalls, ci_method)   # K == 2: macro specificity is the same mean
    if k == 2:
        (tn, fp), (fn, tp) = cm.tolist()
        for name, (hits, total) in {"sensitivity": (tp, tp + fn), "specificity": (tn, tn + fp),
                                    "ppv": (tp, tp + fp), "npv": (tn, tn + fn)}.items():
            headline[name] = proportion_entry(point[name], hits, total, ci_method)
    return {**report, "ci_method": ci_method, "per_class": per_class, "confusion_matrix": cm.tolist(),
            "confusion_matrix_normalized": _div(cm, cm.sum(1, keepdims=True), NAN).tolist(),
            "n": int(n), "classes": list(classes), "positive_class": classes[1] if k == 2 else None}


# --- multi-label -------------------------------------------------------------------------------------------
def multi_label_report(labels: np.ndarray, probabilities: np.ndarray, classes: list[str], thresholds: list[float],
                       *, n_bootstrap: int = 1000, seed: int = 0, ci_method: str = DEFAULT_CI_METHOD) -> dict[str, Any]:
    """The test report of a multi-label classifier; label k is predicted when probability >= thresholds[k].

    Returns "headline" (metric -> {"value", "ci_low", "ci_high", "method"}: roc_auc (macro over labels with
    positives and negatives), average_precision, macro_sensitivity, macro_precision, macro_f1 (labels with positives),
    macro_specificity (labels with negatives), subset_accuracy, hamming_loss), "per_label" (label, threshold,
    support, prevalence, sensitivity, specificity, precision, f1, auc, average_precision), "confusion_matrices"
    (per label [[tn, fp], [fn, tp]]), "n", "classes" and "bootstrap". Subset accuracy, a proportion of cases,
    gets a `ci_method` interval; the label averages (labels share cases, so they are not independent) and
    Hamming loss (label errors of one case are not independent) keep the bootstrap.
    """
    y, p = _check(labels, probabilities, classes, multilabel=True)
    n, k = p.shape
    thr = np.asarray(thresholds, dtype=float)
    if thr.shape != (k,) or not np.isfinite(thr).all():
        raise UserError(f"Give one finite decision threshold per label ({k}), not {list(thresholds)}.")
    pred, support = p >= thr, y.sum(0)
    has_pos, has_neg = support > 0, support < n
    both = has_pos & has_neg
    mcm = multilabel_confusion_matrix(y, pred)   # (k, 2, 2): [[tn, fp], [fn, tp]]
    specificity = _rates(mcm[:, 1, 1], mcm[:, 0, 1], mcm[:, 1, 0], mcm[:, 0, 0])["specificity"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        precision, sensitivity, f1, _ = precision_recall_fscore_support(y, pred, average=None, zero_division=0)
        auc = np.array([roc_auc_score(y[:, c], p[:, c]) if both[c] else NAN for c in range(k)])
        ap = np.array([average_precision_score(y[:, c], p[:, c]) if has_pos[c] else NAN for c in range(k)])
    point = {"roc_auc": _macro(auc, both), "average_precision": _macro(ap, has_pos),
             "macro_sensitivity": _macro(sensitivity, has_pos), "macro_precision": _macro(precision, has_pos),
             "macro_f1": _macro(f1, has_pos), "macro_specificity": _macro(specificity, has_neg),
             "subset_accuracy": accuracy_score(y, pred), "hamming_loss": hamming_loss(y, pred)}
    cells = np.concatenate([y & pred, ~y & pred, y & ~pred, ~y & ~pred], axis=1).astype(float)
    exact, wrong = (y == pred).all(1).astype(float), (y != pred).mean(1)

    def resample(wt: np.ndarray) -> dict[str, np.ndarray]:
        w = wt.T
        r = _rates(*np.split(w @ cells, 4, axis=1))
        drawn = ((w @ y.astype(float))[:, has_pos] > 0).all(1)   # else a label lost all positives: skip
        ranked = [_weighted_auc_ap(wt, y[:, c], p[:, c]) if has_pos[c] else (NAN, NAN) for c in range(k)]
        return {"roc_auc": _macro(_stack([a for a, _ in ranked]), both),
                "average_precision": _macro(_stack([a for _, a in ranked]), has_pos),
                "macro_sensitivity": _macro(r["recall"], has_pos),
                "macro_precision": np.where(drawn, _macro(r["precision"], has_pos), NAN),
                "macro_f1": np.where(drawn, _macro(r["f1"], has_pos), NAN),
                "macro_specificity": _macro(r["specificity"], has_neg),
                "subset_accuracy": w @ exact / n, "hamming_loss": w @ wrong / n}

    per_label = [{"label": classes[c], "threshold": float(thr[c]), "support": int(support[c]),
                  "prevalence": float(support[c] / n), "sensitivity": float(sensitivity[c]) if has_pos[c] else NAN,
                  "specificity": float(specificity[c]),
                  "precision": float(precision[c]) if has_pos[c] or pred[:, c].any() else NAN,
                  "f1": float(f1[c]) if has_pos[c] else NAN, "auc": float(auc[c]),
                  "average_precision": float(ap[c])} for c in range(k)]
    report = _report({m: float(v) for m, v in point.items()}, n, n_bootstrap, seed, resample)
    report["headline"]["subset_accuracy"] = proportion_entry(point["subset_accuracy"], int(exact.sum()), n, ci_method)
    return {**report, "ci_method": ci_method, "per_label": per_label, "confusion_matrices": mcm.tolist(),
            "n": int(n), "classes": list(classes)}


# --- operating point and curves ----------------------------------------------------------------------------
NO_FINDING_WORDS = frozenset({"normal", "healthy", "negative", "benign", "control", "controls", "unremarkable",
                              "absent"})


def names_no_finding(name: str) -> bool:
    """Whether a class name reads as the absence of disease: it starts with "normal", "healthy", "benign",
    "negative", "control", ... ("Normal tissue") or with a negation ("No Finding", "no_tumor", "non-malignant").
    Judged by the first word, so "abnormal" and "triple negative" are findings."""
    words = re.findall(r"[a-z]+", name.lower())
    return bool(words) and (words[0] in NO_FINDING_WORDS or words[0] in ("no", "non", "not", "without"))


def default_positive_class(classes: list[str]) -> str:
    """The class a clinician would call positive in a two-class task: the only one whose name does not read as
    "no finding" (normal, healthy, negative, benign, ...), else the second class (scikit-learn's pos_label=1)."""
    if len(classes) != 2:
        raise UserError(f"A positive class needs exactly two classes, not {len(classes)}.")
    findings = [c for c in classes if not names_no_finding(c)]
    return findings[0] if len(findings) == 1 else classes[1]


def binary_operating_point(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Counts and rates when a case is called positive at score >= threshold (scikit-learn's ROC convention).

    Returns threshold, n, tp, fp, tn, fn, sensitivity, specificity, ppv, npv, accuracy, f1 (NaN where 0/0) and
    "confusion_matrix" [[tn, fp], [fn, tp]] (rows = true negative, true positive). Plain numpy: slider-fast.
    """
    y = np.asarray(labels).astype(bool)
    called = np.asarray(scores, dtype=float) >= threshold
    n = len(y)
    tp = int(np.count_nonzero(called & y))
    fp, fn = int(np.count_nonzero(called)) - tp, int(np.count_nonzero(y)) - tp
    tn = n - tp - fp - fn
    ratio = lambda a, b: a / b if b else NAN  # noqa: E731
    return {"threshold": float(threshold), "n": n, "tp": tp, "fp": fp, "tn": tn, "fn": fn,
            "sensitivity": ratio(tp, tp + fn), "specificity": ratio(tn, tn + fp), "ppv": ratio(tp, tp + fp),
            "npv": ratio(tn, tn + fn), "accuracy": ratio(tp + tn, n), "f1": ratio(2 * tp, 2 * tp + fp + fn),
            "confusion_matrix": [[tn, fp], [fn, tp]]}


def _one_vs_rest(labels: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    multilabel = np.ndim(labels) == 2
    y, p = _check(labels, probabilities, classes, multilabel)
    return (y if multilabel else y[:, None] == np.arange(len(classes))), p


def _finite(thresholds: np.ndarray | None, scores: np.ndarray) -> list[float]:
    """Thresholds with scikit-learn's +inf ("call nothing positive") replaced by a finite value above every score."""
    above = 1.0 if scores.max() < 1.0 else float(np.nextafter(scores.max(), np.inf))
    return [] if thresholds is None else np.where(np.isfinite(thresholds), thresholds, above).tolist()


def roc_curves(labels: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict[str, dict[str, Any]]:
    """One-vs-rest ROC curve per class: {"fpr", "tpr", "thresholds", "auc"}; labels (N,) indices or (N, K) 0/1.

    A class without positives or negatives in `labels` gets empty lists and NaN AUC.
    """
    y, p = _one_vs_rest(labels, probabilities, classes)
    out = {}
    for c, name in enumerate(classes):
        defined = 0 < y[:, c].sum() < len(y)
        fpr, tpr, thr = roc_curve(y[:, c], p[:, c]) if defined else (np.array([]), np.array([]), None)
        out[name] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": _finite(thr, p[:, c]),
                     "auc": float(roc_auc_score(y[:, c], p[:, c])) if defined else NAN}
    return out


def pr_curves(labels: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict[str, dict[str, Any]]:
    """One-vs-rest precision-recall curve per class: {"precision", "recall", "thresholds", "average_precision",
    "prevalence"}. The three lists have equal length: the last point (recall 0, precision 1) gets a threshold
    above every score. A class without positives gets empty lists and NaN average precision.
    """
    y, p = _one_vs_rest(labels, probabilities, classes)
    out = {}
    for c, name in enumerate(classes):
        defined = bool(y[:, c].any())
        precision, recall, thr = (precision_recall_curve(y[:, c], p[:, c], drop_intermediate=True) if defined
                                  else (np.array([]), np.array([]), None))
        out[name] = {"precision": precision.tolist(), "recall": recall.tolist(),
                     "thresholds": _finite(None if thr is None else np.r_[thr, np.inf], p[:, c]),
                     "average_precision": float(average_precision_score(y[:, c], p[:, c])) if defined else NAN,
                     "prevalence": float(y[:, c].mean())}
    return out
