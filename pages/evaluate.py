"""Evaluate page: a trained run's test report, explanations, predictions on uploads, export, comparison and
cross-validation. A link /evaluate?run=<id> opens that run, when it is yours to read."""
from __future__ import annotations

import streamlit as st

from core.data.catalog import open_dataset
from core.errors import UserError
from core.evaluate.report import load_report
from pages.ui.entry import through_entry_point
from pages.ui.eval_distill import render_distillation
from pages.ui.eval_more import render_compare, render_cross_validation, render_export
from pages.ui.eval_predict import predictor_for, render_explain, render_predict
from pages.ui.eval_report import render_report
from pages.ui.eval_sequence import (render_sequence_explain, render_sequence_export, render_sequence_predict,
                                    sequence_predictor_for)
from pages.ui.jobs import run_store
from pages.ui.session import current_workspace, linked_run, user_errors

through_entry_point()
st.title("Evaluate")
workspace = current_workspace()
store = run_store()
# a sequence run classifies clips and a distillation run trains a student classifier: the same report
CLASSIFIERS = ("classification", "multilabel", "sequence", "distillation")
completed = [r for r in store.list(workspace, statuses=("completed",)) if r.task in CLASSIFIERS]
if linked := linked_run("evaluate"):  # a shared link: that run, also when it is another readable workspace's
    st.session_state["eval-linked"] = st.session_state["run_id"] = linked  # the Run picker's default, which ...
    st.session_state.pop("eval-run", None)  # ... it takes when it has no value of its own
if (extra := st.session_state.get("eval-linked")) and extra not in {r.id for r in completed}:
    with user_errors():
        record = store.get(extra)
        if record.status == "completed" and record.task in CLASSIFIERS:
            completed.insert(0, record)
        elif linked:
            st.info(f"Run '{extra}' has no test report to show here: it is {record.status}, and the Evaluate page "
                    "shows completed classification runs.")
if not completed:
    st.info("No completed classification runs in this workspace yet: train one on the Train page, then come back "
            "for its test report, explanations, predictions and export.")
    st.stop()

labels = {r.id: f"{r.name or r.id} · {r.model} on {r.dataset} · test accuracy "
                f"{r.summary_dict.get('test_accuracy', float('nan')):.3f}" for r in completed}
default = st.session_state.get("run_id") if st.session_state.get("run_id") in labels else next(iter(labels))
run_id = st.selectbox("Run", list(labels), index=list(labels).index(default), format_func=labels.get, key="eval-run")
record = store.get(run_id)
folder = store.run_dir(record)
report = load_report(folder)
try:
    dataset = open_dataset(record.workspace, record.dataset)  # where the run was trained (a linked run's too)
    sequence = record.task == "sequence"   # a clip classifier: its own Explain, Predict and Export views
    predictor = sequence_predictor_for(store, run_id) if sequence else predictor_for(store, run_id)
except UserError as error:
    st.error(error.message)
    st.stop()

tabs = st.tabs(["Report", "Explain", "Predict", "Export", "Compare", "Cross-validation"], key="eval-tab",
               on_change="rerun")
names = ("report", "explain", "predict", "export", "compare", "cv")
open_tab = {name: tab for name, tab in zip(names, tabs) if tab.open}
with user_errors():
    if "report" in open_tab:
        with open_tab["report"]:
            if record.task == "distillation":  # its teacher, the student alone and itself, side by side
                render_distillation(store, record)
            if report is None:
                st.info("This run has no stored report (it finished before reports existed).")
            else:
                render_report(report, dataset, folder, key=f"report-{run_id}")
    if "explain" in open_tab:
        with open_tab["explain"]:
            (render_sequence_explain if sequence else render_explain)(predictor, dataset, key=f"explain-{run_id}")
    if "predict" in open_tab:
        with open_tab["predict"]:
            (render_sequence_predict if sequence else render_predict)(predictor, key=f"predict-{run_id}")
    if "export" in open_tab:
        with open_tab["export"]:
            (render_sequence_export if sequence else render_export)(store, record, predictor)
    if "compare" in open_tab:
        with open_tab["compare"]:
            render_compare(store, completed)
    if "cv" in open_tab:
        with open_tab["cv"]:
            render_cross_validation(store, workspace, record)
