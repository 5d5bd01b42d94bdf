"""The Enhance page's comparison table: every classical method and trained model on validation images."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data.builtin import TILES_ID
from core.enhance.classical import CLASSICAL_METHODS, apply_classical
from core.enhance.compare import classical_baselines, compare_methods
from core.enhance.degrade import DEGRADATIONS, Degradation
from core.enhance.learned import load_restorer, restore_image
from core.jobs.store import RunStore


def render_comparison(store: RunStore, workspace: str, datasets: dict, open_dataset) -> None:
    st.write("Degrade validation images with a known seed, restore them with each method, and score PSNR and "
             "SSIM against the clean originals. Super-resolution always shows bicubic next to the models.")
    columns = st.columns(4)
    dataset_id = columns[0].selectbox("Validation images from", list(datasets), format_func=lambda i: datasets[i].name,
                                      index=list(datasets).index(TILES_ID) if TILES_ID in datasets else 0,
                                      key="compare-dataset")
    kind = columns[1].selectbox("Degradation", DEGRADATIONS, key="compare-kind")
    sigma = columns[2].slider("Noise σ", 0.0, 0.3, 0.1, 0.01, key="compare-sigma")
    scale = columns[3].radio("Downsample", (1, 2, 4), horizontal=True, key="compare-scale",
                             format_func=lambda s: "no" if s == 1 else f"×{s}")
    count = st.slider("Images", 2, 16, 6, key="compare-count")
    with_bm3d = st.checkbox("Include BM3D (slow)", key="compare-bm3d", disabled=scale > 1)
    if not st.button("Compare", key="compare-run"):
        return
    degradation = Degradation(kind, sigma if sigma or kind != "poisson" else 0.01, 1.5, scale)
    dataset = open_dataset(dataset_id)
    val = dataset.indices("val")[:count]
    images = [image[..., 0] if image.shape[-1] == 1 else image for image in dataset.unit_images(val)]
    methods = classical_baselines(degradation)
    if with_bm3d and scale == 1:
        methods[CLASSICAL_METHODS["bm3d"].title] = lambda image: apply_classical("bm3d", image)
    for record in store.list(workspace, statuses=("completed",)):
        card_scale = store.config(record).get("scale", 2) if record.task == "super_resolution" else 1
        if record.task in ("denoise", "super_resolution") and card_scale == scale:
            restorer = load_restorer(store.run_dir(record))
            methods[f"Trained: {record.name or record.id}"] = \
                lambda image, model=restorer.model: restore_image(model, image, scale)
    with st.spinner(f"Running {len(methods)} methods on {len(images)} images"):
        rows = compare_methods(images, degradation, methods)
    table = pd.DataFrame(rows).rename(columns={"psnr": "PSNR (dB)", "ssim": "SSIM", "seconds_per_image": "seconds per image"})
    st.dataframe(table.round(4), hide_index=True, width="stretch")
    st.caption(f"{len(images)} validation images of {dataset.info.name}, {degradation.describe()}.")
