"""Plotly figures of the Evaluate page's report: a confusion matrix whose cells can be clicked, ROC and
precision-recall curves, and the reliability diagram. Pure functions of the stored report, so tests can read
their layout (legend placement, axis ranges) without a browser."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go

from pages.ui.charts import LAYOUT

UNIT_RANGE = [-0.02, 1.02]   # probabilities and rates: a little room so curves at 0 or 1 are not drawn on the frame
CELL_COLOUR = "#ff8c00"      # the outline of the chosen confusion-matrix cell


def confusion_figure(matrix: np.ndarray, classes: list[str], chosen: tuple[str, str], normalised: bool) -> go.Figure:
    """The confusion matrix (rows true, columns predicted) with the chosen (true, predicted) cell outlined.

    A heat map cannot be clicked in Streamlit (plotly selects points of scatter-like traces only), so a
    transparent square marker sits on every cell: a click selects it, and its point index is
    true index * K + predicted index. Hover distance -1 lets the nearest cell centre win anywhere in the plot."""
    k = len(classes)
    text = np.where(np.isnan(matrix), "", np.vectorize(lambda v: f"{v:.2f}" if normalised else f"{v:.0f}")(
        np.nan_to_num(matrix)))
    figure = go.Figure(go.Heatmap(z=matrix, x=classes, y=classes, colorscale="Blues", text=text,
                                  texttemplate="%{text}", hoverinfo="skip", showscale=False))
    rows, columns = np.divmod(np.arange(k * k), k)
    figure.add_scatter(x=[classes[c] for c in columns], y=[classes[r] for r in rows], mode="markers",
                       marker=dict(symbol="square", size=28, color="rgba(0,0,0,0)"), showlegend=False,
                       customdata=text.reshape(-1), name="cell",
                       hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata}<br>click to see its images"
                                     "<extra></extra>",
                       selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=1)))
    true, predicted = chosen
    if true in classes and predicted in classes:
        row, column = classes.index(true), classes.index(predicted)
        figure.add_shape(type="rect", x0=column - 0.5, x1=column + 0.5, y0=row - 0.5, y1=row + 0.5,
                         line=dict(color=CELL_COLOUR, width=3))
    figure.update_layout(title="Confusion matrix (click a cell)", hoverdistance=-1, dragmode=False,
                         **{**LAYOUT, "height": max(LAYOUT["height"], 80 + 50 * k)})
    figure.update_xaxes(title="predicted", type="category", fixedrange=True, showgrid=False)
    figure.update_yaxes(title="true", type="category", fixedrange=True, showgrid=False, autorange="reversed")
    return figure


def cell_of_point(point: dict[str, Any], classes: list[str]) -> tuple[str, str] | None:
    """(true, predicted) of a clicked confusion-matrix cell, from a Streamlit selection point."""
    index = point.get("point_index", point.get("point_number"))
    if index is None or not 0 <= int(index) < len(classes) ** 2:
        return None
    row, column = divmod(int(index), len(classes))
    return classes[row], classes[column]


def _unit_square(figure: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    figure.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, showlegend=True, **LAYOUT)
    figure.update_xaxes(range=UNIT_RANGE, zeroline=False)
    figure.update_yaxes(range=UNIT_RANGE, zeroline=False)
    return figure


def roc_figure(report: dict[str, Any], operating: dict[str, Any] | None = None) -> go.Figure:
    """One-against-the-rest ROC curves; `operating` ({"class", "threshold", "fpr", "tpr"}) marks the chosen
    operating point of a two-class task on its positive class's curve."""
    figure = go.Figure()
    classes = list(report["roc"])
    shown = [operating["class"]] if operating and len(classes) == 2 else classes  # 2 classes: one curve says all
    for name in shown:
        curve = report["roc"][name]
        if curve["fpr"]:
            figure.add_scatter(x=curve["fpr"], y=curve["tpr"], name=f"{name} (AUC {curve['auc']:.3f})", mode="lines")
    figure.add_scatter(x=[0, 1], y=[0, 1], name="chance", mode="lines", line=dict(dash="dot", color="grey"))
    if operating and math.isfinite(operating["fpr"]) and math.isfinite(operating["tpr"]):   # else a 0/0 rate
        figure.add_scatter(x=[operating["fpr"]], y=[operating["tpr"]], mode="markers",
                           marker=dict(size=11, color=CELL_COLOUR, line=dict(color="black", width=1)),
                           name=f"threshold {operating['threshold']:.2f}")
    title = f"ROC ('{operating['class']}' positive)" if operating and len(classes) == 2 else \
        "ROC (one class against the rest)"
    return _unit_square(figure, title, "1 - specificity", "sensitivity")


def pr_figure(report: dict[str, Any], positive: str | None = None) -> go.Figure:
    """Precision-recall curves (of the positive class only in a two-class task)."""
    figure = go.Figure()
    for name, curve in report["pr"].items():
        if curve["recall"] and (positive is None or name == positive):
            figure.add_scatter(x=curve["recall"], y=curve["precision"], mode="lines",
                               name=f"{name} (AP {curve['average_precision']:.3f})")
    title = f"Precision-recall ('{positive}' positive)" if positive else "Precision-recall"
    return _unit_square(figure, title, "recall", "precision")


def reliability_figure(calibration: dict[str, Any]) -> go.Figure:
    """Accuracy against confidence per bin, before and (when applied) after temperature scaling. Empty bins
    leave a gap: a line is drawn only between neighbouring bins that hold images, and marker size grows with a
    bin's image count."""
    applied = calibration.get("applied", True)  # reports stored before this key existed always applied T
    parts = [("before", calibration["before"])] + ([("after temperature scaling", calibration["after"])] if applied
                                                   else [])
    figure = go.Figure()
    for label, part in parts:
        bins = part["reliability"]["bins"]
        largest = max([b["count"] for b in bins] + [1])
        figure.add_scatter(x=[b["confidence"] if b["count"] else None for b in bins],
                           y=[b["accuracy"] if b["count"] else None for b in bins],
                           customdata=[b["count"] for b in bins], mode="lines+markers", connectgaps=False,
                           marker=dict(size=[6 + 10 * (b["count"] / largest) ** 0.5 for b in bins]),
                           hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{customdata} images",
                           name=f"{label} (ECE {part['ece']:.3f})")
    figure.add_scatter(x=[0, 1], y=[0, 1], name="perfect", mode="lines", line=dict(dash="dot", color="grey"))
    return _unit_square(figure, "Reliability diagram (test split)", "confidence", "accuracy")
