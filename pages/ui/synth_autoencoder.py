"""The Synthesize page's Autoencoder tab (VAE and plain autoencoder runs): reconstructions beside the originals,
a 2-D map of the latent space coloured by class (PCA or t-SNE), and, for a model trained on one class, the
anomaly score: ROC/AUC per class from the report and per-pixel anomaly heat maps of test images and of an
uploaded image (core.synthesis.anomaly; Baur et al. 2021)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.jobs.store import RunRecord
from core.synthesis.report import load_report_images, load_synthesis_report
from core.train.run_folder import REBUILD_SPEC, read_json, weights_version
from pages.ui.charts import LAYOUT
from pages.ui.images import display_image

LATENT_POINTS = 600   # at most this many test images on the latent map
METHODS = {"pca": "PCA (linear: keeps global distances)", "tsne": "t-SNE (keeps neighbourhoods; slower)"}


def render_autoencoder(workspace: str, record: RunRecord, sampler: Any, folder: Path) -> None:
    spec = read_json(folder / REBUILD_SPEC)
    report = load_synthesis_report(folder) or {}
    images = load_report_images(folder)
    classes = list(spec.get("dataset_classes") or [])
    _reconstructions(images, classes)
    _latent_space(workspace, folder, spec, sampler, classes)
    st.divider()
    anomaly = report.get("anomaly")
    train_class = spec.get("train_class") or ""
    st.markdown("#### Anomaly detection")
    if not train_class:
        st.info("This model learned every class, so its reconstruction error says nothing about one class against "
                "the others. Train a VAE or autoencoder with **Train on class** set to the normal class (e.g. "
                "`normal`): images of the other classes then reconstruct worse, and the error scores them.")
    elif anomaly:
        _roc(anomaly)
        _test_maps(images, report, classes)
    else:
        st.caption("The anomaly ROC appears when the run has finished and written its report.")
    _upload(sampler, spec, train_class)


def _reconstructions(images: dict[str, np.ndarray], classes: list[str]) -> None:
    st.markdown("#### Reconstructions")
    if "originals" not in images:
        st.caption("Reconstructions of test images are shown once the run has finished and written its report.")
        return
    originals, rebuilt = images["originals"], images["reconstructions"]
    st.caption("Held-out test images (top) and what the model makes of them (bottom): what it keeps is what it "
               "has learned; what it loses (fine detail, lesions it never saw) is what it has not.")
    st.image(paired_rows(originals, rebuilt), caption="top: test images · bottom: their reconstructions")


def paired_rows(top: np.ndarray, bottom: np.ndarray, per_row: int = 8, tile: int = 80, gap: int = 4) -> np.ndarray:
    """One picture of images (N, H, W[, C]) over their counterparts, `per_row` pairs a row, each enlarged to
    about `tile` pixels and separated by white `gap`s, so each original sits exactly above its reconstruction."""
    tiles = [[display_image(image, tile) for image in images] for images in (top, bottom)]
    size = tiles[0][0].shape[0]
    colour = tiles[0][0].ndim == 3 or tiles[1][0].ndim == 3
    blank = np.full((size, size, 3) if colour else (size, size), 255, np.uint8)

    def cell(image: np.ndarray) -> np.ndarray:
        image = image[:size, :size]
        return np.repeat(image[..., None], 3, axis=2) if colour and image.ndim == 2 else image

    def row(images: list[np.ndarray]) -> np.ndarray:
        parts = []
        for image in images + [blank] * (per_row - len(images)):
            parts += [cell(image), blank[:, :gap]]
        return np.concatenate(parts[:-1], axis=1)

    width = row([]).shape[1:]
    blocks = []
    for start in range(0, len(tiles[0]), per_row):
        blocks += [row(tiles[0][start:start + per_row]), np.full((gap, *width), 255, np.uint8),
                   row(tiles[1][start:start + per_row]), np.full((gap * 4, *width), 255, np.uint8)]
    return np.concatenate(blocks[:-1], axis=0)


def _latent_space(workspace: str, folder: Path, spec: dict, sampler: Any, classes: list[str]) -> None:
    st.markdown("#### Latent space")
    method = st.radio("Map", list(METHODS), format_func=METHODS.get, horizontal=True, key="synth-latent-method")
    points, labels = _latent_points(str(folder), weights_version(folder), workspace, str(spec.get("dataset", "")),
                                    method, sampler)
    figure = go.Figure()
    for index in sorted(set(labels.tolist())):
        chosen = labels == index
        name = classes[index] if 0 <= index < len(classes) else "unlabelled"
        figure.add_scatter(x=points[chosen, 0], y=points[chosen, 1], mode="markers", name=name,
                           marker=dict(size=6, opacity=0.7))
    figure.update_layout(title=f"Latent space of {len(points)} test images ({'PCA' if method == 'pca' else 't-SNE'})",
                         xaxis_title="component 1", yaxis_title="component 2", **{**LAYOUT, "height": 420})
    st.plotly_chart(figure, width="stretch", key="synth-latent-chart")
    st.caption("Each dot is a test image's latent mean, placed so that similar codes sit close. Classes that form "
               "their own clusters were told apart by the model without ever seeing a label.")


@st.cache_data(max_entries=8, show_spinner="Encoding the test images")
def _latent_points(folder: str, version: float, workspace: str, dataset_id: str, method: str,
                   _sampler: Any) -> tuple[np.ndarray, np.ndarray]:
    """(points (N, 2), class index per point) for up to LATENT_POINTS test images of the run's dataset."""
    import torch

    from core.data.catalog import open_dataset
    from core.synthesis.anomaly import latent_map
    from core.tasks.tensors import SplitTensors

    dataset = open_dataset(workspace, dataset_id)
    indices = dataset.indices("test")[:LATENT_POINTS]
    split = SplitTensors(dataset, indices, torch.device("cpu"), _sampler.size)
    images, labels = split.batch(torch.arange(len(split)))
    latents = _sampler.encode(images)
    return latent_map(latents.detach().cpu().numpy(), method), labels.cpu().numpy()


