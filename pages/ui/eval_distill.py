"""The Evaluate page's distillation section: teacher, student trained alone and student distilled side by side
(core.jobs.distillation), with a button to queue the student alone when the workspace has no such run."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.evaluate.distillation import SPEED_REPEATS
from core.jobs.distillation import DistillationTable, distillation_table, find_student_alone, queue_student_alone
from core.jobs.store import RunRecord, RunStore
from core.train.run_folder import weights_version
from pages.ui.jobs import session_limits
from pages.ui.session import user_errors


@st.cache_data(show_spinner="Timing the three models on the CPU…", max_entries=8)
def _table(_store: RunStore, workspace: str, run_id: str, signature: tuple) -> DistillationTable:
    """Cached by the three runs' ids, statuses and weights: their speed is measured once, not on every rerun."""
    return distillation_table(_store, workspace, run_id)


def _signature(store: RunStore, record: RunRecord) -> tuple:
    config = store.config(record)
    alone = find_student_alone(store, record.workspace, config)
    runs = [record, alone]
    try:
        runs.append(store.get(str(config.get("teacher_run", ""))))
    except UserError:  # the teacher was deleted: its row says so
        runs.append(None)
    return tuple((r.id, r.status, weights_version(store.run_dir(r))) if r is not None else None for r in runs)


def table_frame(table: DistillationTable) -> pd.DataFrame:
    """The rows as the page shows them: accuracy with its 95% interval, parameters, weights in MB, ms per image."""
    def number(value, form: str) -> str:
        return "" if value is None else format(value, form)

    return pd.DataFrame([{
        "model": row["role"], "run": row["run"] or "—", "architecture": row["architecture"] or "",
        "test accuracy": row["accuracy"],
        "95% CI": "" if row["ci_low"] is None else f"{row['ci_low']:.3f} – {row['ci_high']:.3f}",
        "parameters": number(row["parameters"], ","),
        "weights (MB)": None if row["weights_bytes"] is None else round(row["weights_bytes"] / 1e6, 3),
        "ms per image": None if row["ms_per_image"] is None else round(row["ms_per_image"], 3),
        "status": row["status"] if row["status"] != "none" else "not trained",
    } for row in table.rows])


def render_distillation(store: RunStore, record: RunRecord) -> None:
    """The comparison table of distillation run `record`, and what to do when a row is missing."""
    st.subheader("Distillation: teacher, student alone, student distilled")
    table = _table(store, record.workspace, record.id, _signature(store, record))
    facts = table.facts
    st.caption(f"Teacher run {facts.get('teacher_run')}, temperature T = {facts.get('temperature')}, weight of the "
               f"soft targets w = {facts.get('distill_weight')}.")
    st.dataframe(table_frame(table), hide_index=True, width="stretch")
    st.caption("Accuracy on the held-out test split with its 95% interval from each run's report. Weights: the "
               "float32 safetensors file (with BatchNorm statistics). Speed: PyTorch on this server's CPU, batch 1, "
               f"median of {SPEED_REPEATS} passes, the three measured one after another (busy servers read slower).")
    alone = table.student_alone
    if alone is None:
        st.info("No run of this student trained alone (same model, data, epochs, seed and recipe, no teacher) in this "
                "workspace yet, so the table cannot say what the teacher added.")
        if st.button("Train the student alone (same recipe)", key=f"distill-alone-{record.id}"):
            with user_errors():
                queued = queue_student_alone(store, record.workspace, record.id, limits=session_limits())
                st.success(f"Queued run {queued.id}; its row fills in when it completes.")
    elif alone.status != "completed":
        st.caption(f"The student alone (run {alone.id}) is {alone.status}; its row fills in when it completes.")
    else:
        st.markdown(table.verdict)
