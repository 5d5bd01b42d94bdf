from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import (accuracy_score, average_precision_score, balanced_accuracy_score, confusion_matrix,
                             f1_score, hamming_loss, log_loss, multilabel_confusion_matrix, precision_recall_curve,
                             precision_recall_fscore_support, precision_score, recall_score, roc_auc_score,
                             roc_curve)
from sklearn.preprocessing import label_binarize

from core.errors import UserError
from core.evaluate import metrics
from core.evaluate.metrics import (binary_operating_point, bootstrap_ci, multi_label_report, pr_curves, roc_curves,
                                   single_label_report)


def single(n: int, k: int, seed: int = 0, signal: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Fixed (seeded) labels and softmax probabilities of a classifier with some skill."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    logits = rng.normal(size=(n, k)).round(1)   # rounding makes ties, which the AUC/AP code must handle
    logits[np.arange(n), labels] += signal
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return labels, probabilities


def multi(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, k)) < 0.35).astype(int)
    scores = np.clip(0.35 * labels + 0.65 * rng.random((n, k)), 0, 1).round(2)
    return labels, scores


def values(report: dict) -> dict[str, float]:
    return {name: m["value"] for name, m in report["headline"].items()}


def specificity(cm: np.ndarray) -> np.ndarray:
    """TN / (TN + FP) per class, by hand from a confusion matrix (rows = true)."""
    out = []
    for c in range(len(cm)):
        fp = cm[:, c].sum() - cm[c, c]
        tn = cm.sum() - cm[c, :].sum() - cm[:, c].sum() + cm[c, c]
        out.append(tn / (tn + fp))
    return np.array(out)


@pytest.mark.parametrize("k", [2, 3])
def test_single_label_values_equal_sklearn(k: int) -> None:
    y, p = single(90, k, seed=k)
    pred = p.argmax(1)
    report = single_label_report(y, p, [f"c{i}" for i in range(k)], n_bootstrap=20)
    got = values(report)
    cm = confusion_matrix(y, pred)
    spec, support = specificity(cm), np.bincount(y)
    expected = {"accuracy": accuracy_score(y, pred), "balanced_accuracy": balanced_accuracy_score(y, pred),
                "macro_specificity": spec.mean(), "weighted_specificity": (spec * support).sum() / support.sum(),
                "log_loss": log_loss(y, p)}
    for avg in ("macro", "weighted"):
        pr, rc, f1, _ = precision_recall_fscore_support(y, pred, average=avg)
        expected |= {f"{avg}_precision": pr, f"{avg}_recall": rc, f"{avg}_f1": f1}
    if k == 2:
        tn, fp, fn, tp = cm.ravel()
        expected |= {"roc_auc": roc_auc_score(y, p[:, 1]), "average_precision": average_precision_score(y, p[:, 1]),
                     "sensitivity": recall_score(y, pred), "specificity": tn / (tn + fp),
                     "ppv": precision_score(y, pred), "npv": tn / (tn + fn)}
    else:
        expected |= {"roc_auc": roc_auc_score(y, p, multi_class="ovr", average="macro"),
                     "average_precision": average_precision_score(label_binarize(y, classes=range(k)), p)}
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name

    pr, rc, f1, sup = precision_recall_fscore_support(y, pred)
    for c, row in enumerate(report["per_class"]):
        assert row["class"] == f"c{c}" and row["support"] == sup[c]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((pr[c], rc[c], f1[c]))
        assert row["specificity"] == pytest.approx(spec[c])
        assert row["auc"] == pytest.approx(roc_auc_score(y == c, p[:, c]))
        assert row["average_precision"] == pytest.approx(average_precision_score(y == c, p[:, c]))
    assert report["confusion_matrix"] == cm.tolist()
    assert np.allclose(report["confusion_matrix_normalized"], confusion_matrix(y, pred, normalize="true"))
    assert report["n"] == 90 and report["positive_class"] == ("c1" if k == 2 else None)
    json.dumps(report)


