"""The Dataset page's import panel: built-in data, uploads (files, ZIPs, folders, labels CSV) and MedMNIST."""
from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from core.data.builtin import builtin_infos
from core.data.frame_policy import DEFAULT_FRAMES, FRAME_POLICIES, FRAMES_RANGE, MAX_STRIDE, FramePolicy
from core.data.importer import ImportSummary, NothingImported, import_medmnist, import_uploads, suggested_name
from core.data.labels import csv_columns
from core.data.medmnist import MEDMNIST_FLAGS, MEDMNIST_SIZES, medmnist_cache_path
from core.data.preprocess import RESIZE_POLICIES, Preprocessing
from core.data.windowing import PRESETS
from core.errors import UserError
from core.text import counted
from pages.ui.sequence_player import frame_facts
from pages.ui.session import select_dataset, user_errors

SOURCES = ("Built-in", "Upload files", "Upload a folder", "MedMNIST")
KINDS = {"images": "Images", "sequences": "Sequences (cine, video)"}
POLICY_TEXT = {"uniform": "Spread over the whole sequence", "cycle": "Spread over one cycle (cardiac)",
               "stride": "Every n-th frame (fixed stride)"}
SEQUENCE_FILES = ("multi-frame DICOM (cine MR, ultrasound, XA), a DICOM series of single-frame files (one "
                  "SeriesInstanceUID, ordered by Trigger Time, else Instance Number), NIfTI 4D (.nii, .nii.gz: the "
                  "middle slice over time), MP4/AVI videos, or folders of numbered frames (PNG, JPEG, TIFF, BMP)")
SIZES = (28, 64, 128, 224, 256, 512)
ROUND = "import-round"          # bumped after each import: the uploaders get new keys, so they come back empty
NAME = "dataset-name"           # the name box
SUGGESTED = "dataset-name-suggested"  # the name last suggested from the chosen files


def render_import(workspace: str) -> None:
    last = st.session_state.pop("last-import", None)
    if last:
        _show_summary(ImportSummary(**last))
    source = st.radio("Source", SOURCES, horizontal=True, key="import-source")
    if source == "Built-in":
        _builtin()
    elif source == "MedMNIST":
        _medmnist(workspace)
    else:
        kind = st.radio("Import as", list(KINDS), format_func=KINDS.get, horizontal=True, key="import-kind",
                        help="Sequences: each multi-frame file, DICOM series or folder of frames becomes one clip "
                             "of a fixed number of frames, with one label, for sequence classification.")
        _upload(workspace, folder=source == "Upload a folder", sequences=kind == "sequences")


def _builtin() -> None:
    st.write("Built-in datasets need no download; they are generated from a fixed seed the first time they are used.")
    infos = builtin_infos()
    for info in infos:
        left, right = st.columns([4, 1])
        amount = (f"{counted(info.num_images, 'clip')} of {info.frames} frames" if info.is_sequence
                  else counted(info.num_images, "image"))
        left.markdown(f"**{info.name}** · {amount} · {', '.join(info.classes)}")
        if right.button("Open", key=f"open-{info.id}"):
            select_dataset(info.id)
            st.rerun()
    st.caption(infos[0].description)


def _upload(workspace: str, folder: bool, sequences: bool = False) -> None:
    round_ = st.session_state.get(ROUND, 0)
    if sequences:
        st.caption(f"Each clip is one of: {SEQUENCE_FILES}. Class folders (in a ZIP or an uploaded folder) or a "
                   "labels CSV naming the files or frame folders give the labels; DICOM is de-identified.")
        uploads = st.file_uploader(
            "Folder of sequences (class sub-folders become labels)" if folder else
            "Sequences: multi-frame DICOM, MP4/AVI, NIfTI 4D, or a ZIP of class folders",
            accept_multiple_files="directory" if folder else True,
            key=f"upload-{'folder' if folder else 'files'}-{round_}")
    elif folder:
        uploads = st.file_uploader("Folder of images (class sub-folders become labels)",
                                   accept_multiple_files="directory", key=f"upload-folder-{round_}")
    else:
        uploads = st.file_uploader(
            "Images, DICOM, NIfTI or a ZIP of class folders",
            accept_multiple_files=True, key=f"upload-files-{round_}",
            help="PNG, JPEG, TIFF, BMP, DICOM (any extension), NIfTI (.nii, .nii.gz), or a ZIP whose folders are "
                 "the classes. Add a CSV of filename,label to label files instead of using folders.",
        )
    labels_file = st.file_uploader("Labels CSV (optional): filename,label[,patient] — several labels as a|b",
                                   type=["csv"], key=f"upload-labels-{round_}")
    columns = _column_choices(labels_file) if labels_file else {}
    if columns is None:  # the CSV cannot be read: said above
        return
    policy = _frame_policy_form() if sequences else None  # the choice that matters most for clips comes first
    if sequences and policy is None:  # a bad field: said above
        return
    prep = _preprocessing_form(sequences)
    name = _name_box([upload.name for upload in uploads or []])
    if st.button("Import", type="primary", disabled=not uploads, key="import-button"):
        files = [(upload.name, upload.getvalue()) for upload in uploads]
        csv = (labels_file.name, labels_file.getvalue()) if labels_file else None
        bar = st.progress(0.0, text="Starting")
        try:
            summary = import_uploads(workspace, files, name.strip() or suggested_name([n for n, _ in files]), prep,
                                     csv, columns.get("label"),
                                     progress=lambda fraction, text: bar.progress(min(fraction, 1.0), text=text),
                                     file_column=columns.get("file"), patient_column=columns.get("patient"),
                                     frame_policy=policy)
        except NothingImported as error:
            bar.empty()
            st.error(error.message)
            _skipped_table([s.as_dict() for s in error.skipped])
            return
        except UserError as error:
            bar.empty()
            st.error(error.message)
            return
        st.session_state[ROUND] = round_ + 1  # a fresh, empty uploader and name box for the next import
        st.session_state.pop(SUGGESTED, None)
        st.session_state.pop(NAME, None)
        _finish(summary)


