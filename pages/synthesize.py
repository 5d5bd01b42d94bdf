"""Synthesize page: draw images from a trained GAN, VAE / autoencoder or diffusion model, look inside an
autoencoder (reconstructions, latent map, anomaly maps), judge the samples honestly against held-out real images,
and put them to use (train on synthetic, real + synthetic) against the real baseline."""
from __future__ import annotations

import streamlit as st

from pages.ui.entry import through_entry_point
from pages.ui.jobs import run_store
from pages.ui.session import current_workspace, user_errors
from pages.ui.synth_autoencoder import render_autoencoder
from pages.ui.synth_quality import render_quality
from pages.ui.synth_run import load_model, pick_run
from pages.ui.synth_sample import render_sample
from pages.ui.synth_use import render_use

through_entry_point()
st.title("Synthesize")
workspace = current_workspace()
st.caption("Generated images are marked synthetic wherever they go (PNG text chunk, dataset flag) and never enter "
           "a validation or test split.")
record = pick_run(workspace)
if record is not None:
    folder = run_store().run_dir(record)
    autoencoder = record.task in ("vae", "autoencoder")
    names = ["Sample", *(["Autoencoder"] if autoencoder else []), "Quality", "Put to use"]
    if st.session_state.get("synth-tab") not in names:  # e.g. "Autoencoder" kept from a VAE, now a GAN is picked
        st.session_state["synth-tab"] = names[0]
    tabs = dict(zip(names, st.tabs(names, key="synth-tab", on_change="rerun")))
    if tabs["Sample"].open:
        with tabs["Sample"], user_errors():
            sampler, trained = load_model(record)
            render_sample(workspace, record, sampler, trained)
    if autoencoder and tabs["Autoencoder"].open:
        with tabs["Autoencoder"], user_errors():
            sampler, trained = load_model(record)
            render_autoencoder(workspace, record, sampler, folder)
    if tabs["Quality"].open:
        with tabs["Quality"], user_errors():
            render_quality(folder, record.status)
    if tabs["Put to use"].open:
        with tabs["Put to use"], user_errors():
            render_use(workspace, record)
