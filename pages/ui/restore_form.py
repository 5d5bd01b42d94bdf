"""The Train page's restoration form (denoising, super-resolution), with the shared fields."""
from __future__ import annotations

import streamlit as st

from core.data.store import DatasetInfo
from core.enhance.degrade import DEGRADATIONS
from core.models.restoration import RESTORATION_INFO
from core.tasks.restore import LOSSES, PATCHES_PER_IMAGE, device_kind, device_recipe, epoch_steps, training_intensity
from pages.ui.jobs import run_store
from pages.ui.train_form import BATCH_SIZES, optimisation_fields, prepare, reset, run_fields, start

KEY = {"denoise": "denoise-", "super_resolution": "sr-"}
DEGRADATION_TEXT = {"gaussian": "Gaussian noise", "poisson": "Poisson noise (low dose)", "blur": "Blur"}
LOSS_TEXT = {"l1": "L1", "l1_ssim": "L1 + SSIM", "adversarial": "L1 + SSIM + adversarial (SRGAN)"}


def render_restore_form(workspace: str, info: DatasetInfo, task: str) -> str | None:
    key = KEY[task]
    prepare(key, task, info)
    _follow_device(key, task)
    model = "resunet" if task == "denoise" else "srresnet"
    st.caption(f"Task: **{'denoising' if task == 'denoise' else 'super-resolution'}** learned from "
               f"{info.split_counts.get('train', 0):,} clean training images of **{info.name}** "
               f"({info.size} px); any dataset works, labels are not used.")
    kept = training_intensity(info)
    if not kept["native_resolution"] or kept["intensity"] != "full_range":
        st.info("These images were " + ("resized on import" if not kept["native_resolution"] else "windowed on import")
                + ", so a model would learn on images unlike the files it later restores. For restoration, import "
                "with **For restoration: keep native resolution and intensities** (CLI: `import --for restoration`).")
    st.button("Reset to the recommended recipe", on_click=reset, args=(key, task, info), key=key + "reset")
    model_col, data_col, optim_col = st.columns(3)
    with model_col:
        st.markdown("**Model and degradation**")
        st.caption(RESTORATION_INFO[model])
        if task == "denoise":
            degradation = st.selectbox("Degradation", DEGRADATIONS, key=key + "degradation",
                                       format_func=DEGRADATION_TEXT.get)
            st.number_input("Noise level σ (images in [0, 1])", 0.0, 1.0, key=key + "sigma", step=0.01,
                            format="%.3f")
            st.number_input("Blur σ (pixels)", 0.1, 10.0, key=key + "blur", step=0.1, disabled=degradation != "blur")
        else:
            st.selectbox("Scale", (2, 4), key=key + "scale", format_func=lambda s: f"×{s}")
            st.number_input("Noise level σ added to the small image", 0.0, 1.0, key=key + "sigma", step=0.01,
                            format="%.3f")
        loss = st.selectbox("Loss", [x for x in LOSSES if task == "super_resolution" or x != "adversarial"],
                            key=key + "loss", format_func=LOSS_TEXT.get)
        st.number_input("SSIM weight", 0.0, 1.0, key=key + "ssim_weight", step=0.02, disabled=loss == "l1")
        if task == "super_resolution":
            st.number_input("Adversarial weight", 0.0, 1.0, key=key + "adversarial_weight", format="%.4f",
                            step=1e-4, disabled=loss != "adversarial")
            _init_from(workspace, key)
    with data_col:
        st.markdown("**Data**")
        st.number_input("Epochs", 1, 1000, key=key + "epochs")
        max_steps = st.number_input("Steps per epoch, at most", 1, 100_000, key=key + "max_steps_per_epoch",
                                    help=f"An epoch draws {PATCHES_PER_IMAGE} random patches per training image, "
                                         "up to this many batches, so a big dataset does not make an epoch huge.")
        st.selectbox("Batch size", BATCH_SIZES, key=key + "batch_size")
        st.selectbox("Patch size", [p for p in (32, 48, 64, 96, 128, 256) if p <= info.size] or [info.size],
                     key=key + "patch_size")
        st.checkbox("Random flips and 90° turns of the patches", key=key + "augment")
        steps = epoch_steps(info.split_counts.get("train", 0), st.session_state[key + "batch_size"], max_steps)
        device = st.session_state.get(key + "device", "auto")
        recommended = device_recipe(task, device)
        st.caption(f"An epoch here: {steps:,} steps of {st.session_state[key + 'batch_size']} patches. Recipe for "
                   f"{'a GPU' if device_kind(device) == 'cuda' else 'the CPU'}: {recommended['epochs']} epochs of "
                   f"at most {recommended['max_steps_per_epoch']:,} steps.")
    with optim_col:
        optimisation_fields(key)
    run_fields(key, ("val_psnr", "val_ssim", "val_loss"))
    return start(key, workspace, task, info)


def _follow_device(key: str, task: str) -> None:
    """When the chosen device changes kind (CPU, GPU), the recipe's length follows it: fields still at the old
    device's recipe take the new one's; values the user typed are kept. Runs before those fields are drawn."""
    kind = device_kind(st.session_state.get(key + "device", "auto"))
    last, st.session_state[key + "recipe-device"] = st.session_state.get(key + "recipe-device"), kind
    if last is not None and last != kind:
        for name, value in device_recipe(task, last).items():
            if st.session_state.get(key + name) == value:
                st.session_state[key + name] = device_recipe(task, kind)[name]


def _init_from(workspace: str, key: str) -> None:
    """SRGAN fine-tuning starts from an L1-trained super-resolution run of the same scale."""
    runs = [r for r in run_store().list(workspace, statuses=("completed",)) if r.task == "super_resolution"]
    options = ["", *[r.id for r in runs]]
    if st.session_state.get(key + "init_from") not in options:
        st.session_state[key + "init_from"] = ""
    st.selectbox("Start from run (for SRGAN fine-tuning)", options, key=key + "init_from",
                 format_func=lambda r: "scratch" if not r else f"{r} ({next(x.name for x in runs if x.id == r) or 'no name'})")
