"""The Dataset page's augmentation preview; the chosen set is saved for training on this dataset."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.data.augment import LIMITS, Augmentation, load_augmentation, preview, save_augmentation
from core.data.store import Dataset
from pages.ui.images import display_image
from pages.ui.session import user_errors

PREVIEWS = 7


def render_augmentation(workspace: str, dataset: Dataset) -> None:
    info = dataset.info
    saved = load_augmentation(workspace, info.id)
    key = f"aug-{info.id}"
    controls, pictures = st.columns([1, 2])
    with controls:
        hflip = st.checkbox("Flip left-right", saved.hflip, key=f"{key}-hflip",
                            help="Off for chest X-rays: a mirrored heart is not a normal chest.")
        vflip = st.checkbox("Flip top-bottom", saved.vflip, key=f"{key}-vflip")
        values = {name: st.slider(label, *LIMITS[name], float(getattr(saved, name)), step=step, key=f"{key}-{name}")
                  for name, label, step in (
                      ("rotate_degrees", "Rotation (± degrees)", 1.0),
                      ("elastic", "Elastic deformation (fraction of image)", 0.005),
                      ("noise_sigma", "Gaussian noise σ (0.01-0.05 is typical)", 0.005),
                      ("blur_sigma", "Blur σ (pixels)", 0.1),
                      ("brightness", "Brightness (±)", 0.01),
                      ("contrast", "Contrast (±)", 0.01))}
        augmentation = Augmentation(hflip=hflip, vflip=vflip, **values)
        train = dataset.indices("train")
        sample = st.number_input("Sample image", 0, max(len(train) - 1, 0), 0, key=f"{key}-sample") if len(train) else 0
        seed = st.number_input("Preview seed", 0, 10_000, 0, key=f"{key}-seed")
        if st.button("Save for training", type="primary", key=f"{key}-save"):
            with user_errors():
                save_augmentation(workspace, info.id, augmentation)
                st.success("Saved. Training on this dataset will use: " + ", ".join(augmentation.describe()) + ".")
    with pictures:
        index = int(train[sample]) if len(train) else 0
        original = dataset.unit_images(np.array([index]))[0]
        variants = preview(original, augmentation, count=PREVIEWS, seed=int(seed))
        tiles = [original, *variants]
        captions = ["original", *[f"augmented {i + 1}" for i in range(PREVIEWS)]]
        for start in range(0, len(tiles), 4):
            for column, tile, caption in zip(st.columns(4), tiles[start:start + 4], captions[start:start + 4]):
                column.image(display_image(tile, 128), caption=caption, width="stretch")
        st.caption("In use for training now: " + ", ".join(load_augmentation(workspace, info.id).describe()) + ".")