def _name_box(names: list[str]) -> str:
    """The dataset name box. It follows the chosen files ("twoclass.zip" -> "twoclass") and changes when other
    files are chosen, unless the user has typed a name of their own. An existing name gets " (2)" at import."""
    suggestion = suggested_name(names) if names else ""
    previous = st.session_state.get(SUGGESTED)
    typed = st.session_state.get(NAME)
    if typed is None or (suggestion != previous and typed.strip() in ("", previous or "")):
        st.session_state[NAME] = suggestion  # allowed: the box is not drawn yet in this run
    st.session_state[SUGGESTED] = suggestion
    return st.text_input("Dataset name", key=NAME, placeholder="named after the chosen files",
                         help="Named after the chosen files until you type a name of your own. If the workspace "
                              "already has a dataset of this name, the new one becomes e.g. \"name (2)\".")


def _column_choices(labels_file) -> dict[str, str | None] | None:
    """File, label and patient columns of the uploaded CSV, each defaulting to the one MedLab recognises.

    Returns the names to pass to the import ("" as patient: none), or None when the CSV cannot be read.
    """
    try:
        found = csv_columns(labels_file.getvalue(), labels_file.name)
    except UserError as error:
        st.error(error.message)
        return None
    options = found.columns
    tag = hashlib.sha1("\x00".join([labels_file.name, *options]).encode()).hexdigest()[:8]  # a new CSV: fresh boxes
    left, middle, right = st.columns(3)
    file_col = left.selectbox("File column", options, key=f"csv-file-column-{tag}",
                              index=options.index(found.file) if found.file else None,
                              placeholder="Choose the column naming the files")
    label_col = middle.selectbox("Label column", ["", *options], key=f"csv-label-column-{tag}",
                                 index=options.index(found.label) + 1 if found.label else 0,
                                 format_func=lambda c: c or "One 0/1 column per class")
    patient_col = right.selectbox("Patient column", ["", *options], key=f"csv-patient-column-{tag}",
                                  index=options.index(found.patient) + 1 if found.patient else 0,
                                  format_func=lambda c: c or "None (no patient grouping)",
                                  help="All images of one patient go to the same split (train, validation or "
                                       "test), so the test set never holds a patient the model trained on.")
    if not patient_col:
        st.warning("No patient column is chosen, so images of one patient may sit in different splits; choose it "
                   "above if the CSV has one. DICOM files still group by their PatientID.")
    return {"file": file_col, "label": label_col or None, "patient": patient_col}


