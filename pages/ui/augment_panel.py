"""The Dataset page's augmentation preview; the chosen set is saved for training on this dataset."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.data.augment import LIMITS, Augmentation, load_augmentation, preview, save_augmentation
from core.data.store import Dataset
from pages.ui.images import display_image
from pages.ui.sequence_player import frame_strip
from pages.ui.session import user_errors

PREVIEWS = 7
CLIP_PREVIEWS = 3
CLIP_NOTE = ("For clips, one random draw per clip gives every frame the same flip, rotation, deformation, blur, "
             "brightness and contrast, so augmentation adds no motion of its own; noise is drawn per pixel, frame by "
             "frame. Each row below is one clip: the original, then augmented copies.")


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
        sample = st.number_input("Sample clip" if info.is_sequence else "Sample image", 0, max(len(train) - 1, 0), 0,
                                 key=f"{key}-sample") if len(train) else 0
        seed = st.number_input("Preview seed", 0, 10_000, 0, key=f"{key}-seed")
        if st.button("Save for training", type="primary", key=f"{key}-save"):
            with user_errors():
                save_augmentation(workspace, info.id, augmentation)
                st.success("Saved. Training on this dataset will use: " + ", ".join(augmentation.describe()) + ".")
    with pictures:
        index = int(train[sample]) if len(train) else 0
        original = dataset.unit_images(np.array([index]))[0]
        if info.is_sequence:
            _clip_previews(original, augmentation, int(seed))
        else:
            _image_previews(original, augmentation, int(seed))
        st.caption("In use for training now: " + ", ".join(load_augmentation(workspace, info.id).describe()) + ".")


def _image_previews(original: np.ndarray, augmentation: Augmentation, seed: int) -> None:
    """The image (H, W, C) in [0, 1] and PREVIEWS augmented versions, four to a row."""
    variants = preview(original, augmentation, count=PREVIEWS, seed=seed)
    tiles = [original, *variants]
    captions = ["original", *[f"augmented {i + 1}" for i in range(PREVIEWS)]]
    for start in range(0, len(tiles), 4):
        for column, tile, caption in zip(st.columns(4), tiles[start:start + 4], captions[start:start + 4]):
            column.image(display_image(tile, 128), caption=caption, width="stretch")


def _clip_previews(clip: np.ndarray, augmentation: Augmentation, seed: int) -> None:
    """The clip (T, H, W, C) in [0, 1] and CLIP_PREVIEWS augmented copies as strips of frames, each copy augmented
    as training does (core.tasks.sequence.augment_clips: the frames stacked as the channels of one image)."""
    st.info(CLIP_NOTE, icon=":material/movie:")
    frames, height, width, channels = clip.shape
    stacked = clip.transpose(1, 2, 0, 3).reshape(height, width, frames * channels)
    variants = [v.reshape(height, width, frames, channels).transpose(2, 0, 1, 3)
                for v in preview(stacked, augmentation, count=CLIP_PREVIEWS, seed=seed)]
    for number, tiles in enumerate([clip, *variants]):
        st.image(frame_strip(tiles), width="stretch", caption="original" if number == 0 else f"augmented {number}")
