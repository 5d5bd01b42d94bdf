"""The Synthesize page's Put to use tab: one button queues classifiers trained with the run's images (synthetic
only, TSTR; real + synthetic for one class) beside the real-only baseline, and a table compares them on the real
test split as they finish (core.jobs.synthetic_experiments)."""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.jobs.store import ACTIVE, RunRecord
from core.jobs.synthetic_experiments import experiment_table, queue_synthetic_experiments
from core.train.run_folder import REBUILD_SPEC, read_json
from pages.ui.jobs import run_store, session_limits

POLL_S = 2.0
RAREST = "__rarest__"


def render_use(workspace: str, record: RunRecord) -> None:
    store = run_store()
    spec_path = store.run_dir(record) / REBUILD_SPEC
    spec = read_json(spec_path) if spec_path.exists() else {}
    classes = list(spec.get("classes") or ([spec["train_class"]] if spec.get("train_class") else []))
    st.markdown("Do the generated images help? Classifiers with the recommended recipe are trained as queued runs "
                "and judged on the same **real** test split: **real only** (the baseline, reused when one has "
                "finished), **synthetic only** (train on synthetic, test on real: TSTR, for a class-conditional "
                "model) and **real + synthetic** images of one class (e.g. a rare one).")
    if not classes:
        st.info("This model draws images of no class (it learned every class unconditionally), so no classifier "
                "can be trained on its images. Train a class-conditional GAN, or an autoencoder on one class.")
        return
    class_col, boost_col, tstr_col = st.columns(3)
    chosen = class_col.selectbox("Class to add synthetic images of", [RAREST, *classes], key="use-class",
                                 format_func=lambda c: "the rarest class" if c == RAREST else c)
    boost = boost_col.number_input("Synthetic images of it (0: enough to match the largest class, and at least as many as it has)", 0, 10_000, 0,
                                   key="use-boost-n")
    per_class = tstr_col.number_input("Synthetic images per class for TSTR (0: as many as the real training set)",
                                      0, 10_000, 0, key="use-per-class", disabled=not spec.get("classes"))
    if st.button("Queue the experiments", type="primary", key="use-queue", icon=":material/playlist_add:"):
        with st.spinner("Drawing the images and queuing the runs"):
            entries = queue_synthetic_experiments(store, workspace, record.id,
                                                  boost_class=None if chosen == RAREST else chosen,
                                                  boost_n=int(boost) or None, n_per_class=int(per_class) or None,
                                                  limits=session_limits())
        st.success(f"Queued {len(entries)} runs; they train one after another in the job queue (the sidebar shows "
                   "it), and the table below fills in as they finish.")
    rows = experiment_table(workspace, record.id, store)
    if rows:
        active = any(row["status"] in ACTIVE for row in rows)
        st.fragment(run_every=POLL_S if active else None)(_table)(workspace, record.id)


def _table(workspace: str, run_id: str) -> None:
    rows = experiment_table(workspace, run_id, run_store())
    st.dataframe(results_frame(rows), hide_index=True, width="stretch", key="use-table")
    st.caption("Accuracy on the real test split with its 95% interval; the difference is against the real-only "
               "baseline. Overlapping intervals mean the difference may be chance.")


def results_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per experiment: training images, status, test accuracy and balanced accuracy (with 95% intervals)
    and the accuracy difference from the baseline."""
    baseline = next((r["test_accuracy"]["value"] for r in rows
                     if r["experiment"] == "baseline" and r.get("test_accuracy")), None)
    table = []
    for row in rows:
        accuracy = row.get("test_accuracy")
        status = row["status"]
        if status in ("running", "stopping") and row.get("epochs"):
            status = f"running, epoch {row.get('epoch', 0)}/{row['epochs']}"
        table.append({
            "experiment": row["title"] + (" · reused" if row.get("reused") else ""),
            "real training images": row["train_real"], "synthetic training images": row["train_synthetic"],
            "status": status, "test accuracy": _interval(accuracy),
            "balanced accuracy": _interval(row.get("test_balanced_accuracy")),
            "vs baseline": "" if accuracy is None or baseline is None or row["experiment"] == "baseline"
            else f"{accuracy['value'] - baseline:+.3f}",
            "run": row["run"]})
    return pd.DataFrame(table)


def _interval(metric: dict[str, Any] | None) -> str:
    if not metric or metric.get("value") is None:
        return ""
    text = f"{metric['value']:.3f}"
    if metric.get("ci_low") is not None and metric.get("ci_high") is not None:
        text += f" [{metric['ci_low']:.3f}, {metric['ci_high']:.3f}]"
    return text
