"""Pieces every Train page form shares: recipe reset, optimisation, stopping, device, and Start.

Each task's form keeps its widgets under its own key prefix, so switching tasks keeps both forms' values.
Fields that do not apply are disabled rather than hidden: a hidden Streamlit widget forgets its value.
"""
from __future__ import annotations

import json
from typing import Any

import streamlit as st

from core.data.store import DatasetInfo
from core.device import available_devices
from core.errors import UserError
from core.jobs.control import create_run
from core.jobs.estimate import DurationEstimate, estimate_duration
from core.tasks import recipe
from core.train.config import AMP_MODES, LR_SCALINGS, MAX_WORKERS, OPTIMIZERS, SCHEDULERS
from core.train.eta import format_duration
from pages.ui.jobs import cap_notes, run_store, session_limits

BATCH_SIZES = (4, 8, 16, 32, 64, 128, 256)
ESTIMATES_KEY = "train-duration-estimates"
LONG_RUN_S = 3600  # an estimate above this is shown as a warning
SCHEDULE_TEXT = {"none": "constant", "step": "step decay", "cosine": "cosine with warm-up", "onecycle": "one-cycle",
                 "plateau": "reduce on plateau"}


def prepare(prefix: str, task: str, info: DatasetInfo, overrides: dict[str, Any] | None = None) -> None:
    """Fill the form with the recommended recipe the first time, or when the dataset changed."""
    if prefix + "epochs" not in st.session_state or st.session_state.get(prefix + "dataset") != info.id:
        reset(prefix, task, info, overrides)


def reset(prefix: str, task: str, info: DatasetInfo, overrides: dict[str, Any] | None = None) -> None:
    """Every field back to the task's recommended recipe (also a button callback: runs before widgets draw)."""
    for name, value in {**recipe(task, info.id).as_dict(), **(overrides or {})}.items():
        st.session_state[prefix + name] = value


def optimisation_fields(prefix: str) -> None:
    st.markdown("**Optimisation**")
    optimizer = st.selectbox("Optimiser", OPTIMIZERS, key=prefix + "optimizer")
    st.number_input("Learning rate", 1e-6, 10.0, key=prefix + "lr", format="%.5f", step=1e-4)
    st.number_input("Momentum (SGD)", 0.0, 0.999, key=prefix + "momentum", disabled=optimizer != "sgd")
    st.checkbox("Nesterov (SGD)", key=prefix + "nesterov", disabled=optimizer != "sgd")
    st.number_input("Weight decay", 0.0, 1.0, key=prefix + "weight_decay", format="%.5f", step=1e-4)
    scheduler = st.selectbox("Schedule", SCHEDULERS, key=prefix + "scheduler", format_func=SCHEDULE_TEXT.get)
    st.number_input("Warm-up epochs (cosine)", 0.0, 100.0, key=prefix + "warmup_epochs", disabled=scheduler != "cosine")
    st.number_input("Step every (epochs)", 1, 1000, key=prefix + "step_epochs", disabled=scheduler != "step")
    st.number_input("Multiply the rate by (step, plateau)", 0.01, 1.0, key=prefix + "gamma",
                    disabled=scheduler not in ("step", "plateau"))
    st.number_input("Gradient clipping (max norm, 0 = off)", 0.0, 100.0, key=prefix + "grad_clip")


def workers_fields(prefix: str) -> None:
    """Data-parallel workers for one run (core.train.distributed), with the effective batch size and learning
    rate they imply stated under them."""
    workers = st.number_input("Data-parallel workers", 1, MAX_WORKERS, key=prefix + "workers",
                              help="Processes that train this one run together, each on its own share of every "
                                   "step's images (PyTorch DistributedDataParallel). On GPUs each worker takes a "
                                   "GPU of its own; on a CPU they share the run's cores, so it is rarely faster.")
    st.selectbox("Learning-rate scaling", LR_SCALINGS, key=prefix + "lr_scaling", disabled=workers == 1,
                 format_func=lambda s: "linear (x workers)" if s == "linear" else "none")
    batch, lr = st.session_state[prefix + "batch_size"], st.session_state[prefix + "lr"]
    if workers > 1:
        scaled = lr * workers if st.session_state[prefix + "lr_scaling"] == "linear" else lr
        st.caption(f"Effective batch size **{batch * workers}** ({batch} per worker x {workers}); learning rate "
                   f"**{scaled:.5g}**" + (f" ({lr:.5g} x {workers}, linear scaling: Goyal et al. 2017)."
                                           if scaled != lr else " (not scaled)."))


