"""The Evaluate page's Explain and Predict tabs: class activation maps on test images, and predictions with
calibrated probabilities, an out-of-distribution check and an overlay for uploaded files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from core.data.medical_image import image_from_array
from core.data.store import Dataset
from core.evaluate.explain import EXPLAINERS, overlay
from core.evaluate.predict import (Prediction, Predictor, explain, load_predictor, predict_files, predict_image,
                                  predictions_csv)
from core.jobs.store import RunStore
from core.train.run_folder import weights_version
from pages.ui.images import display_image

MAX_FILES = 200


@st.cache_resource(max_entries=4, show_spinner="Loading the model")
def cached_predictor(folder: str, weights_modified: float) -> Predictor:
    """One loaded model per run folder (and weights version), shared by every session: treat it as read-only."""
    return load_predictor(Path(folder))


def predictor_for(store: RunStore, run_id: str) -> Predictor:
    folder = store.run_folder(run_id)
    return cached_predictor(str(folder), weights_version(folder))


def _method_and_opacity(key: str) -> tuple[str, float]:
    left, right = st.columns(2)
    method = left.radio("Explanation", list(EXPLAINERS), horizontal=True, key=f"{key}-method",
                        format_func=lambda m: EXPLAINERS[m][0])
    opacity = right.slider("Overlay opacity", 0.0, 1.0, 0.45, 0.05, key=f"{key}-opacity")
    return method, opacity


def render_explain(predictor: Predictor, dataset: Dataset, key: str) -> None:
    test = dataset.indices("test")
    if not len(test):
        st.info("This dataset has no test images to explain.")
        return
    items = dataset.items
    position = st.slider("Test image", 0, len(test) - 1, 0, key=f"{key}-image")
    index = int(test[position])
    method, opacity = _method_and_opacity(key)
    prediction = predict_image(predictor, image_from_array(items["name"].iloc[index], np.asarray(dataset.images[index])),
                               method=method)
    true = items["label"].iloc[index].replace("|", ", ")
    target = st.selectbox("Explain the score of", predictor.classes, key=f"{key}-target-{index}",
                          index=predictor.classes.index(prediction.label) if prediction.label in predictor.classes else 0)
    heat = prediction.heat if target == prediction.label else explain(predictor, prediction, target, method)
    if prediction.out_of_distribution:
        st.warning("**Out of distribution — prediction not reliable:** " + "; ".join(prediction.ood.reasons) + ".")
    left, right = st.columns(2)
    left.image(display_image(prediction.image, 256), caption=f"{items['name'].iloc[index]} · true: {true}", width="stretch")
    right.image(overlay(prediction.image, heat, opacity), width="stretch",
                caption=f"{EXPLAINERS[method][0]} for '{target}' · predicted {prediction.label} "
                        f"({prediction.probabilities.get(prediction.label, 0):.2f})")


def render_predict(predictor: Predictor, key: str) -> None:
    st.write("Upload images to classify. DICOM files are de-identified and windowed exactly as the training data "
             "were; nothing you upload here is stored.")
    uploads = st.file_uploader("PNG, JPEG, TIFF, BMP or DICOM", accept_multiple_files=True, key=f"{key}-upload")
    if not uploads:
        return
    if len(uploads) > MAX_FILES:
        st.error(f"Choose at most {MAX_FILES} files at a time.")
        return
    method, opacity = _method_and_opacity(f"{key}-predict")
    predictions, errors = predict_files(predictor, [(u.name, u.getvalue()) for u in uploads], method=method)
    for name, reason in errors:
        st.error(f"{name}: {reason}")
    if not predictions:
        return
    unreliable = [p.file for p in predictions if p.out_of_distribution]
    if unreliable:  # said before any result, so no prediction is read without it
        st.error(f"**Out of distribution — {len(unreliable)} of {len(predictions)} predictions not reliable** "
                 f"({', '.join(unreliable)}): these images look unlike the training data, so what the model says "
                 "about them should not be trusted. Each is marked below.")
    table = pd.DataFrame([p.row() for p in predictions])
    st.dataframe(table, hide_index=True, width="stretch")
    st.download_button("Download results (CSV)", predictions_csv(predictions), file_name="predictions.csv",
                       mime="text/csv", key=f"{key}-csv", on_click="ignore")  # no rerun: predict once
    for position, prediction in enumerate(predictions):
        st.divider()
        _one_prediction(prediction, method, opacity, f"{key}-{position}")


def _one_prediction(prediction: Prediction, method: str, opacity: float, key: str) -> None:
    """One file's result; an out-of-distribution flag comes first and greys out the result below it."""
    flagged = prediction.out_of_distribution
    if flagged:
        st.error(f"**Out of distribution — prediction not reliable.** {prediction.file} looks unlike the training "
                 "data, so the class, probabilities and heat map below should not be trusted: "
                 + "; ".join(prediction.ood.reasons) + ".")
    left, middle, right = st.columns(3)
    left.image(display_image(prediction.image, 256), caption=f"{prediction.file}", width="stretch")
    caption = f"{EXPLAINERS[method][0]} for {prediction.label}"
    middle.image(overlay(prediction.image, prediction.heat, opacity), width="stretch",
                 caption=caption + (" — unreliable: the image is out of distribution" if flagged else ""))
    probabilities = pd.DataFrame({"class": list(prediction.probabilities),
                                  "probability": list(prediction.probabilities.values())})
    chart = px.bar(probabilities, x="probability", y="class", orientation="h", range_x=[0, 1],
                   title=f"Predicted: {prediction.label}")
    chart.update_layout(height=240, margin=dict(t=40, b=10, l=10, r=10))
    if flagged:  # greyed, and labelled across the bars
        chart.update_traces(marker_color="lightgrey", opacity=0.6)
        chart.add_annotation(text="NOT RELIABLE: out of distribution", x=0.5, y=0.5, xref="paper", yref="paper",
                             showarrow=False, font=dict(color="firebrick", size=14), bgcolor="rgba(255,255,255,0.8)")
    right.plotly_chart(chart, width="stretch", key=f"{key}-bars")
