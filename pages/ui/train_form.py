"""The Train page's form: every config key with the recommended recipe as default; Start queues a run."""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.data.augment import load_augmentation
from core.data.stats import imbalance_advice
from core.data.store import DatasetInfo
from core.device import available_devices
from core.errors import UserError
from core.jobs.control import create_run
from core.models import MODEL_INFO, MODEL_NAMES, imagenet_weights_file
from core.settings import cache_dir
from core.tasks import recipe
from core.tasks.classify import IMBALANCE_REMEDIES, MULTI_LABEL_METRICS, SINGLE_LABEL_METRICS
from core.train.config import AMP_MODES, OPTIMIZERS, SCHEDULERS
from pages.ui.jobs import run_store

BATCH_SIZES = (8, 16, 32, 64, 128, 256)
IMAGE_SIZES = (28, 32, 48, 64, 96, 128, 160, 192, 224, 256)
REMEDY_TEXT = {"none": "None", "class_weights": "Class-weighted loss", "sampler": "Weighted sampler"}
KEY = "train-"


def _reset(info: DatasetInfo) -> None:
    """Put every field back to the recommended recipe (a button callback: runs before widgets are drawn)."""
    defaults = recipe("multilabel" if info.task == "multilabel" else "classification", info.id).as_dict()
    for name, value in defaults.items():
        st.session_state[KEY + name] = value
    st.session_state[KEY + "image_size"] = info.size
    st.session_state[KEY + "monitor"] = defaults["monitor"] or (MULTI_LABEL_METRICS if info.task == "multilabel"
                                                                 else SINGLE_LABEL_METRICS)[1]


