"""Dataset page: choose or import data, browse it, view single images, and set training augmentation.

A link /dataset?dataset=<id> opens that dataset, when it is one this workspace lists (its own, the class's, built-in).
"""
from __future__ import annotations

import hashlib

import streamlit as st

from core.data.builtin import DEFAULT_DATASET_ID
from core.data.catalog import list_datasets, open_dataset
from core.data.samples import SAMPLES, load_sample
from pages.ui.augment_panel import render_augmentation
from pages.ui.dataset_overview import render_overview
from pages.ui.entry import through_entry_point
from pages.ui.gallery import render_gallery
from pages.ui.import_panel import render_import
from pages.ui.sequence_player import read_viewer_file, render_file_player
from pages.ui.session import (current_workspace, dataset_picker, linked_dataset, select_dataset, shared_workspace,
                               user_errors)
from pages.ui.viewer import render_viewer

through_entry_point()
st.title("Dataset")
workspace = current_workspace()

with st.spinner("Preparing built-in datasets (first start only)"):
    infos = {info.id: info for info in list_datasets(workspace, shared=shared_workspace())}
if linked := linked_dataset(infos):
    select_dataset(linked)
picked = dataset_picker(infos, DEFAULT_DATASET_ID)
dataset = open_dataset(workspace, picked)

overview, gallery, augmentation, importer, viewer = st.tabs(
    ["Overview", "Gallery", "Augmentation", "Import", "Viewer"], key="dataset-tab", on_change="rerun")
if overview.open:
    with overview, user_errors():
        render_overview(workspace, dataset)
if gallery.open:
    with gallery, user_errors():
        render_gallery(dataset)
if augmentation.open:
    with augmentation, user_errors():
        render_augmentation(workspace, dataset)
if importer.open:
    with importer:
        render_import(workspace)
if viewer.open:
    with viewer, user_errors():
        st.write("Look at a single file without importing it, or at one of the sample images that come with "
                 "the installed packages. DICOM files are de-identified before anything is shown.")
        source = st.radio("Image", ["Sample image", "My file"], horizontal=True, key="viewer-source")
        if source == "Sample image":
            sample = st.selectbox("Sample", list(SAMPLES), format_func=lambda s: SAMPLES[s].title, key="sample")
            st.caption(SAMPLES[sample].description)
            render_viewer(load_sample(sample), key=f"sample-{sample}")
        else:
            upload = st.file_uploader("PNG, JPEG, TIFF, BMP, DICOM (also cine), NIfTI, MP4/AVI or a ZIP of frames",
                                      key="viewer-upload")
            if upload is not None:
                data = upload.getvalue()
                image = read_viewer_file(data, upload.name)
                key = f"file-{hashlib.sha1(data).hexdigest()[:12]}"
                if image.frame_count > 1:  # a cine, a video, a volume's slices: played above the viewer
                    render_file_player(image, key)
                render_viewer(image, key=key)