def capture_replicates(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    seen: list[np.ndarray] = []
    monkeypatch.setattr(metrics, "_interval", lambda reps, alpha=0.05: (seen.append(reps), (math.nan, math.nan))[1])
    return seen


@pytest.mark.parametrize("k", [2, 3])
def test_single_label_resamples_equal_sklearn_on_the_same_resamples(k: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The vectorised bootstrap computes, on every resample, what scikit-learn computes on the copied arrays."""
    y, p = single(45, k, seed=10 + k)
    seen = capture_replicates(monkeypatch)
    report = single_label_report(y, p, list("abc")[:k], n_bootstrap=25, seed=3)
    replicates = dict(zip(report["headline"], seen))
    rows = np.concatenate(list(metrics._index_chunks(45, 25, 3)))
    ks = list(range(k))
    for b, idx in enumerate(rows):
        yb, pb = y[idx], p[idx]
        pred = pb.argmax(1)
        if k == 2:
            auc, ap = roc_auc_score(yb, pb[:, 1]), average_precision_score(yb, pb[:, 1])
            assert replicates["sensitivity"][b] == pytest.approx(recall_score(yb, pred), abs=1e-12)
            assert replicates["ppv"][b] == pytest.approx(precision_score(yb, pred, zero_division=0), abs=1e-12)
        else:
            auc = roc_auc_score(yb, pb, multi_class="ovr", labels=ks)
            ap = average_precision_score(label_binarize(yb, classes=ks), pb)
        spec = specificity(confusion_matrix(yb, pred, labels=ks))
        expected = {"accuracy": accuracy_score(yb, pred), "balanced_accuracy": balanced_accuracy_score(yb, pred),
                    "macro_specificity": spec.mean(), "log_loss": log_loss(yb, pb, labels=ks),
                    "macro_f1": f1_score(yb, pred, average="macro"), "weighted_f1": f1_score(yb, pred, average="weighted"),
                    "roc_auc": auc, "average_precision": ap}
        for name, value in expected.items():
            assert replicates[name][b] == pytest.approx(value, abs=1e-9), (name, b)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_missing_class_gives_nan_auc_not_an_exception() -> None:
    y, p = single(60, 3, seed=4)
    y = np.where(y == 2, 0, y)    # no case of class 2 in the test set
    report = single_label_report(y, p, ["a", "b", "c"], n_bootstrap=50)
    missing = report["per_class"][2]
    assert missing["support"] == 0
    assert math.isnan(missing["auc"]) and math.isnan(missing["recall"]) and math.isnan(missing["average_precision"])
    assert missing["specificity"] == pytest.approx(specificity(confusion_matrix(y, p.argmax(1), labels=[0, 1, 2]))[2])
    got = values(report)
    auc = [roc_auc_score(y == c, p[:, c]) for c in (0, 1)]
    assert got["roc_auc"] == pytest.approx(np.mean(auc))
    assert got["macro_recall"] == pytest.approx(balanced_accuracy_score(y, p.argmax(1)))
    assert got["macro_f1"] == pytest.approx(f1_score(y, p.argmax(1), labels=[0, 1], average="macro"))
    assert report["headline"]["roc_auc"]["ci_low"] <= got["roc_auc"] <= report["headline"]["roc_auc"]["ci_high"]
    json.dumps(report)


def test_single_class_test_set_does_not_crash() -> None:
    p = np.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1]])
    report = single_label_report(np.zeros(3, int), p, ["neg", "pos"], n_bootstrap=20)
    assert math.isnan(report["headline"]["roc_auc"]["value"])
    assert report["headline"]["accuracy"]["value"] == pytest.approx(2 / 3)


def test_intervals_contain_the_estimate_are_seeded_and_shrink_with_n() -> None:
    small, large = single(100, 3, seed=5), single(2000, 3, seed=5)
    a = single_label_report(*small, ["a", "b", "c"], n_bootstrap=300, seed=1)
    assert a == single_label_report(*small, ["a", "b", "c"], n_bootstrap=300, seed=1)
    assert a["headline"] != single_label_report(*small, ["a", "b", "c"], n_bootstrap=300, seed=2)["headline"]
    b = single_label_report(*large, ["a", "b", "c"], n_bootstrap=300, seed=1)
    for name, m in a["headline"].items():
        assert m["ci_low"] <= m["value"] <= m["ci_high"], name
        wide, narrow = m["ci_high"] - m["ci_low"], b["headline"][name]["ci_high"] - b["headline"][name]["ci_low"]
        assert 0 < narrow < wide / 2, name   # about sqrt(20) narrower


def test_bootstrap_ci_reproduces_the_report_and_skips_undefined_resamples() -> None:
    y, p = single(80, 2, seed=6)
    report = single_label_report(y, p, ["neg", "pos"], n_bootstrap=100, seed=7)
    for name, fn, args in [("log_loss", lambda t, s: log_loss(t, s, labels=[0, 1]), (y, p)),
                           ("roc_auc", lambda t, s: roc_auc_score(t, s[:, 1]), (y, p))]:
        low, high = bootstrap_ci(fn, *args, n_bootstrap=100, seed=7)
        assert (low, high) == pytest.approx((report["headline"][name]["ci_low"], report["headline"][name]["ci_high"]))
    tiny = np.array([0, 0, 0, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4, 0.9])   # many resamples without a positive
    low, high = bootstrap_ci(roc_auc_score, *tiny, n_bootstrap=200, seed=0)
    assert low == high == 1.0
    with pytest.raises(ValueError):
        bootstrap_ci(accuracy_score, np.zeros(3), np.zeros(4))


def test_multi_label_values_equal_sklearn(monkeypatch: pytest.MonkeyPatch) -> None:
    y, s = multi(70, 4, seed=8)
    thresholds = [0.5, 0.4, 0.6, 0.5]
    pred = s >= np.array(thresholds)
    report = multi_label_report(y, s, list("wxyz"), thresholds, n_bootstrap=20)
    mcm = multilabel_confusion_matrix(y, pred)
    spec = mcm[:, 0, 0] / (mcm[:, 0, 0] + mcm[:, 0, 1])
    pr, rc, f1, sup = precision_recall_fscore_support(y, pred)
    expected = {"roc_auc": roc_auc_score(y, s, average="macro"), "average_precision": average_precision_score(y, s),
                "macro_sensitivity": rc.mean(), "macro_precision": pr.mean(),
                "macro_f1": f1_score(y, pred, average="macro"), "macro_specificity": spec.mean(),
                "subset_accuracy": accuracy_score(y, pred), "hamming_loss": hamming_loss(y, pred)}
    assert values(report) == pytest.approx(expected, abs=1e-12)
    for c, row in enumerate(report["per_label"]):
        assert row["support"] == sup[c] and row["threshold"] == thresholds[c]
        assert (row["sensitivity"], row["specificity"], row["precision"], row["f1"]) == pytest.approx(
            (rc[c], spec[c], pr[c], f1[c]))
        assert row["auc"] == pytest.approx(roc_auc_score(y[:, c], s[:, c]))
        assert row["average_precision"] == pytest.approx(average_precision_score(y[:, c], s[:, c]))
    assert report["confusion_matrices"] == mcm.tolist()

    seen = capture_replicates(monkeypatch)
    report = multi_label_report(y, s, list("wxyz"), thresholds, n_bootstrap=15, seed=2)
    replicates = dict(zip(report["headline"], seen))
    for b, idx in enumerate(np.concatenate(list(metrics._index_chunks(70, 15, 2)))):
        yb, sb, pb = y[idx], s[idx], pred[idx]
        assert replicates["roc_auc"][b] == pytest.approx(roc_auc_score(yb, sb))
        assert replicates["average_precision"][b] == pytest.approx(average_precision_score(yb, sb))
        assert replicates["macro_f1"][b] == pytest.approx(f1_score(yb, pb, average="macro"))
        assert replicates["hamming_loss"][b] == pytest.approx(hamming_loss(yb, pb))


def test_multi_label_label_without_positives_is_nan() -> None:
    y, s = multi(50, 3, seed=9)
    y[:, 1] = 0
    report = multi_label_report(y, s, ["a", "b", "c"], [0.5] * 3, n_bootstrap=50)
    row = report["per_label"][1]
    assert math.isnan(row["auc"]) and math.isnan(row["sensitivity"]) and math.isnan(row["average_precision"])
    assert report["headline"]["roc_auc"]["value"] == pytest.approx(
        np.mean([roc_auc_score(y[:, c], s[:, c]) for c in (0, 2)]))
    json.dumps(report)


def test_binary_operating_point_counts() -> None:
    labels = np.array([0, 0, 1, 1, 1, 0])
    scores = np.array([0.0, 0.2, 0.5, 0.9, 1.0, 0.7])
    at0, at_half, at1 = (binary_operating_point(labels, scores, t) for t in (0.0, 0.5, 1.0))
    assert (at0["tp"], at0["fp"], at0["tn"], at0["fn"]) == (3, 3, 0, 0)
    assert at0["sensitivity"] == 1 and at0["specificity"] == 0 and math.isnan(at0["npv"])
    assert at_half["confusion_matrix"] == [[2, 1], [0, 3]]
    assert at_half["confusion_matrix"] == confusion_matrix(labels, scores >= 0.5).tolist()
    assert (at_half["ppv"], at_half["npv"], at_half["accuracy"], at_half["f1"]) == pytest.approx(
        (0.75, 1.0, 5 / 6, f1_score(labels, scores >= 0.5)))
    assert (at1["tp"], at1["fp"], at1["tn"], at1["fn"]) == (1, 0, 3, 2)
    assert at1["ppv"] == 1 and at1["sensitivity"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_curves_match_sklearn_and_are_finite(kind: str) -> None:
    if kind == "multilabel":
        y, p = multi(60, 3, seed=11)
        columns = y.T
    else:
        y, p = single(60, 2 if kind == "binary" else 3, seed=11)
        columns = [y == c for c in range(p.shape[1])]
    names = [f"c{i}" for i in range(p.shape[1])]
    roc, pr = roc_curves(y, p, names), pr_curves(y, p, names)
    json.dumps([roc, pr], allow_nan=False)   # no inf, no NaN
    for c, (name, truth) in enumerate(zip(names, columns)):
        fpr, tpr, thr = roc_curve(truth, p[:, c])
        assert roc[name]["fpr"] == fpr.tolist() and roc[name]["tpr"] == tpr.tolist()
        assert roc[name]["thresholds"][1:] == thr[1:].tolist() and roc[name]["thresholds"][0] > p[:, c].max()
        assert roc[name]["auc"] == pytest.approx(roc_auc_score(truth, p[:, c]))
        precision, recall, thr = precision_recall_curve(truth, p[:, c], drop_intermediate=True)
        assert pr[name]["precision"] == precision.tolist() and pr[name]["recall"] == recall.tolist()
        assert pr[name]["thresholds"][:-1] == thr.tolist() and pr[name]["thresholds"][-1] > p[:, c].max()
        assert pr[name]["average_precision"] == pytest.approx(average_precision_score(truth, p[:, c]))


def test_curves_of_a_missing_class_are_empty() -> None:
    y, p = single(30, 3, seed=12)
    y = np.where(y == 1, 0, y)
    roc, pr = roc_curves(y, p, list("abc")), pr_curves(y, p, list("abc"))
    assert roc["b"]["fpr"] == [] and math.isnan(roc["b"]["auc"])
    assert pr["b"]["precision"] == [] and math.isnan(pr["b"]["average_precision"]) and pr["b"]["prevalence"] == 0


def test_bad_inputs_are_user_errors() -> None:
    y, p = single(10, 3)
    with pytest.raises(UserError, match="sum to 1"):
        single_label_report(y, p * 2 / 3, list("abc"))
    with pytest.raises(UserError, match="do not match"):
        single_label_report(y[:5], p, list("abc"))
    with pytest.raises(UserError, match="class indices"):
        single_label_report(y + 1, p, list("abc"))
    with pytest.raises(UserError, match="threshold"):
        multi_label_report(*multi(10, 3), list("abc"), [0.5, 0.5])
    with pytest.raises(UserError):
        single_label_report(np.zeros(0, int), np.zeros((0, 3)), list("abc"))
