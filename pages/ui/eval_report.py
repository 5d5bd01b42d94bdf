"""The Evaluate page's report tab: metrics with confidence intervals, a confusion matrix whose cells show their
images (click a cell, or pick it from the drop-downs), ROC and precision-recall curves, a threshold slider with a
chosen positive class for binary tasks, calibration and the top losses."""
from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core.data.store import Dataset
from core.evaluate.calibration import apply_temperature
from core.evaluate.intervals import CI_METHODS, DEFAULT_CI_METHOD, METHOD_TEXT, proportion_ci, with_ci_method
from core.evaluate.metrics import binary_operating_point, default_positive_class, names_no_finding
from core.evaluate.report import load_predictions, report_warnings
from pages.ui.eval_figures import cell_of_point, confusion_figure, pr_figure, reliability_figure, roc_figure
from pages.ui.eval_sequence import clip_thumbnail
from pages.ui.images import display_image

GALLERY_COLUMNS = 6
CELL_IMAGES = 16     # thumbnails shown for a confusion-matrix cell (four rows of four)
SWAPPED = {"sensitivity": "specificity", "specificity": "sensitivity", "ppv": "npv", "npv": "ppv"}
NUMBER = st.column_config.NumberColumn(format="%.4f")   # sized to the header, so "95% CI high" reads whole


def render_report(report: dict[str, Any], dataset: Dataset, folder, key: str) -> None:
    metrics = report["metrics"]
    classes = report["classes"]
    for warning in report_warnings(report):  # before any number, so none is read without it
        st.warning(warning, icon="⚠️")
    unit = "clips" if dataset.info.is_sequence else "images"
    st.markdown(f"**Held-out test split: {report['n_test']} {unit}**, best epoch's weights; 95% confidence "
                "intervals, each with its method.")
    binary = report["task"] != "multilabel" and len(classes) == 2
    left, right = st.columns([2, 3])
    method = left.radio("Intervals for proportions", list(CI_METHODS), horizontal=True, key=f"{key}-ci",
                        index=list(CI_METHODS).index(metrics.get("ci_method", DEFAULT_CI_METHOD)),
                        format_func=lambda m: METHOD_TEXT[m])
    positive = _positive_class(classes, left, key) if binary else None
    right.caption("Accuracy, sensitivity, specificity, PPV and NPV are proportions: Wilson's score interval, or "
                  "Clopper-Pearson's exact one (wider, never below 95% coverage). Balanced accuracy combines the "
                  "per-class intervals (MOVER, Zou & Donner 2008). AUC, F1 and the rest: percentile bootstrap.")
    headline = with_ci_method(metrics["headline"], method)
    st.dataframe(_headline_table(headline, classes, positive), hide_index=True, width="stretch", height="content",
                 column_config={"metric": st.column_config.TextColumn(width="medium"), "value": NUMBER,
                                "95% CI low": NUMBER, "95% CI high": NUMBER,
                                "CI method": st.column_config.TextColumn(width="large")})
    per_class = pd.DataFrame(metrics["per_label"] if report["task"] == "multilabel" else metrics["per_class"])
    per_class.columns = [str(c).replace("_", " ") for c in per_class.columns]
    st.dataframe(per_class, hide_index=True, width="stretch",
                 column_config={c: NUMBER for c in per_class.columns if per_class[c].dtype.kind == "f"})
    if report["task"] == "multilabel":
        _curves(report, None, None)
        return
    predictions = load_predictions(folder)
    _confusion(metrics, predictions, classes, dataset, key)
    if binary:
        scores = apply_temperature(predictions["logits"], float(report.get("temperature") or 1.0))
        index = classes.index(positive)
        labels, scores = predictions["labels"] == index, scores[:, index]
        threshold = st.session_state.get(f"{key}-threshold-{positive}", 0.5)   # the slider below, as last set
        point = binary_operating_point(labels, scores, threshold)
        _curves(report, positive, {"class": positive, "threshold": threshold, "tpr": point["sensitivity"],
                                   "fpr": 1 - point["specificity"]})
        _threshold(labels, scores, classes, positive, key, method)
    else:
        _curves(report, None, None)
    _calibration(report["calibration"])
    _top_losses(report["top_losses"], dataset)


