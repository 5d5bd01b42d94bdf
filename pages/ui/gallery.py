"""The Dataset page's gallery: a filtered grid of thumbnails with labels, and the viewer for one of them (below
the grid; pressing "View" scrolls the page down to it)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.data.medical_image import image_from_array
from core.data.readers import read_medical_image
from core.data.store import Dataset
from core.data.splits import SPLITS
from core.text import counted
from pages.ui.images import display_image
from pages.ui.scroll import scroll_anchor, scroll_to
from pages.ui.sequence_player import CLIPS_PER_PAGE, render_clip_grid, render_player
from pages.ui.viewer import render_viewer

PER_PAGE = 24
COLUMNS = 6


def render_gallery(dataset: Dataset) -> None:
    info, items = dataset.info, dataset.items
    filters = st.columns([2, 2, 1])
    classes = filters[0].multiselect("Class", info.classes, key=f"gallery-class-{info.id}",
                                     placeholder="all classes") if info.classes else []
    splits = filters[1].multiselect("Split", SPLITS, key=f"gallery-split-{info.id}", placeholder="all splits")
    mask = np.ones(len(items), dtype=bool)
    if classes:
        mask &= items["label"].apply(lambda cell: bool(set(cell.split("|")) & set(classes))).to_numpy()
    if splits:
        mask &= items["split"].isin(splits).to_numpy()
    chosen = np.flatnonzero(mask)
    per_page = CLIPS_PER_PAGE if info.is_sequence else PER_PAGE
    pages = max(1, -(-len(chosen) // per_page))
    page = filters[2].number_input(f"Page (of {pages})", 1, pages, 1, key=f"gallery-page-{info.id}")
    unit = "clip" if info.is_sequence else "image"
    st.caption(f"{counted(len(chosen), unit)} {'matches' if len(chosen) == 1 else 'match'}.")
    shown = chosen[(page - 1) * per_page: page * per_page]
    if info.is_sequence:  # a strip of frames per clip, and Play instead of View
        render_clip_grid(dataset, shown, f"viewing-{info.id}")
    else:
        _image_grid(dataset, shown)
    viewing = st.session_state.get(f"viewing-{info.id}")
    if viewing is not None and viewing < len(items):
        st.divider()
        scroll = st.session_state.pop("gallery-scroll", False)  # only right after "View", not on every slider move
        anchor = scroll_anchor() if scroll else ""
        st.subheader(f"{items['name'].iloc[viewing]} — {items['label'].iloc[viewing] or 'unlabelled'}")
        if info.is_sequence:
            render_player(np.asarray(dataset.images[viewing]), info.frame_time_ms, key=f"player-{info.id}-{viewing}",
                          identity=f"{dataset.path}:{info.created}:{viewing}")
        else:
            render_viewer(_viewer_image(dataset, viewing), key=f"viewer-{info.id}-{viewing}")
        if scroll:
            scroll_to(anchor)


def _image_grid(dataset: Dataset, shown: np.ndarray) -> None:
    """Thumbnails of the images `shown`, each with its label and split and a View button."""
    info, items, images = dataset.info, dataset.items, dataset.images
    for row_start in range(0, len(shown), COLUMNS):
        for column, index in zip(st.columns(COLUMNS), shown[row_start:row_start + COLUMNS]):
            label = items["label"].iloc[index].replace("|", ", ") or "unlabelled"
            column.image(display_image(np.asarray(images[index])), caption=f"{label} · {items['split'].iloc[index]}",
                         width="stretch")
            if column.button("View", key=f"view-{info.id}-{index}", width="stretch"):
                st.session_state[f"viewing-{info.id}"] = int(index)
                st.session_state["gallery-scroll"] = True


@st.cache_resource(max_entries=16, show_spinner=False)
def _original(path: str, modified: float):
    """A stored original, decoded once (files in the store are already de-identified)."""
    with open(path, "rb") as handle:
        return read_medical_image(handle.read(), path.rsplit("/", 1)[-1])


def _viewer_image(dataset: Dataset, index: int):
    """The stored original when the dataset kept it (full bit depth and window), else the stored array."""
    path = dataset.original_file(index)
    if path is not None and path.exists():
        return _original(str(path), path.stat().st_mtime)
    return image_from_array(dataset.items["name"].iloc[index], np.asarray(dataset.images[index]))
