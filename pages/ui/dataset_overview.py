"""The Dataset page's overview: counts per split and class, balance, intensity and size histograms, policy."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.data.frame_policy import FramePolicy
from core.data.stats import imbalance_advice, intensity_histogram, original_sizes
from core.data.store import Dataset, delete_dataset
from core.text import counted
from pages.ui.sequence_player import number
from pages.ui.session import select_dataset, user_errors


def render_overview(workspace: str, dataset: Dataset) -> None:
    info = dataset.info
    unit = "clips" if info.is_sequence else "images"
    columns = st.columns(4)
    columns[0].metric(unit.capitalize(), f"{info.num_images:,}")
    columns[1].metric("Labels" if info.task == "multilabel" else "Classes",
                      len(info.classes) if info.classes else "none")
    columns[2].metric("Size", f"{info.size} px · {'RGB' if info.channels == 3 else 'grey'}")
    columns[3].metric("Task", info.task)
    if info.is_sequence:
        _sequence_facts(info.frames, info.frame_time_ms, info.preprocessing.get("frame_policy"))
    if info.description:
        st.caption(info.description)
    if info.task == "unlabelled":
        st.info("This dataset has no labels, so it can be viewed, enhanced and used for synthesis, but the Train "
                "page cannot train a classifier on it. To label images, import them in class folders or with a "
                "CSV of filename,label.")
    else:
        _balance(info.class_counts, info.split_counts, unit)
        advice = imbalance_advice(info.class_counts.get("train", {}))
        if advice:
            st.warning(advice)
    _histograms(dataset)
    with st.expander("How the images were prepared"):
        st.json(info.preprocessing)
    if info.skipped:
        with st.expander(f"Files skipped at import ({counted(len(info.skipped), 'file')})"):
            st.dataframe(pd.DataFrame(info.skipped), hide_index=True, width="stretch")
    if not info.builtin and _deletable(dataset):
        _delete(workspace, dataset)


def _sequence_facts(frames: int, frame_time_ms: float | None, policy: dict | None) -> None:
    """Frames per clip, frame time (ms and frames per second), clip duration and the frame policy's sentence."""
    columns = st.columns(4)
    columns[0].metric("Frames per clip", frames)
    columns[1].metric("Frame time", f"{number(frame_time_ms)} ms" if frame_time_ms else "not recorded",
                      help="Time between two stored frames, from the files (DICOM Frame Time, the video's rate).")
    columns[2].metric("Frame rate", f"{number(1000 / frame_time_ms)} frames/s" if frame_time_ms else "-")
    columns[3].metric("Clip duration", f"{number(frames * frame_time_ms / 1000)} s" if frame_time_ms else "-")
    if policy:
        chosen = FramePolicy.from_dict(policy)
        st.info(f"**Frame policy ({chosen.mode}).** {chosen.describe()}", icon=":material/movie:")


def _balance(class_counts: dict[str, dict[str, int]], split_counts: dict[str, int], unit: str = "images") -> None:
    table, figure = _balance_table_and_figure(class_counts, split_counts, unit)
    left, right = st.columns([1, 2])
    left.markdown(f"**{unit.capitalize()} per split and class**")
    left.dataframe(table, width="stretch")
    right.plotly_chart(figure, width="stretch", key="balance-chart")


# The table and figures are built once per dataset and shared by every session (read-only): building the plotly
# figures and sampling the intensities took most of this page's server time on each visit.
@st.cache_resource(show_spinner=False, max_entries=64)
def _balance_table_and_figure(class_counts: dict[str, dict[str, int]], split_counts: dict[str, int],
                              unit: str = "images") -> tuple[pd.DataFrame, go.Figure]:
    table = pd.DataFrame(class_counts).fillna(0).astype(int)
    table.loc["total"] = pd.Series(split_counts)
    long = table.drop(index="total").reset_index(names="class").melt(id_vars="class", var_name="split",
                                                                      value_name=unit)
    figure = px.bar(long, x="class", y=unit, color="split", barmode="group", title="Class balance",
                    category_orders={"split": ["train", "val", "test"]})
    figure.update_layout(height=320, margin=dict(t=40, b=10, l=10, r=10))
    if long[unit].max() <= 10:  # whole images only: no "2.5 images" tick on a small dataset
        figure.update_yaxes(dtick=1)
    return table, figure


