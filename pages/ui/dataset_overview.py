"""The Dataset page's overview: counts per split and class, balance, intensity and size histograms, policy."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.data.stats import imbalance_advice, intensity_histogram, original_sizes
from core.data.store import Dataset, delete_dataset
from pages.ui.session import select_dataset, user_errors


def render_overview(workspace: str, dataset: Dataset) -> None:
    info = dataset.info
    columns = st.columns(4)
    columns[0].metric("Images", f"{info.num_images:,}")
    columns[1].metric("Classes", len(info.classes) if info.classes else "none")
    columns[2].metric("Size", f"{info.size} px · {'RGB' if info.channels == 3 else 'grey'}")
    columns[3].metric("Task", info.task)
    if info.description:
        st.caption(info.description)
    if info.task == "unlabelled":
        st.info("This dataset has no labels, so it can be viewed, enhanced and used for synthesis, but the Train "
                "page cannot train a classifier on it. To label images, import them in class folders or with a "
                "CSV of filename,label.")
    else:
        _balance(info.class_counts, info.split_counts)
        advice = imbalance_advice(info.class_counts.get("train", {}))
        if advice:
            st.warning(advice)
    _histograms(dataset)
    with st.expander("How the images were prepared"):
        st.json(info.preprocessing)
    if info.skipped:
        with st.expander(f"Files skipped at import ({len(info.skipped)})"):
            st.dataframe(pd.DataFrame(info.skipped), hide_index=True, width="stretch")
    if not info.builtin:
        _delete(workspace, dataset)


def _balance(class_counts: dict[str, dict[str, int]], split_counts: dict[str, int]) -> None:
    table, figure = _balance_table_and_figure(class_counts, split_counts)
    left, right = st.columns([1, 2])
    left.markdown("**Images per split and class**")
    left.dataframe(table, width="stretch")
    right.plotly_chart(figure, width="stretch", key="balance-chart")


# The table and figures are built once per dataset and shared by every session (read-only): building the plotly
# figures and sampling the intensities took most of this page's server time on each visit.
@st.cache_resource(show_spinner=False, max_entries=64)
def _balance_table_and_figure(class_counts: dict[str, dict[str, int]], split_counts: dict[str, int]
                              ) -> tuple[pd.DataFrame, go.Figure]:
    table = pd.DataFrame(class_counts).fillna(0).astype(int)
    table.loc["total"] = pd.Series(split_counts)
    long = table.drop(index="total").reset_index(names="class").melt(id_vars="class", var_name="split",
                                                                      value_name="images")
    figure = px.bar(long, x="class", y="images", color="split", barmode="group", title="Class balance",
                    category_orders={"split": ["train", "val", "test"]})
    figure.update_layout(height=320, margin=dict(t=40, b=10, l=10, r=10))
    return table, figure


def _histograms(dataset: Dataset) -> None:
    intensity, sizes = _histogram_figures(str(dataset.path), dataset.info.created)
    left, right = st.columns(2)
    left.plotly_chart(intensity, width="stretch", key="intensity-chart")
    right.plotly_chart(sizes, width="stretch", key="size-chart")


@st.cache_resource(show_spinner=False, max_entries=64)
def _histogram_figures(folder: str, created: str) -> tuple[go.Figure, go.Figure]:
    """(pixel intensity, original size) of the dataset stored in `folder` (`created` tells two apart that were
    stored in the same folder)."""
    dataset = Dataset(Path(folder))
    edges, histograms = intensity_histogram(dataset)
    centres = (edges[:-1] + edges[1:]) / 2
    intensity = go.Figure([go.Scatter(x=centres, y=values, name=name, mode="lines")
                           for name, values in histograms.items()])
    intensity.update_layout(title="Pixel intensity (sample of images)", xaxis_title="intensity (0-1)",
                            yaxis_title="fraction of pixels", height=300, margin=dict(t=40, b=10, l=10, r=10))
    widths, heights = original_sizes(dataset)
    sizes = pd.DataFrame({"width": widths, "height": heights})
    size_figure = px.histogram(sizes.melt(var_name="side", value_name="pixels"), x="pixels", color="side",
                               barmode="overlay", title="Original image size", nbins=30)
    size_figure.update_layout(height=300, margin=dict(t=40, b=10, l=10, r=10))
    return intensity, size_figure


def _delete(workspace: str, dataset: Dataset) -> None:
    with st.expander("Delete this dataset"):
        st.write("Deleting removes the stored images and labels from this workspace. Runs trained on it keep "
                 "their weights and reports.")
        if st.button("Delete dataset", key=f"delete-{dataset.info.id}"):
            with user_errors():
                delete_dataset(workspace, dataset.info.id)
                select_dataset("")
                st.rerun()