def _positive_class(classes: list[str], column, key: str) -> str:
    """The class called positive (sensitivity, PPV, ROC, threshold): by default the finding, not "normal"."""
    default = default_positive_class(classes)
    positive = column.radio("Positive class", classes, index=classes.index(default), horizontal=True,
                            key=f"{key}-positive",
                            help="Sensitivity, PPV, the curves and the decision threshold are about this class.")
    other = classes[1 - classes.index(default)]
    column.caption(f"Default '{default}': " + ("the class that is not a normal finding." if names_no_finding(other)
                                               and not names_no_finding(default)
                                               else "the second class (neither name reads as a normal finding)."))
    return positive


def _headline_table(headline: dict[str, Any], classes: list[str], positive: str | None) -> pd.DataFrame:
    """Headline metrics; for two classes the stored rates are of the second class, so with the first class
    positive sensitivity and specificity (and PPV and NPV) trade places, which is exact: they are the same
    counts seen from the other side. Each binary rate names its positive class."""
    swap = positive is not None and positive == classes[0]
    rows = []
    for name in headline:
        value = headline[SWAPPED[name]] if swap and name in SWAPPED else headline[name]
        if not isinstance(value, dict):
            continue
        label = name.replace("_", " ")
        if positive is not None and name in SWAPPED:
            label += f" ('{positive}' positive)"
        elif positive is not None and name == "average_precision":
            label += f" (of '{classes[1]}')"
        rows.append({"metric": label, "value": value["value"], "95% CI low": value["ci_low"],
                     "95% CI high": value["ci_high"],
                     "CI method": METHOD_TEXT.get(value.get("method", "bootstrap"), value.get("method"))
                     + (f" ({value['successes']}/{value['trials']})" if "trials" in value else "")})
    return pd.DataFrame(rows).round(4)


def _pick_cell(chart_key: str, true_key: str, predicted_key: str, classes: list[str]) -> None:
    """A click on the confusion matrix (a selection event) sets both drop-downs, before they are drawn."""
    state = st.session_state.get(chart_key)
    points = state["selection"]["points"] if state and state.get("selection") else []
    cell = cell_of_point(points[0], classes) if points else None
    if cell:
        st.session_state[true_key], st.session_state[predicted_key] = cell


def _confusion(metrics: dict, predictions: dict, classes: list[str], dataset: Dataset, key: str) -> None:
    left, right = st.columns([3, 2])
    normalised = left.toggle("Normalise rows (recall per class)", key=f"{key}-normalise")
    matrix = np.asarray(metrics["confusion_matrix_normalized" if normalised else "confusion_matrix"], dtype=float)
    true_key, predicted_key, chart_key = f"{key}-true", f"{key}-pred", f"{key}-confusion"
    for cell_key in (true_key, predicted_key):
        if st.session_state.get(cell_key) not in classes:
            st.session_state[cell_key] = classes[0]
    chosen = (st.session_state[true_key], st.session_state[predicted_key])
    left.plotly_chart(confusion_figure(matrix, classes, chosen, normalised), width="stretch", key=chart_key,
                      on_select=partial(_pick_cell, chart_key, true_key, predicted_key, classes),
                      selection_mode="points")
    with right:
        st.markdown("**Images in a cell**")
        st.caption("Click a cell of the matrix, or choose it here.")
        true = st.selectbox("True class", classes, key=true_key)
        predicted = st.selectbox("Predicted class", classes, key=predicted_key)
        labels, chosen_class = predictions["labels"], predictions["logits"].argmax(1)
        cell = predictions["indices"][(labels == classes.index(true)) & (chosen_class == classes.index(predicted))]
        with st.container(key=f"{key}-cell-images"):
            shown = f" (the first {CELL_IMAGES} shown)" if len(cell) > CELL_IMAGES else ""
            unit = "clip" if dataset.info.is_sequence else "image"
            st.caption(f"True {true}, predicted {predicted}: {len(cell)} test {unit}{'s' * (len(cell) != 1)}{shown}")
            _thumbnails(dataset, cell[:CELL_IMAGES], [""] * min(len(cell), CELL_IMAGES), columns=4)


def _curves(report: dict[str, Any], positive: str | None, operating: dict[str, Any] | None) -> None:
    left, right = st.columns(2)
    left.plotly_chart(roc_figure(report, operating), width="stretch", key="roc-chart")
    right.plotly_chart(pr_figure(report, positive), width="stretch", key="pr-chart")


