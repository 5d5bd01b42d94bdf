"""The Train page's classification form: model, data and imbalance remedy, with the shared fields."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data.augment import load_augmentation
from core.data.stats import imbalance_advice
from core.data.store import DatasetInfo
from core.models import CLASSIFIER_INFO, CLASSIFIER_NAMES, imagenet_weights_file
from core.models.torchvision_nets import imagenet_weights_folder
from core.tasks.classify import IMBALANCE_REMEDIES, MULTI_LABEL_METRICS, SINGLE_LABEL_METRICS
from pages.ui.train_form import BATCH_SIZES, optimisation_fields, prepare, reset, run_fields, start, workers_fields

KEY = "train-"
IMAGE_SIZES = (28, 32, 48, 64, 96, 128, 160, 192, 224, 256)
REMEDY_TEXT = {"none": "None", "class_weights": "Class-weighted loss", "sampler": "Weighted sampler"}


def render_classify_form(workspace: str, info: DatasetInfo) -> str | None:
    """Draw the form for `info`; returns the id of a run it queued, else None."""
    if info.task == "unlabelled":
        st.warning(f"**{info.name}** has no labels, so a classifier cannot be trained on it: it can be viewed and "
                   "used for enhancement and synthesis. Import labelled data (class folders or a CSV of "
                   "filename,label) on the Dataset page to train a classifier.")
        return None
    multilabel = info.task == "multilabel"
    task = "multilabel" if multilabel else "classification"
    overrides = {"image_size": info.size}
    prepare(KEY, task, info, overrides)
    st.caption(f"Task: **{'multi-label' if multilabel else 'single-label'} classification** of "
               f"{len(info.classes)} classes · {info.split_counts.get('train', 0):,} training images.")
    st.button("Reset to the recommended recipe", on_click=reset, args=(KEY, task, info, overrides), key=KEY + "reset")

    model_col, data_col, optim_col = st.columns(3)
    with model_col:
        st.markdown("**Model**")
        model = st.selectbox("Architecture", CLASSIFIER_NAMES, key=KEY + "model", help="\n\n".join(
            f"**{name}**: {text}" for name, text in CLASSIFIER_INFO.items()))
        st.caption(CLASSIFIER_INFO[model])
        pretrained = st.checkbox("ImageNet-pretrained weights", key=KEY + "pretrained", disabled=model == "small_cnn")
        if pretrained and model != "small_cnn":
            file = imagenet_weights_file(model)
            folder = imagenet_weights_folder()
            if (folder / file).exists():
                st.caption(f"Weights cached: {file} in `{folder}`")
            else:
                st.caption(f"Weights will be downloaded (needs internet): {file}, into `{folder}`; offline, "
                           "place that file there first.")
        st.checkbox("Freeze the backbone", key=KEY + "freeze_backbone", disabled=not pretrained,
                    help="Train the classification head only; the pretrained backbone stays as it is.")
        st.selectbox("Image size", sorted({*IMAGE_SIZES, info.size}), key=KEY + "image_size",
                     format_func=lambda s: f"{s} px" + (" (the dataset's)" if s == info.size else ""))
    with data_col:
        st.markdown("**Data**")
        st.number_input("Epochs", 1, 1000, key=KEY + "epochs")
        st.selectbox("Batch size", BATCH_SIZES, key=KEY + "batch_size")
        workers_fields(KEY)
        _imbalance(info, multilabel)
        augmentation = load_augmentation(workspace, info.id)
        st.checkbox("Augment", key=KEY + "augment",
                    help="With the dataset's saved augmentation set; choose and preview it on the Dataset page.")
        st.caption("Saved set: " + ", ".join(augmentation.describe()))
        st.number_input("Label smoothing", 0.0, 0.5, key=KEY + "label_smoothing", step=0.05, disabled=multilabel)
    with optim_col:
        optimisation_fields(KEY)
    metrics = MULTI_LABEL_METRICS if multilabel else SINGLE_LABEL_METRICS
    run_fields(KEY, (metrics[1], *[m for m in metrics if m != metrics[1]]))
    return start(KEY, workspace, task, info)


def _imbalance(info: DatasetInfo, multilabel: bool) -> None:
    counts = info.class_counts.get("train", {})
    st.radio("Class imbalance remedy", [r for r in IMBALANCE_REMEDIES if not (multilabel and r == "sampler")],
             key=KEY + "imbalance", format_func=REMEDY_TEXT.get, horizontal=True)
    if counts:
        st.dataframe(pd.DataFrame({"training images": counts}).T, width="stretch")
    advice = imbalance_advice(counts)
    if advice:
        st.caption(advice)
