"""The Evaluate page's report tab: metrics with confidence intervals, confusion matrix with its images,
ROC and precision-recall curves, a threshold slider for binary tasks, calibration and the top losses."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from scipy.special import softmax

from core.data.store import Dataset
from core.evaluate.intervals import CI_METHODS, DEFAULT_CI_METHOD, METHOD_TEXT, proportion_ci, with_ci_method
from core.evaluate.metrics import binary_operating_point
from core.evaluate.report import load_predictions, report_warnings
from pages.ui.charts import LAYOUT
from pages.ui.images import display_image

GALLERY_COLUMNS = 6


def render_report(report: dict[str, Any], dataset: Dataset, folder, key: str) -> None:
    metrics = report["metrics"]
    for warning in report_warnings(report):  # before any number, so none is read without it
        st.warning(warning, icon="⚠️")
    st.markdown(f"**Held-out test split: {report['n_test']} images**, best epoch's weights; 95% confidence "
                "intervals, each with its method.")
    left, right = st.columns([2, 3])
    method = left.radio("Intervals for proportions", list(CI_METHODS), horizontal=True, key=f"{key}-ci",
                        index=list(CI_METHODS).index(metrics.get("ci_method", DEFAULT_CI_METHOD)),
                        format_func=lambda m: METHOD_TEXT[m])
    right.caption("Accuracy, sensitivity, specificity, PPV and NPV are proportions: Wilson's score interval, or "
                  "Clopper-Pearson's exact one (wider, never below 95% coverage). Balanced accuracy combines the "
                  "per-class intervals (MOVER, Zou & Donner 2008). AUC, F1 and the rest: percentile bootstrap.")
    st.dataframe(_headline_table(with_ci_method(metrics["headline"], method)), hide_index=True, width="stretch")
    if report["task"] == "multilabel":
        st.dataframe(pd.DataFrame(metrics["per_label"]), hide_index=True, width="stretch")
        _curves(report)
        return
    st.dataframe(pd.DataFrame(metrics["per_class"]), hide_index=True, width="stretch")
    predictions = load_predictions(folder)
    _confusion(metrics, predictions, report["classes"], dataset, key)
    _curves(report)
    if len(report["classes"]) == 2:
        _threshold(predictions, report, key, method)
    _calibration(report["calibration"])
    _top_losses(report["top_losses"], dataset)


def _headline_table(headline: dict[str, Any]) -> pd.DataFrame:
    rows = [{"metric": name.replace("_", " "), "value": value["value"], "95% CI low": value["ci_low"],
             "95% CI high": value["ci_high"],
             "CI method": METHOD_TEXT.get(value.get("method", "bootstrap"), value.get("method"))
             + (f" ({value['successes']}/{value['trials']})" if "trials" in value else "")}
            for name, value in headline.items() if isinstance(value, dict)]
    return pd.DataFrame(rows).round(4)


def _confusion(metrics: dict, predictions: dict, classes: list[str], dataset: Dataset, key: str) -> None:
    left, right = st.columns([3, 2])
    normalised = left.toggle("Normalise rows (recall per class)", key=f"{key}-normalise")
    matrix = np.asarray(metrics["confusion_matrix_normalized" if normalised else "confusion_matrix"])
    figure = go.Figure(go.Heatmap(z=matrix, x=classes, y=classes, colorscale="Blues", text=np.round(matrix, 3),
                                  texttemplate="%{text}", hovertemplate="true %{y}<br>predicted %{x}<br>%{z}<extra></extra>"))
    figure.update_layout(title="Confusion matrix (click a cell)", xaxis_title="predicted", yaxis_title="true",
                         yaxis_autorange="reversed", **LAYOUT)
    event = left.plotly_chart(figure, width="stretch", on_select="rerun", selection_mode="points",
                              key=f"{key}-confusion")
    points = event.selection.points if event and event.selection else []
    with right:
        st.markdown("**Images in a cell**")
        if points:  # a click on the heat map picks the cell
            st.session_state[f"{key}-true"], st.session_state[f"{key}-pred"] = points[0]["y"], points[0]["x"]
        true = st.selectbox("True class", classes, key=f"{key}-true")
        predicted = st.selectbox("Predicted class", classes, key=f"{key}-pred")
        labels, chosen = predictions["labels"], predictions["logits"].argmax(1)
        cell = predictions["indices"][(labels == classes.index(true)) & (chosen == classes.index(predicted))]
        st.caption(f"{len(cell)} test images")
        _thumbnails(dataset, cell[:18], [""] * min(len(cell), 18), columns=3)


def _curves(report: dict[str, Any]) -> None:
    roc, pr = go.Figure(), go.Figure()
    for name, curve in report["roc"].items():
        if curve["fpr"]:
            roc.add_scatter(x=curve["fpr"], y=curve["tpr"], name=f"{name} (AUC {curve['auc']:.3f})", mode="lines")
    roc.add_scatter(x=[0, 1], y=[0, 1], name="chance", mode="lines", line=dict(dash="dot", color="grey"))
    roc.update_layout(title="ROC (one class against the rest)", xaxis_title="1 - specificity",
                      yaxis_title="sensitivity", **LAYOUT)
    for name, curve in report["pr"].items():
        if curve["recall"]:
            pr.add_scatter(x=curve["recall"], y=curve["precision"], mode="lines",
                           name=f"{name} (AP {curve['average_precision']:.3f})")
    pr.update_layout(title="Precision-recall", xaxis_title="recall", yaxis_title="precision", **LAYOUT)
    left, right = st.columns(2)
    left.plotly_chart(roc, width="stretch", key="roc-chart")
    right.plotly_chart(pr, width="stretch", key="pr-chart")


def _threshold(predictions: dict, report: dict, key: str, method: str) -> None:
    positive = report["classes"][1]
    scores = softmax(predictions["logits"], axis=1)
    threshold = st.slider(f"Decision threshold for '{positive}'", 0.0, 1.0, 0.5, 0.01, key=f"{key}-threshold")
    point = binary_operating_point(predictions["labels"], scores[:, 1], threshold)
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
    st.dataframe(pd.DataFrame(point["confusion_matrix"], index=[f"true {c}" for c in report["classes"]],
                              columns=[f"predicted {c}" for c in report["classes"]]), width="content")


def _calibration(calibration: dict[str, Any]) -> None:
    applied = calibration.get("applied", True)  # reports stored before this key existed always applied T
    parts = [("before", calibration["before"])] + ([("after temperature scaling", calibration["after"])] if applied
                                                   else [])
    figure = go.Figure()
    for label, part in parts:
        bins = [b for b in part["reliability"]["bins"] if b["count"]]
        figure.add_scatter(x=[b["confidence"] for b in bins], y=[b["accuracy"] for b in bins], mode="lines+markers",
                           name=f"{label} (ECE {part['ece']:.3f})")
    figure.add_scatter(x=[0, 1], y=[0, 1], name="perfect", mode="lines", line=dict(dash="dot", color="grey"))
    figure.update_layout(title="Reliability diagram (test split)", xaxis_title="confidence", yaxis_title="accuracy",
                         **LAYOUT)
    left, right = st.columns([2, 1])
    left.plotly_chart(figure, width="stretch", key="calibration-chart")
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
    st.markdown("**Most confidently wrong test images**")
    if not cases:
        st.caption("None: every test image is classified correctly.")
        return
    _thumbnails(dataset, [c["index"] for c in cases],
                [f"true {c['true']} · predicted {c['predicted']} ({c['confidence']:.2f})" for c in cases])


def _thumbnails(dataset: Dataset, indices, captions: list[str], columns: int = GALLERY_COLUMNS) -> None:
    images = dataset.images
    indices = list(indices)
    for start in range(0, len(indices), columns):
        for column, index, caption in zip(st.columns(columns), indices[start:start + columns],
                                          captions[start:start + columns]):
            column.image(display_image(np.asarray(images[index])), caption=caption or None, width="stretch")
