"""Plotly figures of training curves, built from a run's metric events."""
from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

# The legend sits at the bottom of the figure (container coordinates), so plotly reserves its rows below the
# x-axis title instead of drawing them over it, however many rows a narrow column wraps it into.
LAYOUT = dict(height=320, margin=dict(t=40, b=10, l=10, r=10),
              legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0, xanchor="left"))
METRIC_SPAN, LOSS_SPAN = 0.1, 0.2   # least y span: absolute for [0, 1] metrics; relative for losses (and PSNR)


def keep_span(figure: go.Figure, absolute: float = 0.0, relative: float = 0.0) -> go.Figure:
    """Give the y axis at least max(absolute, relative * |largest value|) of span, centred on the data, and
    the x axis (epochs) at least one epoch with whole-epoch ticks while there are few: otherwise one validation
    point zooms the axis to a sliver such as 0.2755-0.276 and makes noise look like a trend."""
    ys = [float(v) for trace in figure.data for v in (trace.y if trace.y is not None else ())
          if v is not None and math.isfinite(float(v))]
    if ys:
        low, high = min(ys), max(ys)
        span = max(absolute, relative * max(abs(low), abs(high)))
        if span and high - low < span:
            middle = (low + high) / 2
            figure.update_yaxes(range=[middle - span / 2, middle + span / 2])
    xs = [float(v) for trace in figure.data for v in (trace.x if trace.x is not None else ()) if v is not None]
    if xs and max(xs) - min(xs) < 1:
        figure.update_xaxes(range=[math.floor(min(xs)) - 0.5, math.ceil(max(xs)) + 0.5])
    if xs and max(xs) <= 10:
        figure.update_xaxes(dtick=1)
    return figure


def split_events(events: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    return [e for e in events if e.get("kind") == "step"], [e for e in events if e.get("kind") == "epoch"]


def _x(step: dict, steps_per_epoch: int) -> float:
    return step["epoch"] - 1 + step["step"] / max(steps_per_epoch, 1)


def loss_figure(events: list[dict[str, Any]], steps_per_epoch: int) -> go.Figure:
    steps, epochs = split_events(events)
    figure = go.Figure()
    gan = any("d_loss" in s for s in steps)  # a GAN's loss is its generator's; its discriminator's goes beside it
    if steps:
        figure.add_scatter(x=[_x(s, steps_per_epoch) for s in steps], y=[s["loss"] for s in steps],
                           name="generator loss (per step)" if gan else "train loss (per step)", mode="lines",
                           line=dict(width=1), opacity=0.6)
    if gan:
        points = [s for s in steps if "d_loss" in s]
        figure.add_scatter(x=[_x(s, steps_per_epoch) for s in points], y=[s["d_loss"] for s in points],
                           name="discriminator loss (per step)", mode="lines", line=dict(width=1), opacity=0.6)
    train = [e for e in epochs if "train_loss" in e]
    figure.add_scatter(x=[e["epoch"] for e in train], y=[e["train_loss"] for e in train], name="train loss (epoch)",
                       mode="lines+markers")
    val = [e for e in epochs if "val_loss" in e]
    figure.add_scatter(x=[e["epoch"] for e in val], y=[e["val_loss"] for e in val], name="validation loss",
                       mode="lines+markers")
    figure.update_layout(title="Loss", xaxis_title="epoch", **LAYOUT)
    return keep_span(figure, relative=LOSS_SPAN)


def metrics_figure(events: list[dict[str, Any]]) -> go.Figure:
    _, epochs = split_events(events)
    figure = go.Figure()
    names = sorted({k for e in epochs for k in e if k.startswith("val_") and k != "val_loss"})
    # A generative run's FD (tens to hundreds) gets its own axis on the right, so it does not flatten the
    # probabilities and loss terms (0-1) drawn beside it.
    own_axis = "val_fd" in names and len(names) > 1
    for name in names:
        if not (own_axis and name == "val_fd"):
            figure.add_scatter(x=[e["epoch"] for e in epochs if name in e], y=[e[name] for e in epochs if name in e],
                               name=name.removeprefix("val_").replace("_", " "), mode="lines+markers")
    figure.update_layout(title="Validation metrics", xaxis_title="epoch", **LAYOUT)
    if not names:  # before the first validation: a sentence, not an empty frame with made-up axes
        figure.update_xaxes(visible=False)
        figure.update_yaxes(visible=False)
        figure.add_annotation(text="shown after the first epoch's validation", showarrow=False,
                              xref="paper", yref="paper", x=0.5, y=0.5)
        return figure
    keep_span(figure, absolute=METRIC_SPAN, relative=0.1)
    if own_axis:
        figure.add_scatter(x=[e["epoch"] for e in epochs if "val_fd" in e], y=[e["val_fd"] for e in epochs if "val_fd" in e],
                           name="FD (right axis)", mode="lines+markers", yaxis="y2", line={"dash": "dot"})
        figure.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": "FD on MedLab features",
                                     "showgrid": False, "rangemode": "tozero"})
    return figure


# step metrics beyond the loss (core.train.callbacks.MetricsRecorder records whatever a train_step returns)
STEP_TERMS = {"d_real": "D(x): real images judged real", "d_fake": "D(G(z)): generated images judged real",
              "recon": "reconstruction", "kl": "KL divergence"}


def terms_figure(events: list[dict[str, Any]], steps_per_epoch: int) -> go.Figure | None:
    """A generative run's own step terms: a GAN's discriminator outputs D(x) and D(G(z)) (probabilities; both
    near 0.5 when neither network wins), a VAE's reconstruction and KL terms of its loss. None for other runs."""
    steps, _ = split_events(events)
    names = [name for name in STEP_TERMS if any(name in s for s in steps)]
    if not names:
        return None
    figure = go.Figure()
    for name in names:
        points = [s for s in steps if name in s]
        figure.add_scatter(x=[_x(s, steps_per_epoch) for s in points], y=[s[name] for s in points],
                           name=STEP_TERMS[name], mode="lines", line=dict(width=1))
    discriminator = "d_real" in names or "d_fake" in names
    figure.update_layout(title="Discriminator outputs" if discriminator else "Loss terms", xaxis_title="epoch",
                         **LAYOUT)
    if discriminator:
        figure.update_yaxes(range=[-0.02, 1.02])
        return keep_span(figure)
    return keep_span(figure, relative=LOSS_SPAN)


def lr_figure(events: list[dict[str, Any]], steps_per_epoch: int) -> go.Figure:
    steps, _ = split_events(events)
    figure = go.Figure(go.Scatter(x=[_x(s, steps_per_epoch) for s in steps], y=[s["lr"] for s in steps],
                                  mode="lines", name="learning rate"))
    figure.update_layout(title="Learning rate", xaxis_title="epoch", yaxis_exponentformat="e", **LAYOUT)
    return keep_span(figure, relative=1.0)   # a constant rate is a level line, not a line at "0"


def overlay_figure(curves: dict[str, list[dict[str, Any]]], metric: str) -> go.Figure:
    """One line per run: `metric` per epoch, to compare runs."""
    figure = go.Figure()
    for label, events in curves.items():
        _, epochs = split_events(events)
        points = [e for e in epochs if metric in e]
        figure.add_scatter(x=[e["epoch"] for e in points], y=[e[metric] for e in points], name=label,
                           mode="lines+markers")
    figure.update_layout(title=f"{metric.replace('_', ' ')} by epoch", xaxis_title="epoch", **LAYOUT)
    if "loss" in metric:
        return keep_span(figure, relative=LOSS_SPAN)
    return keep_span(figure, absolute=METRIC_SPAN, relative=0.1)
