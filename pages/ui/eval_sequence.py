"""The Evaluate page for sequence runs: Explain (a test clip's frames, which frames mattered, Grad-CAM on the most
important one), Predict (uploaded multi-frame DICOM, videos, ZIPs of frames: prediction, out-of-distribution check,
frame importance, Grad-CAM on the key frame) and Export (weights, ONNX, TorchScript, model card); plus the clip
thumbnails of the Report tab's galleries."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.data.store import Dataset
from core.evaluate.explain import overlay
from core.evaluate.export_sequence import SEQUENCE_FORMATS, SEQUENCE_SUFFIXES, export_sequence, spec_bytes
from core.evaluate.predict_sequence import (SequencePrediction, SequencePredictor, explain_class,
                                            load_sequence_predictor, predict_clip_files, predict_stored_clip,
                                            sequence_predictions_csv)
from core.jobs.store import RunRecord, RunStore
from core.train.run_folder import weights_version
from pages.ui.charts import LAYOUT
from pages.ui.eval_more import TORCH_EXPORT_NOTE, demote_headings, keep_export
from pages.ui.images import display_image
from pages.ui.sequence_player import frame_strip, strip_indices
from pages.ui.session import user_errors

MAX_CLIPS = 20              # uploads per prediction
STRIP_MOST = 16             # frames shown in a strip (evenly spaced when the clip has more)
EVEN_ATTENTION = 1.5        # attention whose largest weight is below this many times 1/T is called "nearly even"
KEY_COLOUR, BAR_COLOUR, ATTENTION_COLOUR = "#ff8c00", "#4c78a8", "#54a24b"
FORMAT_TEXT = {"weights": "Weights (safetensors) + model.json", "onnx": "ONNX (checked in onnxruntime)",
               "pt2": "torch.export (.pt2)", "torchscript": "TorchScript (deprecated)", "card": "Model card (Markdown)"}
UPLOAD_TYPES = ["dcm", "dicom", "mp4", "avi", "mov", "mkv", "webm", "zip", "nii", "gz"]


@st.cache_resource(max_entries=4, show_spinner="Loading the model")
def cached_sequence_predictor(folder: str, weights_modified: float) -> SequencePredictor:
    """One loaded sequence model per run folder (and weights version), shared by every session: read-only."""
    return load_sequence_predictor(Path(folder))


def sequence_predictor_for(store: RunStore, run_id: str) -> SequencePredictor:
    folder = store.run_folder(run_id)
    return cached_sequence_predictor(str(folder), weights_version(folder))


def clip_thumbnail(clip: np.ndarray) -> np.ndarray:
    """A stored clip (T, H, W, C) -> a square uint8 thumbnail of four evenly spaced frames, two by two in reading
    order (a report gallery's cell is too narrow for a strip)."""
    frames = [display_image(np.asarray(clip[i]), 56) for i in np.linspace(0, len(clip) - 1, 4).round().astype(int)]
    column_gap = np.full((frames[0].shape[0], 2, *frames[0].shape[2:]), 255, np.uint8)
    top, bottom = (np.concatenate([left, column_gap, right], axis=1) for left, right in (frames[:2], frames[2:]))
    return np.concatenate([top, np.full((2, *top.shape[1:]), 255, np.uint8), bottom], axis=0)


def importance_figure(importance: np.ndarray, key_frame: int, attention: np.ndarray | None, target: str,
                      flagged: bool = False) -> go.Figure:
    """Bars: the probability of `target` lost when each frame is occluded (the key frame in orange); a line on a
    second axis: the model's attention weights over the frames, when it has them. Frames count from 1."""
    frames = list(range(1, len(importance) + 1))      # plain lists: the figure's JSON stays readable
    importance = [float(v) for v in importance]
    attention = None if attention is None else [float(v) for v in attention]
    colours = [KEY_COLOUR if i == key_frame else BAR_COLOUR for i in range(len(importance))]
    figure = go.Figure(go.Bar(x=frames, y=importance, marker_color="lightgrey" if flagged else colours,
                              name=f"drop in p({target}) when the frame is occluded",
                              hovertemplate="frame %{x}<br>importance %{y:.3f}<extra></extra>"))
    if attention is not None:
        figure.add_scatter(x=frames, y=attention, mode="lines+markers", yaxis="y2", name="attention weight",
                           line=dict(color=ATTENTION_COLOUR), hovertemplate="frame %{x}<br>attention %{y:.3f}")
        figure.update_layout(yaxis2=dict(title="attention weight", overlaying="y", side="right", showgrid=False,
                                         range=[0, 1.15 * max(attention)], tickformat=".2f", zeroline=False))
    figure.update_layout(title=f"Frame importance for '{target}' (temporal occlusion)", showlegend=True, **LAYOUT)
    figure.update_layout(yaxis=dict(title="probability lost", zeroline=True, tickformat=".2~g"))  # small drops stay legible
    figure.update_xaxes(title="frame", dtick=1 if len(frames) <= 32 else None, range=[0.5, len(frames) + 0.5])
    if flagged:
        figure.add_annotation(text="NOT RELIABLE: out of distribution", x=0.5, y=0.5, xref="paper", yref="paper",
                              showarrow=False, font=dict(color="firebrick", size=14), bgcolor="rgba(255,255,255,0.8)")
    return figure


def _strip(frames: np.ndarray, name: str, caption: str) -> None:
    """The clip's frames side by side (evenly spaced ones when there are more than STRIP_MOST)."""
    shown = strip_indices(len(frames), STRIP_MOST)
    which = "all frames" if len(shown) == len(frames) else \
        f"frames {', '.join(str(i + 1) for i in shown)} of {len(frames)}"
    st.image(frame_strip(frames, STRIP_MOST, min_pixels=48), width="stretch",
             caption=f"{name} · {which} · {caption}")


def _explanation(prediction: SequencePrediction, importance: np.ndarray, key_frame: int, heat: np.ndarray,
                 attention: np.ndarray | None, target: str, opacity: float, key: str) -> None:
    """The importance curve beside the key frame and its Grad-CAM overlay."""
    flagged = prediction.out_of_distribution
    chart, still, cam = st.columns([3, 1, 1])
    chart.plotly_chart(importance_figure(importance, key_frame, attention, target, flagged), width="stretch",
                       key=f"{key}-importance")
    frame = prediction.frames[key_frame]
    source = (f" (frame {int(prediction.source_frames[key_frame]) + 1} of the file)"
              if len(prediction.source_frames) > key_frame and prediction.source_frame_count != len(prediction.frames)
              else "")
    still.image(display_image(frame, 192), width="stretch", caption=f"Key frame {key_frame + 1}{source}")
    grid = prediction.heat_grid
    coarse = (f" (coarse: the model's last feature map is {grid[0]}×{grid[1]} for {len(frame)} px frames)"
              if grid and grid[0] * grid[1] <= 4 else "")
    cam.image(overlay(frame, heat, opacity), width="stretch",
              caption=f"Grad-CAM on frame {key_frame + 1} for '{target}'{coarse}"
                      + (" — unreliable: out of distribution" if flagged else ""))
    if attention is not None:
        even, top = 1 / len(attention), float(np.max(attention))
        where = (f"is spread nearly evenly over the frames (largest weight {top:.2f}, an even spread {even:.2f})"
                 if top < EVEN_ATTENTION * even else f"peaks at frame {int(np.argmax(attention)) + 1} ({top:.2f})")
        st.caption(f"The model's attention {where}; occlusion says frame {key_frame + 1} matters most for "
                   f"'{target}'. Attention shows what the model weighed, occlusion what changing the frame does to "
                   "its answer.")


def _target_and_opacity(predictor: SequencePredictor, prediction: SequencePrediction, key: str) -> tuple[str, float]:
    left, right = st.columns(2)
    target = left.selectbox("Explain the score of", predictor.classes, index=predictor.classes.index(prediction.label),
                            key=f"{key}-target")
    opacity = right.slider("Overlay opacity", 0.0, 1.0, 0.45, 0.05, key=f"{key}-opacity")
    return target, opacity


def _explained(predictor: SequencePredictor, prediction: SequencePrediction, target: str):
    """(importance, key frame, heat, attention) of `prediction` for class `target`."""
    if target == prediction.label:
        return prediction.importance, prediction.key_frame, prediction.heat, prediction.attention
    return explain_class(predictor, prediction, target)


def _memo(key: str, ident: tuple, compute):
    """The last result of `compute` for `ident`, kept in this session (explanations take several forwards)."""
    held = st.session_state.get(key)
    if held is None or held[0] != ident:
        held = (ident, compute())
        st.session_state[key] = held
    return held[1]


def render_sequence_explain(predictor: SequencePredictor, dataset: Dataset, key: str) -> None:
    test = dataset.indices("test")
    if not len(test):
        st.info("This dataset has no test clips to explain.")
        return
    items = dataset.items
    position = st.slider("Test clip", 1, len(test), 1, key=f"{key}-clip") - 1 if len(test) > 1 else 0
    index = int(test[position])
    name = items["name"].iloc[index]
    prediction = _memo(f"{key}-memo", (predictor.run_id, index),
                       lambda: predict_stored_clip(predictor, np.asarray(dataset.images[index]), name))
    true = items["label"].iloc[index]
    if prediction.out_of_distribution:
        st.warning("**Out of distribution — prediction not reliable:** " + "; ".join(prediction.ood.reasons) + ".")
    verdict = "correct" if prediction.label == true else "wrong"
    st.markdown(f"**{name}** · true: **{true}** · predicted: **{prediction.label}** "
                f"({prediction.probabilities[prediction.label]:.2f}, {verdict})")
    _strip(prediction.frames, name, f"true {true}")
    target, opacity = _target_and_opacity(predictor, prediction, f"{key}-{index}")
    importance, key_frame, heat, attention = _memo(f"{key}-target-memo", (predictor.run_id, index, target),
                                                   lambda: _explained(predictor, prediction, target))
    _explanation(prediction, importance, key_frame, heat, attention, target, opacity, f"{key}-{index}")


def render_sequence_predict(predictor: SequencePredictor, key: str) -> None:
    st.write(f"Upload sequences to classify: a multi-frame DICOM (cine MR, ultrasound, XA), a video (MP4, AVI) or a "
             f"ZIP of numbered frames. Each becomes the {predictor.frames} frames the model takes by the dataset's "
             "frame policy, and each frame is windowed and resized like the training frames. DICOM is de-identified "
             "on reading; nothing you upload here is stored.")
    st.caption(predictor.policy.describe())
    uploads = st.file_uploader("Multi-frame DICOM, video or ZIP of frames", accept_multiple_files=True,
                               key=f"{key}-upload")
    if not uploads:
        return
    if len(uploads) > MAX_CLIPS:
        st.error(f"Choose at most {MAX_CLIPS} files at a time.")
        return
    files = [(u.name, u.getvalue()) for u in uploads]
    predictions, errors = _memo(f"{key}-memo", (predictor.run_id, tuple((n, len(d), hash(d)) for n, d in files)),
                                lambda: predict_clip_files(predictor, files))
    for name, reason in errors:
        st.error(f"{name}: {reason}")
    if not predictions:
        return
    unreliable = [p.file for p in predictions if p.out_of_distribution]
    if unreliable:  # said before any result, so no prediction is read without it
        st.error(f"**Out of distribution — {len(unreliable)} of {len(predictions)} predictions not reliable** "
                 f"({', '.join(unreliable)}): these sequences look unlike the training clips, so what the model says "
                 "about them should not be trusted. Each is marked below.")
    st.dataframe(pd.DataFrame([p.row() for p in predictions]), hide_index=True, width="stretch")
    st.download_button("Download results (CSV)", sequence_predictions_csv(predictions), file_name="predictions.csv",
                       mime="text/csv", key=f"{key}-csv", on_click="ignore")
    for position, prediction in enumerate(predictions):
        st.divider()
        _one_prediction(predictor, prediction, f"{key}-{position}")


def _one_prediction(predictor: SequencePredictor, prediction: SequencePrediction, key: str) -> None:
    """One file's result; an out-of-distribution flag comes first and greys out the result below it."""
    flagged = prediction.out_of_distribution
    if flagged:
        st.error(f"**Out of distribution — prediction not reliable.** {prediction.file} looks unlike the training "
                 "clips, so the class, probabilities and explanations below should not be trusted: "
                 + "; ".join(prediction.ood.reasons) + ".")
    for note in prediction.notes:
        st.info(note)
    st.markdown(f"**{prediction.file}**: {prediction.label} ({prediction.probabilities[prediction.label]:.2f})"
                f" · {prediction.source_frame_count} frames in the file")
    _strip(prediction.frames, prediction.file, f"the {len(prediction.frames)} frames the model saw")
    target, opacity = _target_and_opacity(predictor, prediction, key)
    importance, key_frame, heat, attention = _memo(f"{key}-target-memo", (id(prediction), target),
                                                   lambda: _explained(predictor, prediction, target))
    _explanation(prediction, importance, key_frame, heat, attention, target, opacity, key)
    probabilities = pd.DataFrame({"class": list(prediction.probabilities),
                                  "probability": list(prediction.probabilities.values())})
    chart = px.bar(probabilities, x="probability", y="class", orientation="h", range_x=[0, 1],
                   title=f"Predicted: {prediction.label}")
    chart.update_layout(height=200, margin=dict(t=40, b=10, l=10, r=10))
    if flagged:
        chart.update_traces(marker_color="lightgrey", opacity=0.6)
        chart.add_annotation(text="NOT RELIABLE: out of distribution", x=0.5, y=0.5, xref="paper", yref="paper",
                             showarrow=False, font=dict(color="firebrick", size=14), bgcolor="rgba(255,255,255,0.8)")
    st.plotly_chart(chart, width="stretch", key=f"{key}-bars")


def render_sequence_export(store: RunStore, record: RunRecord, predictor: SequencePredictor) -> None:
    st.write(f"Exported models take clips in [0, 1] of shape (N, {predictor.frames}, {predictor.in_channels}, "
             f"{predictor.image_size}, {predictor.image_size}) (clip, frame, channel, height, width); the input "
             "normalisation is inside them. INT8 quantisation is not available for sequence models yet.")
    st.caption(predictor.policy.describe() + " " + " ".join(predictor.preprocessing.describe()[:2]))
    fmt = st.radio("Format", SEQUENCE_FORMATS, format_func=FORMAT_TEXT.get, horizontal=True,
                   key=f"export-format-{record.id}")
    if fmt in ("pt2", "torchscript"):
        st.caption(TORCH_EXPORT_NOTE)
    if st.button("Prepare the file", key=f"export-{record.id}"):
        with user_errors(), st.spinner("Exporting"):
            data, facts = export_sequence(predictor, record, store.config(record), store.run_dir(record), fmt)
            keep_export(record.id, (fmt, data, facts))
    prepared = st.session_state.get(f"export-file-{record.id}")
    if not prepared or prepared[0] != fmt:
        return
    _, data, facts = prepared
    if "max_difference_vs_pytorch" in facts:
        st.success(f"onnxruntime matches PyTorch to {facts['max_difference_vs_pytorch']:.1e} on clips of "
                   f"{predictor.frames} frames.")
    if fmt == "card":
        with st.expander("Preview", expanded=True):
            st.markdown(demote_headings(data.decode()))
    st.download_button(f"Download {FORMAT_TEXT[fmt]}", data, file_name=f"{record.id}{SEQUENCE_SUFFIXES[fmt]}",
                       key=f"download-{record.id}-{fmt}", on_click="ignore")
    if fmt == "weights":
        st.download_button("Download model.json (how to rebuild the network)", spec_bytes(store.run_dir(record)),
                           file_name=f"{record.id}{SEQUENCE_SUFFIXES['spec']}", mime="application/json",
                           key=f"download-{record.id}-spec", on_click="ignore")
