"""The Train page's sequence classification form (task "sequence"): model, frame encoder, recurrent layer and
pooling over time, pretrained weights, with the shared fields; and the single-frame baseline beside it.

The baseline (EchoNet-Dynamic's frames=1 arm, Ouyang et al., Nature 2020) sees one frame at a time; the gap between
it and a model of the whole clip is what the motion adds, so the form offers to queue it with the same settings.
"""
from __future__ import annotations

import streamlit as st

from core.data.store import DatasetInfo
from core.errors import UserError
from core.jobs.control import create_run
from core.models import imagenet_weights_file
from core.models.sequence_nets import (FRAME_ENCODERS, SEQUENCE_MODEL_INFO, SEQUENCE_MODELS, TEMPORAL_POOLING,
                                       VIDEO_NETS, kinetics_weights_file)
from core.models.torchvision_nets import imagenet_weights_folder
from core.tasks import TASK_NAMES
from core.tasks.classify import SINGLE_LABEL_METRICS
from pages.ui.jobs import run_store, session_limits
from pages.ui.sequence_player import frame_facts
from pages.ui.train_form import BATCH_SIZES, optimisation_fields, prepare, reset, run_fields, start

KEY = "seq-"
BASELINE_KEY = "seq-with-baseline"   # not a config key: whether Start also queues the single-frame baseline
BASELINE = "single_frame"
RECURRENT = ("cnn_lstm", "cnn_gru")
FRAME_SIZES = (16, 24, 32, 48, 64, 96, 112, 128, 160, 224)
MODEL_TEXT = {"cnn_lstm": "CNN + LSTM", "cnn_gru": "CNN + GRU", "single_frame": "Single-frame baseline",
              "r2plus1d_18": "R(2+1)D-18 (video)", "mc3_18": "MC3-18 (video)", "r3d_18": "R3D-18 (video)"}
ENCODER_TEXT = {"small_cnn": "Small CNN (MedLab's, trained from scratch)", "resnet18": "ResNet-18 (torchvision)"}
POOLING_TEXT = {"attention": "Attention weights", "mean": "Mean", "last": "Last step"}


def render_sequence_form(workspace: str, info: DatasetInfo) -> str | None:
    """Draw the form for sequence dataset `info`; returns the id of a run it queued (the model's, when the
    baseline was queued too), else None."""
    if "sequence" not in TASK_NAMES:
        st.info("Training a sequence model is not available in this version of MedLab.")
        return None
    if info.task != "classification" or len(info.classes) < 2:
        st.warning(f"**{info.name}** has no class labels, so a sequence classifier cannot be trained on it. Import "
                   "clips in class folders, or with a CSV of filename,label, on the Dataset page.")
        return None
    overrides = {"image_size": info.size}
    prepare(KEY, "sequence", info, overrides)
    st.caption(f"Task: **sequence classification** of {len(info.classes)} classes · "
               f"{info.split_counts.get('train', 0):,} training clips of "
               f"{frame_facts(info.frames, info.frame_time_ms)}.")
    st.button("Reset to the recommended recipe", on_click=reset, args=(KEY, "sequence", info, overrides),
              key=KEY + "reset")

    model_col, data_col, optim_col = st.columns(3)
    with model_col:
        model = _model_fields(info)
    with data_col:
        st.markdown("**Data**")
        st.number_input("Epochs", 1, 1000, key=KEY + "epochs")
        st.selectbox("Batch size (clips)", BATCH_SIZES, key=KEY + "batch_size")
        st.checkbox("Augment", key=KEY + "augment",
                    help="With the dataset's saved augmentation set. The same random transform is drawn once per "
                         "clip and applied to all of its frames, so augmentation never adds motion of its own. "
                         "Choose it on the Dataset page.")
        st.checkbox("Also queue the single-frame baseline", value=True, key=BASELINE_KEY, disabled=model == BASELINE,
                    help="The same data and settings with a model that sees one random frame per clip in training "
                         "and averages its logits over the frames at test time (EchoNet-Dynamic's frames=1 arm): "
                         "the gap to this model measures what the motion adds.")
        st.caption("Compare the two runs' test accuracy in the runs table, or tick both for their curves. On the "
                   "built-in cine phantom the baseline should stay near chance: its classes live in the motion only.")
    with optim_col:
        optimisation_fields(KEY)
    run_fields(KEY, (SINGLE_LABEL_METRICS[1], *[m for m in SINGLE_LABEL_METRICS if m != SINGLE_LABEL_METRICS[1]]))
    started = start(KEY, workspace, "sequence", info)
    if started and model != BASELINE and st.session_state.get(BASELINE_KEY):
        _queue_baseline(workspace, started)
    return started