def render_form(workspace: str, info: DatasetInfo) -> str | None:
    """Draw the form for `info`; returns the id of a run it queued, else None."""
    if info.task == "unlabelled":
        st.warning(f"**{info.name}** has no labels, so a classifier cannot be trained on it: it can be viewed and "
                   "used for enhancement and synthesis. Import labelled data (class folders or a CSV of "
                   "filename,label) on the Dataset page to train a classifier.")
        return None
    if KEY + "model" not in st.session_state or st.session_state.get(KEY + "dataset") != info.id:
        _reset(info)
    multilabel = info.task == "multilabel"
    st.caption(f"Task: **{'multi-label' if multilabel else 'single-label'} classification** of "
               f"{len(info.classes)} classes · {info.split_counts.get('train', 0):,} training images.")
    st.button("Reset to the recommended recipe", on_click=_reset, args=(info,), key=KEY + "reset")

    model_col, data_col, optim_col = st.columns(3)
    with model_col:
        st.markdown("**Model**")
        model = st.selectbox("Architecture", MODEL_NAMES, key=KEY + "model", help="\n\n".join(
            f"**{name}**: {text}" for name, text in MODEL_INFO.items()))
        st.caption(MODEL_INFO[model])
        pretrained = st.checkbox("ImageNet-pretrained weights", key=KEY + "pretrained", disabled=model == "small_cnn")
        if pretrained and model != "small_cnn":
            file = imagenet_weights_file(model)
            cached = (cache_dir("torch", "hub", "checkpoints") / file).exists()
            st.caption(f"Weights {'cached' if cached else 'will be downloaded (needs internet)'}: {file}")
        st.checkbox("Freeze the backbone (train the head only)", key=KEY + "freeze_backbone",
                    disabled=not pretrained)
        st.selectbox("Image size", sorted({*IMAGE_SIZES, info.size}), key=KEY + "image_size",
                     format_func=lambda s: f"{s} px" + (" (the dataset's)" if s == info.size else ""))
    with data_col:
        st.markdown("**Data**")
        st.number_input("Epochs", 1, 1000, key=KEY + "epochs")
        st.selectbox("Batch size", BATCH_SIZES, key=KEY + "batch_size")
        _imbalance(info, multilabel)
        augmentation = load_augmentation(workspace, info.id)
        st.checkbox("Augment with the dataset's saved set", key=KEY + "augment",
                    help="Choose and preview augmentations on the Dataset page.")
        st.caption("Saved set: " + ", ".join(augmentation.describe()))
        st.number_input("Seed", 0, 2**31 - 1, key=KEY + "seed")
    with optim_col:
        st.markdown("**Optimisation**")
        optimizer = st.selectbox("Optimiser", OPTIMIZERS, key=KEY + "optimizer")
        st.number_input("Learning rate", 1e-6, 10.0, key=KEY + "lr", format="%.5f", step=1e-4)
        # fields that do not apply are disabled, not hidden: a hidden widget would forget its value
        st.number_input("Momentum (SGD)", 0.0, 0.999, key=KEY + "momentum", disabled=optimizer != "sgd")
        st.checkbox("Nesterov (SGD)", key=KEY + "nesterov", disabled=optimizer != "sgd")
        st.number_input("Weight decay", 0.0, 1.0, key=KEY + "weight_decay", format="%.5f", step=1e-4)
        scheduler = st.selectbox("Schedule", SCHEDULERS, key=KEY + "scheduler", format_func=lambda s: {
            "none": "constant", "step": "step decay", "cosine": "cosine with warm-up", "onecycle": "one-cycle",
            "plateau": "reduce on plateau"}[s])
        st.number_input("Warm-up epochs (cosine)", 0.0, 100.0, key=KEY + "warmup_epochs", disabled=scheduler != "cosine")
        st.number_input("Step every (epochs)", 1, 1000, key=KEY + "step_epochs", disabled=scheduler != "step")
        st.number_input("Multiply the rate by (step, plateau)", 0.01, 1.0, key=KEY + "gamma",
                        disabled=scheduler not in ("step", "plateau"))
        st.number_input("Label smoothing", 0.0, 0.5, key=KEY + "label_smoothing", step=0.05,
                        disabled=multilabel)
        st.number_input("Gradient clipping (max norm, 0 = off)", 0.0, 100.0, key=KEY + "grad_clip")

    stop_col, device_col, name_col = st.columns(3)
    with stop_col:
        early = st.checkbox("Early stopping", key=KEY + "early_stopping")
        metrics = MULTI_LABEL_METRICS if multilabel else SINGLE_LABEL_METRICS
        if st.session_state.get(KEY + "monitor") not in metrics:
            st.session_state[KEY + "monitor"] = metrics[1]
        st.selectbox("Best model by", metrics, key=KEY + "monitor")
        st.number_input("Patience (epochs)", 1, 100, key=KEY + "patience", disabled=not early)
    with device_col:
        devices = ["auto", *[d.id for d in available_devices()]]
        st.selectbox("Device", devices, key=KEY + "device",
                     format_func=lambda d: "auto (a GPU if there is one)" if d == "auto" else d)
        st.selectbox("Mixed precision (CUDA)", AMP_MODES, key=KEY + "amp")
    with name_col:
        st.text_input("Run name (optional)", key=KEY + "name")
    if st.button("Start training", type="primary", key=KEY + "start"):
        try:
            record = create_run(run_store(), workspace, _config(info))
        except UserError as error:
            st.error(error.message)
            return None
        return record.id
    return None


def _imbalance(info: DatasetInfo, multilabel: bool) -> None:
    counts = info.class_counts.get("train", {})
    st.radio("Class imbalance remedy", [r for r in IMBALANCE_REMEDIES if not (multilabel and r == "sampler")],
             key=KEY + "imbalance", format_func=REMEDY_TEXT.get, horizontal=True)
    if counts:
        st.dataframe(pd.DataFrame({"training images": counts}).T, width="stretch")
    advice = imbalance_advice(counts)
    if advice:
        st.caption(advice)


def _config(info: DatasetInfo) -> dict[str, Any]:
    """The config from the widgets, with only the keys that apply."""
    keys = recipe("classification", info.id).as_dict().keys()
    config = {name: st.session_state[KEY + name] for name in keys if KEY + name in st.session_state}
    config.update(dataset=info.id, task="multilabel" if info.task == "multilabel" else "classification")
    return config