def _preprocessing_form(sequences: bool = False) -> Preprocessing | None:
    restoration = not sequences and st.checkbox(
        "For restoration: keep native resolution and intensities", key="prep-restoration",
        help="For denoising and super-resolution: images are cut into patches at their own resolution (never "
             "resized) and keep each file's own values (no window), so a model trained on them restores images "
             "on their own scale.")
    with st.expander("Size, channels and windowing", expanded=False):
        size = st.select_slider("Patch size (pixels)" if restoration else
                                "Frame size (pixels)" if sequences else "Image size (pixels)", SIZES, value=128,
                                key="prep-size")
        channels = st.radio("Channels", ["Automatic", "Greyscale (1)", "RGB (3)"], horizontal=True,
                            key="prep-channels")
        resize = st.radio("Non-square images", [p for p in RESIZE_POLICIES if p != "tile"], horizontal=True,
                          key="prep-resize", disabled=restoration,
                          format_func=lambda p: {"pad": "Pad", "crop": "Centre-crop", "stretch": "Stretch"}.get(p, p))
        window = st.selectbox("Window for DICOM/NIfTI", ["default", *PRESETS], key="prep-window", disabled=restoration,
                              format_func=lambda w: "File's own (else automatic)" if w == "default" else w)
        chosen = {"Automatic": None, "Greyscale (1)": 1, "RGB (3)": 3}[channels]
        prep = Preprocessing(size=size, channels=chosen, resize="tile", intensity="full_range") if restoration else \
            Preprocessing(size=size, channels=chosen, resize=resize, window=window)
    st.markdown(f"**How {'frames' if sequences else 'images'} will be prepared**\n"
                + "\n".join(f"- {line}" for line in (prep.describe()[:3] if sequences else prep.describe())))
    return prep


def _frame_policy_form() -> FramePolicy | None:
    """The frame policy: how a sequence of any length becomes the T frames every clip of the dataset holds. Shown
    as its sentence before importing; None (with the reason shown) for a field FramePolicy refuses."""
    mode_col, frames_col, stride_col = st.columns([2, 1, 1])
    mode = mode_col.radio("Frame policy", FRAME_POLICIES, format_func=POLICY_TEXT.get, key="import-frame-policy",
                          help="Every clip is stored with the same number of frames. Cycle finds the period from the "
                               "frames themselves (cardiac cine); stride keeps every n-th frame for a fixed clip "
                               "length, as EchoNet-Dynamic does (32 frames at a stride of 2).")
    frames = frames_col.number_input("Frames per clip (T)", *FRAMES_RANGE, DEFAULT_FRAMES, key="import-frames")
    stride = stride_col.number_input("Stride (keep every n-th frame)", 1, MAX_STRIDE, 2, key="import-stride",
                                     disabled=mode != "stride")
    try:
        policy = FramePolicy(mode, int(frames), int(stride) if mode == "stride" else 1)
    except UserError as error:
        st.error(error.message)
        return None
    st.markdown(f"**How clips will be made**\n- {policy.describe()}")
    return policy


def _medmnist(workspace: str) -> None:
    st.write("MedMNIST v2 subsets with their official splits. Downloaded once into the cache; offline, place the "
             "file in the cache folder shown below.")
    flag = st.selectbox("Subset", MEDMNIST_FLAGS, key="medmnist-flag")
    size = st.select_slider("Size", MEDMNIST_SIZES, value=28, key="medmnist-size")
    path = medmnist_cache_path(flag, size)
    st.caption(("Cached: " if path.exists() else "Not cached yet; will download to: ") + str(path))
    if st.button("Import MedMNIST", type="primary", key="medmnist-button"):
        with user_errors(), st.spinner(f"Importing {path.name}"):
            _finish(import_medmnist(workspace, flag, size))


def _finish(summary: ImportSummary) -> None:
    """Select the new dataset and rerun, so the picker at the top shows it; the summary survives the rerun."""
    select_dataset(summary.dataset_id)
    st.session_state["last-import"] = summary.as_dict()
    st.rerun()


def _show_summary(summary: ImportSummary) -> None:
    what = f"{counted(summary.images, 'clip')} of {summary.frames} frames" if summary.frames else \
        counted(summary.images, "image")
    st.success(f"Imported {what} from {counted(summary.files, 'file')} as "
               f"**{summary.name}** "
               f"({summary.task}{'; classes: ' + ', '.join(summary.classes) if summary.classes else ''}). "
               "It is now selected above.")
    if summary.grouped_by:
        per_split = ", ".join(f"{split} {n}" for split, n in summary.patients_per_split.items())
        st.info(f"Patients grouped by {summary.grouped_by}: no patient is in two splits. Patients per split: "
                f"{per_split}.")
    if summary.frames:  # the frame policy first, then how each frame was prepared
        st.caption(f"Each clip: {frame_facts(summary.frames, summary.frame_time_ms)}. "
                   + " ".join(summary.preprocessing))
    else:
        st.caption(" ".join(summary.preprocessing[:3]))  # size, channels and intensity: what the stored arrays hold
    counts = pd.DataFrame(summary.class_counts).fillna(0).astype(int) if summary.classes else None
    if counts is not None and not counts.empty:
        st.dataframe(counts, width="content")
    for warning in summary.warnings:
        st.warning(warning)
    _skipped_table(summary.skipped)


def _skipped_table(skipped: list[dict]) -> None:
    if skipped:
        st.markdown(f"**Skipped {counted(len(skipped), 'file')}**")
        st.dataframe(pd.DataFrame(skipped), hide_index=True, width="stretch")