def _model_fields(info: DatasetInfo) -> str:
    """The Model column; returns the chosen architecture. Fields a model does not use are disabled, not hidden (a
    hidden widget forgets its value)."""
    st.markdown("**Model**")
    model = st.selectbox("Architecture", SEQUENCE_MODELS, key=KEY + "model", format_func=lambda m: MODEL_TEXT.get(m, m),
                         help="\n\n".join(f"**{MODEL_TEXT.get(n, n)}**: {t}" for n, t in SEQUENCE_MODEL_INFO.items()))
    st.caption(SEQUENCE_MODEL_INFO.get(model, ""))
    video = model in VIDEO_NETS
    recurrent = model in RECURRENT
    encoder = st.selectbox("Frame encoder", FRAME_ENCODERS, key=KEY + "encoder", disabled=video,
                           format_func=lambda e: ENCODER_TEXT.get(e, e),
                           help="The 2-D network that turns each frame into features (video networks have their own).")
    st.number_input("Hidden size (recurrent layer)", 8, 1024, key=KEY + "hidden_size", step=16, disabled=not recurrent)
    st.checkbox("Bidirectional", key=KEY + "bidirectional", disabled=not recurrent,
                help="The recurrent layer reads the clip forwards and backwards.")
    st.selectbox("Pooling over time", TEMPORAL_POOLING, key=KEY + "temporal_pooling", disabled=not recurrent,
                 format_func=lambda p: POOLING_TEXT.get(p, p),
                 help="How the recurrent outputs become one clip vector: attention weights (learned, and shown on "
                      "the Evaluate page as which frames mattered), their mean, or the last step.")
    weights_file = kinetics_weights_file(model) if video else imagenet_weights_file(encoder)
    kind = "Kinetics-400" if video else "ImageNet"
    pretrained = st.checkbox(f"{kind}-pretrained weights", key=KEY + "pretrained", disabled=weights_file is None,
                             help="Video networks start from Kinetics-400 action-recognition weights, 2-D encoders "
                                  "from ImageNet; the small CNN has none.")
    if pretrained and weights_file:
        folder = imagenet_weights_folder()
        if (folder / weights_file).exists():
            st.caption(f"Weights cached: {weights_file} in `{folder}`")
        else:
            st.caption(f"Weights will be downloaded (needs internet): {weights_file}, into `{folder}`; offline, "
                       "place that file there first.")
    st.selectbox("Frame size", sorted({*FRAME_SIZES, info.size}), key=KEY + "image_size",
                 format_func=lambda s: f"{s} px" + (" (the dataset's)" if s == info.size else ""))
    return model


def _queue_baseline(workspace: str, run_id: str) -> None:
    """Queue the single-frame baseline with the config of run `run_id` (its data, epochs, optimiser, seed)."""
    store = run_store()
    config = store.config(store.get(run_id))
    name = config.get("name") or ""
    config.update(model=BASELINE, pretrained=config.get("pretrained") and config.get("encoder") != "small_cnn",
                  name=f"{name} (single-frame baseline)" if name else "single-frame baseline")
    try:
        create_run(store, workspace, config, limits=session_limits())
    except UserError as error:
        st.error(f"The single-frame baseline was not queued: {error.message}")