def _roc(anomaly: dict[str, Any]) -> None:
    normal = anomaly["normal_class"]
    auc = anomaly.get("auc")
    st.caption(f"Trained on **{normal}** images only; the reconstruction error ranks the held-out test images. "
               "AUC is the chance that an image of the class scores higher than a normal one (0.5: no better than "
               "a coin; 1: perfect).")
    figure = go.Figure()
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line=dict(dash="dot", color="grey"))
    for name, curve in (anomaly.get("per_class_roc") or {}).items():
        value = (anomaly.get("per_class") or {}).get(name)
        if curve.get("fpr"):
            figure.add_scatter(x=curve["fpr"], y=curve["tpr"], mode="lines",
                               name=f"{name} vs {normal} (AUC {_number(value)})")
    if (anomaly.get("roc") or {}).get("fpr") and len(anomaly.get("per_class_roc") or {}) > 1:
        figure.add_scatter(x=anomaly["roc"]["fpr"], y=anomaly["roc"]["tpr"], mode="lines",
                           name=f"every other class vs {normal} (AUC {_number(auc)})", line=dict(width=3))
    figure.update_layout(title="Anomaly ROC", xaxis_title="false positive rate (normal flagged)",
                         yaxis_title="true positive rate (other class flagged)", **{**LAYOUT, "height": 420})
    chart_col, table_col = st.columns([2, 1])
    chart_col.plotly_chart(figure, width="stretch", key="synth-roc-chart")
    rows = [{"class": name, "AUC": _number(value), "test images": (anomaly.get("counts") or {}).get(name, 0)}
            for name, value in (anomaly.get("per_class") or {}).items()]
    table_col.dataframe(rows, hide_index=True, key="synth-auc-table")
    table_col.metric("AUC, every other class", _number(auc))


def _test_maps(images: dict[str, np.ndarray], report: dict[str, Any], classes: list[str]) -> None:
    if "anomaly_images" not in images:
        return
    st.markdown("**Where the model sees something unusual** (the test images it scores highest, per class)")
    scale = report.get("anomaly_map_scale") or 1.0
    originals, maps = images["anomaly_images"], images["anomaly_maps"].astype(np.float32) / 255.0
    labels, scores = images.get("anomaly_labels"), images.get("anomaly_scores")
    shown = [_overlay(original, heat) for original, heat in zip(originals, maps)]
    captions = [(classes[int(labels[i])] if labels is not None and 0 <= labels[i] < len(classes) else "")
                + (f" · error {float(scores[i]):.4f}" if scores is not None else "") for i in range(len(shown))]
    st.image(shown, caption=captions, width=112)
    st.caption(f"Red is where the reconstruction differs most (the colour scale tops at an error of {scale:.3f}, "
               "the same for every image here).")


def _upload(sampler: Any, spec: dict, train_class: str) -> None:
    st.markdown("**Your own image**")
    upload = st.file_uploader("A PNG, JPEG, TIFF or DICOM image (de-identified on reading; not stored)",
                              type=None, key="synth-anomaly-upload")
    if upload is None:
        return
    data = upload.getvalue()
    original, rebuilt, heat, score = _upload_maps(data, upload.name, sampler, spec)
    cols = st.columns(3)
    cols[0].image(display_image(original, 160), caption=f"{upload.name} as the model sees it", width=160)
    cols[1].image(display_image(rebuilt, 160), caption="reconstruction", width=160)
    cols[2].image(_overlay(original, heat / max(float(heat.max()), 1e-6)), caption="anomaly heat map", width=160)
    st.caption(f"Anomaly score {score:.4f}: the mean of the most anomalous 1% of the smoothed absolute "
               "reconstruction error (images in [0, 1]), as the test images are scored; the heat map is scaled to "
               "this image's own maximum"
               + (f"; a model trained on '{train_class}' reconstructs images unlike it worse." if train_class else "."))


def _upload_maps(data: bytes, name: str, sampler: Any, spec: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(image (H, W, C), reconstruction (H, W, C), heat map (H, W), score) of an uploaded file at the model's size;
    UserError (one sentence) when the file is not an image."""
    key = ("synth-upload-result", hashlib.sha1(data).hexdigest(), spec.get("dataset"), sampler.size)
    saved = st.session_state.get("synth-upload-result")
    if saved and saved[0] == key:
        return saved[1]
    from core.data.preprocess import Preprocessing, frame_to_unit_square, match_channels
    from core.data.readers import read_medical_image
    from core.synthesis.anomaly import anomaly_maps

    image = read_medical_image(data, name)
    unit = match_channels(frame_to_unit_square(image, 0, Preprocessing(size=sampler.size, channels=sampler.channels)),
                          sampler.channels)
    tensor = np.ascontiguousarray(unit.transpose(2, 0, 1))[None]
    heat, rebuilt, scores = anomaly_maps(sampler, tensor)
    result = (unit, rebuilt[0], heat[0], float(scores[0]))
    st.session_state["synth-upload-result"] = (key, result)
    return result


def _overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The heat map (H, W) in [0, 1] over a uint8 or [0, 1] image, enlarged for the page."""
    from core.evaluate.explain import overlay

    unit = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
    return display_image(overlay(unit, np.clip(heat, 0, 1)), 112)


def _number(value: Any) -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{float(value):.3f}"
