"""Plotly figures of training curves, built from a run's metric events."""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

LAYOUT = dict(height=300, margin=dict(t=40, b=10, l=10, r=10), legend=dict(orientation="h", y=-0.25))


def split_events(events: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    return [e for e in events if e.get("kind") == "step"], [e for e in events if e.get("kind") == "epoch"]


def _x(step: dict, steps_per_epoch: int) -> float:
    return step["epoch"] - 1 + step["step"] / max(steps_per_epoch, 1)


def loss_figure(events: list[dict[str, Any]], steps_per_epoch: int) -> go.Figure:
    steps, epochs = split_events(events)
    figure = go.Figure()
    if steps:
        figure.add_scatter(x=[_x(s, steps_per_epoch) for s in steps], y=[s["loss"] for s in steps],
                           name="train loss (per step)", mode="lines", line=dict(width=1), opacity=0.6)
    train = [e for e in epochs if "train_loss" in e]
    figure.add_scatter(x=[e["epoch"] for e in train], y=[e["train_loss"] for e in train], name="train loss (epoch)",
                       mode="lines+markers")
    val = [e for e in epochs if "val_loss" in e]
    figure.add_scatter(x=[e["epoch"] for e in val], y=[e["val_loss"] for e in val], name="validation loss",
                       mode="lines+markers")
    figure.update_layout(title="Loss", xaxis_title="epoch", **LAYOUT)
    return figure


def metrics_figure(events: list[dict[str, Any]]) -> go.Figure:
    _, epochs = split_events(events)
    figure = go.Figure()
    names = sorted({k for e in epochs for k in e if k.startswith("val_") and k != "val_loss"})
    for name in names:
        figure.add_scatter(x=[e["epoch"] for e in epochs if name in e], y=[e[name] for e in epochs if name in e],
                           name=name.removeprefix("val_").replace("_", " "), mode="lines+markers")
    figure.update_layout(title="Validation metrics", xaxis_title="epoch", **LAYOUT)
    return figure


def lr_figure(events: list[dict[str, Any]], steps_per_epoch: int) -> go.Figure:
    steps, _ = split_events(events)
    figure = go.Figure(go.Scatter(x=[_x(s, steps_per_epoch) for s in steps], y=[s["lr"] for s in steps],
                                  mode="lines", name="learning rate"))
    figure.update_layout(title="Learning rate", xaxis_title="epoch", **LAYOUT)
    return figure


def overlay_figure(curves: dict[str, list[dict[str, Any]]], metric: str) -> go.Figure:
    """One line per run: `metric` per epoch, to compare runs."""
    figure = go.Figure()
    for label, events in curves.items():
        _, epochs = split_events(events)
        points = [e for e in epochs if metric in e]
        figure.add_scatter(x=[e["epoch"] for e in points], y=[e[metric] for e in points], name=label,
                           mode="lines+markers")
    figure.update_layout(title=f"{metric.replace('_', ' ')} by epoch", xaxis_title="epoch", **LAYOUT)
    return figure
