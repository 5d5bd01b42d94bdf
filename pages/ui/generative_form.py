"""The Train page's form for the generative tasks (GAN, VAE / autoencoder, diffusion), with the shared fields.

The fields come from the task's recommended recipe (core.tasks.recipe): the ones every run has (epochs, batch,
image size, learning rate, stopping, device) in fixed places, and each task's own keys in the Model column, with
a line of help for the keys known here and a plain widget by type for any other. Fields a person rarely changes
(optimiser, schedule) keep the recipe's values.
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any

import streamlit as st

from core.data.store import DatasetInfo
from core.errors import UserError
from core.tasks import TASK_NAMES, load_config, recipe
from core.tasks.restore import device_kind
from core.train.config import TrainConfig
from pages.ui.train_form import BATCH_SIZES, prepare, reset, run_fields, start

KEY = {"gan": "gan-", "vae": "vae-", "autoencoder": "autoencoder-", "diffusion": "diffusion-"}
KIND_KEY = "generative-vae-kind"
IMAGE_SIZES = (16, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128)  # those a task refuses are not offered
TASK_TEXT = {"gan": "GAN: a generator learns to fool a discriminator (DCGAN, Radford et al. 2016)",
             "vae": "VAE: an encoder-decoder with a Gaussian latent space (Kingma & Welling 2014)",
             "autoencoder": "plain autoencoder: an encoder-decoder trained on reconstruction alone",
             "diffusion": "Diffusion: a small DDPM (Ho et al. 2020) sampled with DDIM (Song et al. 2021)"}
SHOWN_ELSEWHERE = {"task", "model", "epochs", "batch_size", "image_size", "lr", "seed", "device", "amp", "name",
                   "monitor", "early_stopping", "patience", "train_class", "conditional"}
# the shared config keys a person rarely changes for these models: kept at the recipe's values
KEPT = {f.name for f in fields(TrainConfig)} - SHOWN_ELSEWHERE
HELP = {
    "conditional": "Learn one model for every class and choose the class when sampling (a projection "
                   "discriminator, Miyato & Koyama 2018). Off: one model of all images, classes mixed.",
    "train_class": "Train on this class only. For anomaly detection train an autoencoder on the normal class: "
                   "images of the other classes then reconstruct badly, and the error scores them.",
    "beta": "Weight of the KL term (beta-VAE, Higgins et al. 2017): higher gives a smoother latent space and "
            "blurrier reconstructions.",
    "latent_dim": "Size of the latent vector.",
    "z_dim": "Size of the generator's noise vector.",
    "lr_d": "Discriminator learning rate (two-timescale update rule, Heusel et al. 2017: usually higher than "
            "the generator's).",
    "lr_g": "Generator learning rate.",
    "d_lr": "Discriminator learning rate (two-timescale update rule, Heusel et al. 2017).",
    "ema": "Exponential moving average of the generator's weights (samples come from the average).",
    "ema_decay": "Decay of the moving average of the generator's weights (closer to 1: smoother, slower).",
    "beta1": "Adam's first-moment decay for both networks (0 is usual for GANs).",
    "beta2": "Adam's second-moment decay for both networks.",
    "diffaugment": "Differentiable augmentation of real and fake images (Zhao et al. 2020; comma-separated: "
                   "translation, color, cutout): keeps the discriminator from memorising a small dataset.",
    "diffaug": "Differentiable augmentation of real and fake images (Zhao et al. 2020): keeps the "
               "discriminator from memorising a small dataset.",
    "diff_augment": "Differentiable augmentation of real and fake images (Zhao et al. 2020): keeps the "
                    "discriminator from memorising a small dataset.",
    "spectral_norm": "Spectral normalisation of the discriminator (Miyato et al. 2018): steadier training.",
    "width": "Channels of the first layer; the network doubles them as it goes down.",
    "channels_base": "Channels of the first layer; the network doubles them as it goes down.",
    "timesteps": "Noise steps of the diffusion process during training.",
    "train_timesteps": "Noise steps of the diffusion process during training.",
    "ddim_steps": "Denoising steps when sampling with DDIM: fewer are faster, more are finer.",
    "sample_steps": "Denoising steps when sampling: fewer are faster, more are finer.",
    "aux_weight": "Weight of an auxiliary classifier in the discriminator (AC-GAN, Odena et al. 2017) that "
                  "pushes each generated image to look like its class; 0 = projection only.",
    "report_samples": "Generated images judged against the real test split in the final report.",
    "val_samples": "Images generated to measure the validation FD after each epoch (more: steadier, slower).",
    "max_steps_per_epoch": "An epoch stops after this many batches, so a big dataset does not make it huge.",
    "truncation": "Truncation of the noise when sampling (below 1: more typical, less varied images).",
    "loss": "Per-pixel reconstruction loss: binary cross-entropy (bce) suits images in [0, 1]; l1 and mse are the "
            "plain absolute and squared errors.",
    "base_channels": "Channels of the first layer; the network doubles them at each halving.",
}
CHOICES = {("vae", "loss"): ("l1", "mse", "bce"), ("autoencoder", "loss"): ("l1", "mse", "bce"),
           ("gan", "loss"): ("hinge", "non_saturating")}  # string keys with a fixed set of values
TASK_HELP = {("gan", "loss"): "The adversarial loss: hinge (Lim & Ye 2017, with spectral normalisation the usual "
                             "choice) or the non-saturating loss of the original GAN (Goodfellow et al. 2014)."}
UNUSED = {("autoencoder", "beta")}         # keys a task has but ignores: shown disabled
SAMPLE_NOTE = ("Every epoch saves a grid of samples from the same fixed noise: the run view below shows it live, "
               "with a slider to replay how the samples evolved.")


def task_choice() -> str:
    """The config task of the VAE / autoencoder choice (the Train page's radio has one entry for both)."""
    return st.session_state.get(KIND_KEY, "vae")


def render_generative_form(workspace: str, info: DatasetInfo, family: str) -> str | None:
    """Draw the form for `family` ("gan", "vae" (VAE or plain autoencoder), "diffusion") and `info`; returns the
    id of a run it queued, else None."""
    if family == "vae":
        task = st.radio("Model", ("vae", "autoencoder"), key=KIND_KEY, horizontal=True,
                        format_func=lambda t: "VAE" if t == "vae" else "Plain autoencoder")
    else:
        task = family
    if task not in TASK_NAMES:
        st.info(f"Training a {family.upper()} is not available in this version of MedLab.")
        return None
    key = KEY[task]
    labelled = info.task == "classification" and len(info.classes) >= 2
    if task == "gan" and not labelled:
        st.warning(f"**{info.name}** has no class labels. A GAN is judged by the Fréchet distance on the features of "
                   "a classifier trained on the dataset's classes, so it needs a labelled dataset: choose one above "
                   "or import class folders on the Dataset page.")
        return None
    try:
        overrides = _size_override(task, info)
        prepare(key, task, info, overrides)
        _follow_device(key, task, info)
    except UserError as error:
        st.error(error.message)
        return None
    one_class = st.session_state.get(key + "train_class") or ""
    count = info.class_counts.get("train", {}).get(one_class, 0) if one_class else info.split_counts.get("train", 0)
    st.caption(f"Task: **{TASK_TEXT[task]}**, learned from {count:,} training images of **{info.name}**"
               + (f" (class '{one_class}' only)" if one_class else "") + f" ({info.size} px). {SAMPLE_NOTE}")
    st.button("Reset to the recommended recipe", on_click=reset, args=(key, task, info, overrides), key=key + "reset")
    values = recipe(task, info.id).as_dict()
    model_col, data_col, own_col = st.columns(3)
    with model_col:
        st.markdown("**Model**")
        st.caption(f"Architecture: `{values.get('model', task)}`")
        if "conditional" in values:
            if not labelled:  # before the widget is drawn: no classes to condition on
                st.session_state[key + "conditional"] = False
            st.checkbox("Class-conditional", key=key + "conditional", help=HELP["conditional"],
                        disabled=not labelled)
        if "train_class" in values:
            options = ["", *info.classes]
            if st.session_state.get(key + "train_class") not in options:
                st.session_state[key + "train_class"] = ""
            st.selectbox("Train on class", options, key=key + "train_class", help=HELP["train_class"],
                         format_func=lambda c: c or "every class")
        sizes = image_sizes(task, info)
        if st.session_state.get(key + "image_size") not in sizes:
            st.session_state[key + "image_size"] = info.size if info.size in sizes else 64 if 64 in sizes else sizes[0]
        st.selectbox("Image size", sizes, key=key + "image_size",
                     format_func=lambda s: f"{s} px" + (" (the dataset's)" if s == info.size else ""))
    with data_col:
        st.markdown("**Data and optimisation**")
        st.number_input("Epochs", 1, 10_000, key=key + "epochs")
        if st.session_state.get(key + "batch_size") not in BATCH_SIZES:
            st.session_state[key + "batch_size"] = 64
        st.selectbox("Batch size", BATCH_SIZES, key=key + "batch_size")
        st.number_input("Learning rate" + (" (generator)" if task == "gan" else ""), 1e-6, 10.0, key=key + "lr",
                        format="%.5f", step=1e-4)
    with own_col:
        st.markdown(f"**{ {'gan': 'GAN', 'vae': 'VAE'}.get(task, task.capitalize()) } settings**")
        for name, value in values.items():
            if name not in SHOWN_ELSEWHERE and name not in KEPT:
                _field(key, name, value, CHOICES.get((task, name)), TASK_HELP.get((task, name), HELP.get(name)),
                       disabled=(task, name) in UNUSED)
    run_fields(key, ("val_fd", "val_loss") if labelled else ("val_loss",))
    return start(key, workspace, task, info)


def _follow_device(key: str, task: str, info: DatasetInfo) -> None:
    """GAN and diffusion recipes depend on the device (a GPU affords more epochs, steps and width): when the chosen
    device changes kind, fields still at the old kind's recipe take the new one's; values the user typed are
    kept. Runs before those fields are drawn."""
    kind = device_kind(st.session_state.get(key + "device", "auto"))
    last, st.session_state[key + "recipe-device"] = st.session_state.get(key + "recipe-device"), kind
    if last is None or last == kind:
        return
    before, after = (load_config({"task": task, "dataset": info.id, "device": d}).as_dict() for d in (last, kind))
    for name, value in after.items():
        if name != "device" and before.get(name) != value and st.session_state.get(key + name) == before.get(name):
            st.session_state[key + name] = value


def image_sizes(task: str, info: DatasetInfo) -> list[int]:
    """The sizes `task` accepts (its config refuses the others, e.g. a GAN's 28-128 px of the form s0 * 2^k), among
    IMAGE_SIZES and the dataset's own, in multiples of 4 (the networks halve the image at least twice)."""
    sizes = []
    for size in sorted({*IMAGE_SIZES, info.size}):
        if size % 4 or not IMAGE_SIZES[0] <= size <= IMAGE_SIZES[-1]:
            continue
        try:
            load_config({"task": task, "dataset": info.id, "image_size": size})
        except UserError:
            continue
        sizes.append(size)
    return sizes or [64]


def _size_override(task: str, info: DatasetInfo) -> dict[str, Any]:
    """The dataset's own size where the model can work at it, else the nearest size it can."""
    sizes = image_sizes(task, info)
    return {"image_size": min(sizes, key=lambda s: (abs(s - info.size), -s))}


LABELS = {"lr_d": "Learning rate (discriminator)", "lr_g": "Learning rate (generator)", "beta1": "Adam β1",
          "beta2": "Adam β2", "ema_decay": "EMA decay", "aux_weight": "Auxiliary classifier weight",
          "diffaugment": "DiffAugment policy", "val_samples": "Samples per validation FD",
          "report_samples": "Samples in the final report", "latent_dim": "Latent dimensions", "beta": "β (KL weight)",
          "loss": "Loss", "sample_steps": "DDIM steps", "base_channels": "Base channels",
          "layers_per_block": "Layers per UNet block", "max_steps_per_epoch": "Steps per epoch (at most)"}


def _field(key: str, name: str, value: Any, choices: tuple[str, ...] | None, help_text: str | None,
           disabled: bool = False) -> None:
    """A widget for one of the task's own config keys, by the type of its recipe value."""
    label = LABELS.get(name, name.replace("_", " ").capitalize())
    common = dict(key=key + name, help=help_text, disabled=disabled)
    if choices:
        st.selectbox(label, choices, **common)
    elif isinstance(value, bool):
        st.checkbox(label, **common)
    elif isinstance(value, int):
        st.number_input(label, 0, 1_000_000, **common)
    elif isinstance(value, float):
        st.number_input(label, 0.0, 1e6, format="%.5g", step=_step(value), **common)
    elif isinstance(value, str):
        st.text_input(label, **common)
    # lists and other values keep the recipe's


def _step(value: float) -> float:
    """A step of about a tenth of the value's order of magnitude (0.0002 for 0.002, 0.1 for 1.0)."""
    if value <= 0:
        return 0.01
    magnitude = 10 ** int(f"{value:e}".split("e")[1])
    return float(magnitude) / 10 if magnitude < 1 else 0.1