def _threshold(labels: np.ndarray, scores: np.ndarray, classes: list[str], positive: str, key: str,
               method: str) -> None:
    """Sensitivity, specificity, PPV and NPV when a case is called `positive` at probability >= the threshold
    (the calibrated probabilities the Predict tab shows)."""
    negative = classes[1 - classes.index(positive)]
    st.markdown(f"**Operating point: '{positive}' positive**")
    threshold = st.slider(f"Decision threshold: call '{positive}' when its probability is at least", 0.0, 1.0, 0.5,
                          0.01, key=f"{key}-threshold-{positive}")
    point = binary_operating_point(labels, scores, threshold)
    columns = st.columns(4)
    for column, name in zip(columns, ("sensitivity", "specificity", "ppv", "npv")):
        hits, total = {"sensitivity": ("tp", "fn"), "specificity": ("tn", "fp"), "ppv": ("tp", "fp"),
                       "npv": ("tn", "fn")}[name]
        label, count = name.upper() if len(name) == 3 else name.title(), point[hits] + point[total]
        if count == 0:  # e.g. no negative test images: the proportion has no denominator
            column.metric(label, "n/a", help="No test images to compute it from at this threshold (0/0).")
            column.caption("not measurable (0/0)")
            continue
        low, high = proportion_ci(point[hits], count, method)
        column.metric(label, f"{point[name]:.3f}",
                      help=f"95% {METHOD_TEXT[method]} interval {low:.3f}-{high:.3f} ({point[hits]}/{count})")
        column.caption(f"95% CI {low:.3f}-{high:.3f}")
    (tn, fp), (fn, tp) = point["confusion_matrix"]
    st.dataframe(pd.DataFrame([[tp, fn], [fp, tn]], index=[f"true {positive}", f"true {negative}"],
                              columns=[f"called {positive}", f"called {negative}"]), width="content")


def _calibration(calibration: dict[str, Any]) -> None:
    applied = calibration.get("applied", True)  # reports stored before this key existed always applied T
    left, right = st.columns([2, 1])
    left.plotly_chart(reliability_figure(calibration), width="stretch", key="calibration-chart")
    if not applied:
        right.markdown("**Temperature scaling: not applied**")
        right.caption(f"{calibration['note']} Expected calibration error on test {calibration['before']['ece']:.3f}, "
                      f"log loss {calibration['before']['nll']:.3f}. Predictions on the Predict tab use the "
                      "uncalibrated probabilities.")
        return
    right.markdown(f"**Temperature scaling** (fitted on validation): T = {calibration['temperature']:.2f}")
    right.caption(f"Expected calibration error {calibration['before']['ece']:.3f} → {calibration['after']['ece']:.3f}; "
                  f"log loss {calibration['before']['nll']:.3f} → {calibration['after']['nll']:.3f}; accuracy unchanged. "
                  "Predictions on the Predict tab use the calibrated probabilities.")


def _top_losses(cases: list[dict], dataset: Dataset) -> None:
    unit = "clip" if dataset.info.is_sequence else "image"
    st.markdown(f"**Wrong test {unit}s with the highest loss** (confidence in the wrong class shown)")
    if not cases:
        st.caption(f"None: every test {unit} is classified correctly.")
        return
    _thumbnails(dataset, [c["index"] for c in cases],
                [f"true {c['true']} · predicted {c['predicted']} ({c['confidence']:.2f})" for c in cases])


def _thumbnails(dataset: Dataset, indices, captions: list[str], columns: int = GALLERY_COLUMNS) -> None:
    images = dataset.images
    indices = list(indices)
    if dataset.info.is_sequence and indices:   # a clip (T, H, W, C): four of its frames, two by two
        st.caption("Each clip is shown as four evenly spaced frames, in reading order.")
    for start in range(0, len(indices), columns):
        for column, index, caption in zip(st.columns(columns), indices[start:start + columns],
                                          captions[start:start + columns]):
            clip = dataset.info.is_sequence
            picture = clip_thumbnail(images[index]) if clip else display_image(np.asarray(images[index]))
            column.image(picture, caption=caption or None, width="stretch")
