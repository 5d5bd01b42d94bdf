"""A run, live: status, progress, loss/metric/learning-rate charts and its controls. Polls the run store only;
training happens in a worker process. Every read applies the store's liveness rule, so a run whose worker died
turns from running to interrupted here within one poll, with a Resume button."""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.jobs.control import delete_run, prepare_resume, request_stop
from core.jobs.store import ACTIVE, RESUMABLE, RunRecord
from pages.ui.charts import loss_figure, lr_figure, metrics_figure, overlay_figure
from pages.ui.jobs import job_runner, run_store

POLL_S = 1.0
STATUS_ICONS = {"queued": ":material/schedule:", "running": ":material/play_circle:",
                "stopping": ":material/stop_circle:", "completed": ":material/check_circle:",
                "stopped": ":material/pause_circle:", "interrupted": ":material/warning:", "failed": ":material/error:"}


def render_run(run_id: str) -> None:
    """The live panel; it refreshes itself every second while the run is queued or running."""
    status = run_store().get(run_id).status
    st.fragment(run_every=POLL_S if status in ACTIVE else None)(_live)(run_id, status)


def _live(run_id: str, page_status: str) -> None:
    store = run_store()
    try:
        record = store.get(run_id)
    except UserError:
        st.info("This run was deleted.")
        return
    if record.status != page_status:
        st.rerun()  # started or finished: redraw the whole page once, so the runs table and sidebar agree
    st.markdown(f"### {STATUS_ICONS.get(record.status, '')} {record.name or record.id} · {record.status}")
    st.caption(f"{record.model} on {record.dataset} · device {record.device_used or record.device} · "
               f"workspace {record.workspace} · id {record.id}")
    if record.status == "interrupted":  # its worker died (the store's liveness rule marks it on every read)
        st.warning(f"Interrupted: {record.message or 'its worker ended without reporting'}.")
    elif record.message:
        (st.error if record.status == "failed" else st.info)(record.message)
    _progress(record)
    events = store.events(record)
    steps_per_epoch = record.steps_per_epoch or 1
    if events:
        loss, metrics, lr = st.columns(3)
        loss.plotly_chart(loss_figure(events, steps_per_epoch), width="stretch", key=f"loss-{run_id}")
        metrics.plotly_chart(metrics_figure(events), width="stretch", key=f"metrics-{run_id}")
        lr.plotly_chart(lr_figure(events, steps_per_epoch), width="stretch", key=f"lr-{run_id}")
    if record.status == "completed":
        summary = record.summary_dict
        tests = {k.removeprefix("test_"): v for k, v in summary.items() if k.startswith("test_") and isinstance(v, float)}
        if tests:
            st.markdown("**Held-out test split, best epoch's weights:** " +
                        " · ".join(f"{name.replace('_', ' ')} {value:.3f}" for name, value in tests.items()))
    _controls(record)


def _progress(record: RunRecord) -> None:
    if record.status == "queued":
        position = job_runner().queue_position(record.id)
        st.info(f"Waiting in the queue{f' (position {position})' if position else ''}: jobs run "
                f"{job_runner().slots} at a time per device.")
        return
    total_steps = max(1, record.epochs * (record.steps_per_epoch or 1))
    done = record.epoch * (record.steps_per_epoch or 1) + record.step
    parts = [f"epoch {min(record.epoch + (record.status in ACTIVE), record.epochs)}/{record.epochs}"]
    if record.status in ACTIVE:
        parts.append(f"step {record.step}/{record.steps_per_epoch or '?'}")
    if record.images_per_s:
        parts.append(f"{record.images_per_s:,.0f} images/s")
    if record.status in ACTIVE and record.eta_s is not None:
        parts.append(f"about {_duration(record.eta_s)} left")
    if record.duration_s is not None:
        parts.append(f"{_duration(record.duration_s)} so far" if record.status in ACTIVE
                     else f"took {_duration(record.duration_s)}")
    if record.best_value is not None:
        parts.append(f"best {record.monitor} {record.best_value:.4f} (epoch {record.best_epoch})")
    st.progress(min(done / total_steps, 1.0), text=" · ".join(parts))


def _controls(record: RunRecord) -> None:
    columns = st.columns(4)
    try:
        if record.status in ("running", "queued") and columns[0].button("Stop", key=f"stop-{record.id}"):
            request_stop(run_store(), record.id)
            st.rerun()
        if record.status in RESUMABLE and columns[0].button("Resume", key=f"resume-{record.id}", type="primary"):
            prepare_resume(run_store(), record.id)
            st.rerun()
        if record.status == "completed":
            more = columns[1].number_input("Train to epoch", record.epoch + 1, 10_000, record.epoch + 5,
                                           key=f"more-{record.id}")
            if columns[0].button("Continue training", key=f"continue-{record.id}"):
                prepare_resume(run_store(), record.id, epochs=int(more))
                st.rerun()
        if record.status not in ACTIVE and columns[3].button("Delete run", key=f"delete-{record.id}"):
            delete_run(run_store(), record.id)
            st.session_state.pop("run_id", None)
            st.rerun()
    except UserError as error:
        st.error(error.message)


def render_runs_table(workspace: str) -> list[str]:
    """The workspace's runs; returns the ids the user selected (for the live panel and the comparison)."""
    records = run_store().list(workspace)
    if not records:
        st.caption("No runs in this workspace yet.")
        return []
    table = pd.DataFrame([{
        "run": r.name or r.id, "status": r.status, "dataset": r.dataset,
        "model": r.model, "epochs": f"{r.epoch}/{r.epochs}",
        "best": f"{r.monitor} {r.best_value:.3f}" if r.best_value is not None else "",
        "test accuracy": r.summary_dict.get("test_accuracy"),
        "duration": _duration(r.duration_s) if r.duration_s is not None else "",
        "device": r.device_used or r.device, "started": time.strftime("%d %b %H:%M", time.localtime(r.created)),
    } for r in records])
    selection = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun",
                             selection_mode="multi-row", key=f"runs-table-{workspace}",
                             column_config={"test accuracy": st.column_config.NumberColumn(format="%.3f")})
    return [records[i].id for i in selection.selection.rows]


def render_comparison(run_ids: list[str]) -> None:
    store = run_store()
    records = [store.get(run_id) for run_id in run_ids]
    curves = {r.name or r.id: store.events(r) for r in records}
    metrics = sorted({k for events in curves.values() for e in events if e.get("kind") == "epoch"
                      for k in e if k.startswith(("val_", "train_"))})
    if not metrics:
        return
    default = metrics.index("val_loss") if "val_loss" in metrics else 0
    metric = st.selectbox("Compare runs by", metrics, index=default, key="compare-metric")
    st.plotly_chart(overlay_figure(curves, metric), width="stretch", key="compare-chart")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