def run_fields(prefix: str, metrics: tuple[str, ...]) -> None:
    stop_col, device_col, name_col = st.columns(3)
    with stop_col:
        early = st.checkbox("Early stopping", key=prefix + "early_stopping")
        if st.session_state.get(prefix + "monitor") not in metrics:
            st.session_state[prefix + "monitor"] = metrics[0]
        st.selectbox("Best model by", metrics, key=prefix + "monitor")
        st.number_input("Patience (epochs)", 1, 100, key=prefix + "patience", disabled=not early)
    with device_col:
        devices = ["auto", *[d.id for d in available_devices()]]
        st.selectbox("Device", devices, key=prefix + "device",
                     format_func=lambda d: "auto (a GPU if there is one)" if d == "auto" else d)
        st.selectbox("Mixed precision (CUDA)", AMP_MODES, key=prefix + "amp")
        st.number_input("Seed", 0, 2**31 - 1, key=prefix + "seed")
    with name_col:
        st.text_input("Run name (optional)", key=prefix + "name")


def start(prefix: str, workspace: str, task: str, info: DatasetInfo) -> str | None:
    """The Start button, with the measured duration of the recipe beside it: the config from the widgets (only
    keys the task knows) queued as a run."""
    config = _config(prefix, task, info)
    # a row that wraps instead of columns: fixed columns cut the buttons' labels off in a narrow window
    buttons = st.container(horizontal=True, vertical_alignment="center")
    started = buttons.button("Start training", type="primary", key=prefix + "start")
    _duration(prefix, workspace, config, buttons)
    for note in cap_notes(config):  # a workshop's limits, said before Start (core.jobs.limits)
        st.caption(note)
    if not started:
        return None
    try:
        return create_run(run_store(), workspace, config, limits=session_limits()).id
    except UserError as error:
        st.error(error.message)
        return None


def _config(prefix: str, task: str, info: DatasetInfo) -> dict[str, Any]:
    keys = recipe(task, info.id).as_dict().keys()
    config = {name: st.session_state[prefix + name] for name in keys if prefix + name in st.session_state}
    config.update(dataset=info.id, task=task)
    return config


def _duration(prefix: str, workspace: str, config: dict[str, Any], button_col: Any) -> None:
    """"Estimate duration" measures a few steps of this exact config on its device (core.jobs.estimate): about
    5 s, so only on request; the answer is kept per config for the session, and shown again whenever the form
    returns to that config."""
    cache: dict[str, DurationEstimate | str] = st.session_state.setdefault(ESTIMATES_KEY, {})
    signature = json.dumps({**config, "workspace": workspace, "name": ""}, sort_keys=True, default=str)
    if button_col.button("Estimate duration", key=prefix + "estimate",
                         help="Builds the model, times a few training steps and one validation pass on the chosen "
                              "device, and multiplies out: epochs x steps per epoch, plus validation and the test "
                              "split."):
        with st.spinner(f"Timing a few training steps on {config.get('device', 'auto')}…"):
            try:
                cache[signature] = estimate_duration(config, workspace)
            except UserError as error:
                cache[signature] = error.message
    found = cache.get(signature)
    if found is None:
        st.caption("Press **Estimate duration** to time this recipe on its device before starting.")
    elif isinstance(found, str):
        st.error(found)
    else:
        text = (f"Expected duration **about {format_duration(found.seconds)}** on {found.device}: {found.epochs} "
                f"epochs of {found.steps_per_epoch} steps at {found.step_s:.2f} s a step, plus "
                f"{format_duration(found.validation_s)} of validation each (measured just now).")
        (st.warning if found.seconds > LONG_RUN_S else st.caption)(
            text + (" That is long: fewer epochs, a smaller image or patch size, or a GPU make it shorter."
                    if found.seconds > LONG_RUN_S else ""))
