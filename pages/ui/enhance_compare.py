"""The Enhance page's comparison table: every classical method and trained model on validation images
(assembled by core.enhance.compare, as `python -m core enhance --compare` does)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data.builtin import TILES_ID
from core.enhance.compare import classical_baselines, compare, comparison_degradation, trained_methods, validation_images
from core.enhance.degrade import DEGRADATIONS
from core.errors import UserError
from core.jobs.store import RunStore
from core.jobs.workspace import restoration_runs

DEGRADATION_TEXT = {"gaussian": "Gaussian noise", "poisson": "Poisson noise", "blur": "Blur (and noise)"}


def render_comparison(store: RunStore, workspace: str, datasets: dict, open_dataset) -> None:
    st.write("Degrade validation images with a known seed, restore them with each method, and score PSNR and "
             "SSIM against the clean originals. Super-resolution always shows bicubic next to the models.")
    columns = st.columns(4)
    dataset_id = columns[0].selectbox("Validation images from", list(datasets), format_func=lambda i: datasets[i].name,
                                      index=list(datasets).index(TILES_ID) if TILES_ID in datasets else 0,
                                      key="compare-dataset")
    kind = columns[1].selectbox("Degradation", DEGRADATIONS, key="compare-kind", format_func=DEGRADATION_TEXT.get)
    sigma = columns[2].slider("Noise σ", 0.0, 0.3, 0.1, 0.01, key="compare-sigma")
    scale = columns[3].radio("Downsample", (1, 2, 4), horizontal=True, key="compare-scale",
                             format_func=lambda s: "no" if s == 1 else f"×{s}")
    count = st.slider("Images", 2, 16, 6, key="compare-count")
    with_bm3d = st.checkbox("Include BM3D (slow)", key="compare-bm3d", disabled=scale > 1)
    if not st.button("Compare", key="compare-run"):
        return
    try:
        degradation = comparison_degradation(kind, sigma, scale)
        dataset = open_dataset(dataset_id)
        images = validation_images(dataset, count)
        methods = {**classical_baselines(degradation, with_bm3d and scale == 1),
                   **trained_methods(restoration_runs(workspace, store, scale), scale)}
        with st.spinner(f"Running {len(methods)} methods on {len(images)} images"):
            result = compare(images, degradation, methods, f"{len(images)} validation images of {dataset.info.name}")
    except UserError as error:
        st.error(error.message)
        return
    table = pd.DataFrame(result.rows).rename(columns={"psnr": "PSNR (dB)", "ssim": "SSIM",
                                                      "seconds_per_image": "seconds per image"})
    st.dataframe(table, hide_index=True, width="stretch", column_config={  # each column at one precision
        "PSNR (dB)": st.column_config.NumberColumn(format="%.2f"), "SSIM": st.column_config.NumberColumn(format="%.4f"),
        "seconds per image": st.column_config.NumberColumn(format="%.3f")})
    st.caption(f"{result.source}, {result.degradation}.")
