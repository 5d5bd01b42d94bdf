"""The Evaluate page's Export, Compare and Cross-validation tabs."""
from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.evaluate.export import FORMATS, SUFFIXES, export
from core.evaluate.int8_compare import comparison_rows
from core.evaluate.predict import Predictor
from core.jobs.cv import cv_groups, cv_runs, cv_summary, submit_cross_validation
from core.jobs.store import ACTIVE, RunRecord, RunStore
from pages.ui.jobs import session_limits
from pages.ui.session import user_errors

FORMAT_TEXT = {"onnx": "ONNX (checked in onnxruntime)", "pt2": "torch.export (.pt2)",
               "torchscript": "TorchScript (deprecated)", "int8": "INT8 ONNX (static, calibrated)",
               "card": "Model card (Markdown)"}
TORCH_EXPORT_NOTE = ("PyTorch has deprecated TorchScript in favour of torch.export: prefer the .pt2 file (load it "
                     "with `torch.export.load(path).module()`); TorchScript stays for runtimes that still need it.")


def render_export(store: RunStore, record: RunRecord, predictor: Predictor) -> None:
    st.write("Exported models take images in [0, 1] of the size below; the input normalisation is inside them.")
    st.caption(" · ".join(predictor.preprocessing.describe()[:2]) + f" Model input: {predictor.image_size} px.")
    fmt = st.radio("Format", FORMATS, format_func=FORMAT_TEXT.get, horizontal=True, key=f"export-format-{record.id}")
    if fmt in ("pt2", "torchscript"):
        st.caption(TORCH_EXPORT_NOTE)
    if st.button("Prepare the file", key=f"export-{record.id}"):
        with user_errors(), st.spinner("Exporting"):
            data, facts = export(predictor, record, store.config(record), store.run_dir(record), fmt)
            keep_export(record.id, (fmt, data, facts))
    prepared = st.session_state.get(f"export-file-{record.id}")
    if prepared and prepared[0] == fmt:
        _, data, facts = prepared
        if "max_difference_vs_pytorch" in facts:
            st.success(f"onnxruntime matches PyTorch to {facts['max_difference_vs_pytorch']:.1e}.")
        if fmt == "pt2":
            st.success("Reloaded with torch.export.load, the program matches PyTorch on batches of 2 and 3 images.")
        if fmt == "int8" and "int8_bytes" in facts:   # the card states these itself: no second table beside it
            render_int8_comparison(facts)
        if fmt == "card":
            with st.expander("Preview", expanded=True):
                st.markdown(demote_headings(data.decode()))
        st.download_button(f"Download {FORMAT_TEXT[fmt]}", data, file_name=f"{record.id}{SUFFIXES[fmt]}",
                           key=f"download-{record.id}-{fmt}", on_click="ignore")


def render_int8_comparison(facts: dict) -> None:
    """Float and INT8 ONNX side by side (core.evaluate.int8_compare), and which quantisation was used and why."""
    rows = comparison_rows(facts)
    table = pd.DataFrame([row[1:] for row in rows], index=[row[0] for row in rows], columns=["Float ONNX", "INT8 ONNX"])
    table.index.name = "measure"
    st.table(table)
    st.caption(f"{facts['quantisation_reason']} Times: {facts['timing']}. {facts.get('int8_hardware', '')}".rstrip())


def keep_export(run_id: str, prepared: tuple) -> None:
    """Keep a prepared export (format, file bytes, facts) in the session for its download button, and only the
    latest: a model file is megabytes, and a session that exported several runs would otherwise hold them all
    until it ends."""
    for key in [k for k in st.session_state if str(k).startswith(EXPORT_KEY)]:
        del st.session_state[key]
    st.session_state[f"{EXPORT_KEY}{run_id}"] = prepared


EXPORT_KEY = "export-file-"  # + run id: session_state's prepared export


def demote_headings(markdown: str, levels: int = 2) -> str:
    """The Markdown with every ATX heading `levels` deeper (at most h6), so a previewed document's "# Title"
    reads as a section of the page rather than a second page title."""
    return re.sub(r"^(#{1,6})(?=\s)", lambda m: "#" * min(6, len(m.group(1)) + levels), markdown, flags=re.M)


def render_compare(store: RunStore, completed: list[RunRecord]) -> None:
    labels = {r.id: f"{r.name or r.id} · {r.model} · {r.dataset}" for r in completed}
    chosen = st.multiselect("Runs", list(labels), default=list(labels)[:3], format_func=labels.get, key="compare-runs")
    if not chosen:
        return
    records = [store.get(run_id) for run_id in chosen]
    names = [r.name or r.id for r in records]
    rows = []
    for record, name in zip(records, names):   # a column per run, headed by its name (and id when names repeat)
        summary = record.summary_dict
        rows.append({"run": name if names.count(name) == 1 else f"{name} ({record.id})", "epochs": record.epoch,
                     **{k.removeprefix("test_").replace("_", " "): v for k, v in summary.items()
                        if k.startswith("test_") and isinstance(v, float)},
                     # the run's training time, as its header says it ("took ..."), not the summary's figure,
                     # which is taken before the test evaluation and the report are written
                     "training time (s)": None if record.duration_s is None else round(record.duration_s, 1)})
    table = pd.DataFrame(rows).set_index("run").T.round(4)
    table.index.name = "measure"
    st.caption(" · ".join(f"**{row['run']}**: {labels[r.id].split(' · ', 1)[1]}" for row, r in zip(rows, records)))
    st.dataframe(table, width="stretch", column_config={"measure": st.column_config.TextColumn(width="medium")})


def render_cross_validation(store: RunStore, workspace: str, record: RunRecord) -> None:
    st.write("k-fold cross-validation trains k copies of this run's recipe, each validating on another fold of "
             "the pooled training and validation images; the test split stays held out. The runs go through "
             "the job queue like any other.")
    left, right = st.columns([1, 3], vertical_alignment="bottom")   # the button on the field's line, not its label's
    folds = left.number_input("Folds (k)", 2, 10, 5, key=f"cv-folds-{record.id}")
    if right.button(f"Start {folds}-fold cross-validation of this recipe", key=f"cv-start-{record.id}"):
        config = {k: v for k, v in store.config(record).items() if k not in ("folds", "fold", "cv_group")}
        try:
            submit_cross_validation(store, workspace, config, int(folds), limits=session_limits())
        except UserError as error:
            st.error(error.message)
    groups = cv_groups(store, workspace)
    if groups:
        group = st.selectbox("Cross-validation", groups, key="cv-group")
        _cv_result(store, workspace, group)


def _cv_result(store: RunStore, workspace: str, group: str) -> None:
    active = any(r.status in ACTIVE for r in cv_runs(store, workspace, group))

    @st.fragment(run_every=2.0 if active else None)
    def show() -> None:
        summary = cv_summary(store, workspace, group)
        st.caption(f"{summary['completed']} of {summary['folds']} folds completed · " +
                   ", ".join(f"{status}" for status in summary["statuses"].values()))
        if summary["metrics"]:
            st.dataframe(pd.DataFrame({name: {"mean": v["mean"], "std": v["std"], "folds": len(v["values"])}
                                       for name, v in summary["metrics"].items()}).T.round(4), width="stretch")

    show()