def _histograms(dataset: Dataset) -> None:
    intensity, sizes = _histogram_figures(str(dataset.path), dataset.info.created)
    left, right = st.columns(2)
    left.plotly_chart(intensity, width="stretch", key="intensity-chart")
    if isinstance(sizes, str):  # one size: a sentence says it better than a chart of one bar
        right.markdown(f"**Original {'clip' if dataset.info.is_sequence else 'image'} size**")
        right.write(sizes)
    else:
        right.plotly_chart(sizes, width="stretch", key="size-chart")


@st.cache_resource(show_spinner=False, max_entries=64)
def _histogram_figures(folder: str, created: str) -> tuple[go.Figure, go.Figure | str]:
    """(pixel intensity, original size) of the dataset stored in `folder` (`created` tells two apart that were
    stored in the same folder); the size is a sentence when every image had the same size."""
    dataset = Dataset(Path(folder))
    sequence = dataset.info.is_sequence  # a clip holds T frames: fewer of them make as large a sample
    edges, histograms = intensity_histogram(dataset, max_images=max(8, 400 // dataset.info.frames) if sequence
                                            else 400)
    centres = (edges[:-1] + edges[1:]) / 2
    intensity = go.Figure([go.Scatter(x=centres, y=values, name=name, mode="lines")
                           for name, values in histograms.items()])
    intensity.update_layout(title=f"Pixel intensity (sample of {'clips' if sequence else 'images'})",
                            xaxis_title="intensity (0-1)",
                            yaxis_title="fraction of pixels", height=300, margin=dict(t=40, b=10, l=10, r=10))
    widths, heights = original_sizes(dataset)
    return intensity, size_summary(widths, heights, dataset.info.size, "clip" if sequence else "image")


MAX_SIZE_BARS = 12  # up to this many distinct sizes get a bar each; more get a histogram of width and height


def size_summary(widths: np.ndarray, heights: np.ndarray, stored: int, unit: str = "image") -> go.Figure | str:
    """How large the images were before they were resized to `stored` px: a sentence when they all had one size,
    a bar per size ("512×512") when there are a few, else histograms of width and height."""
    sizes = pd.Series([f"{w}×{h}" for w, h in zip(widths, heights)], dtype=str)
    if sizes.empty:
        return "No original sizes were recorded."
    counts = sizes.value_counts()
    if len(counts) == 1:
        every = f"The {unit} was" if len(sizes) == 1 else f"All {counted(len(sizes), unit)} were"
        kept = "kept at that size" if counts.index[0] == f"{stored}×{stored}" else f"stored at {stored}×{stored} px"
        return f"{every} {counts.index[0]} px before import ({kept})."
    if len(counts) <= MAX_SIZE_BARS:
        table = counts.rename_axis("size (width×height)").reset_index(name=f"{unit}s")
        figure = px.bar(table, x="size (width×height)", y=f"{unit}s", title=f"Original {unit} size")
        figure.update_xaxes(type="category")
    else:
        long = pd.DataFrame({"width": widths, "height": heights}).melt(var_name="side", value_name="pixels")
        figure = px.histogram(long, x="pixels", color="side", barmode="overlay", title=f"Original {unit} size",
                              nbins=30)
    figure.update_layout(height=300, margin=dict(t=40, b=10, l=10, r=10))
    return figure


def _deletable(dataset: Dataset) -> bool:
    """A class-workspace dataset seen from another workspace (its id keeps the "class:" prefix) is read-only
    there, for the teacher too: it is deleted from the class workspace itself (core.data refuses it as well)."""
    from core.data.catalog import SHARED_PREFIX
    return not dataset.info.id.startswith(SHARED_PREFIX)


def _delete(workspace: str, dataset: Dataset) -> None:
    with st.expander("Delete this dataset"):
        st.write("Deleting removes the stored images and labels from this workspace. Runs trained on it keep "
                 "their weights and reports.")
        if st.button("Delete dataset", key=f"delete-{dataset.info.id}"):
            with user_errors():
                delete_dataset(workspace, dataset.info.id)
                select_dataset("")
                st.rerun()
