"""A run, live: status, progress, loss/metric/learning-rate charts and its controls. Polls the run store only;
training happens in a worker process. Every read applies the store's liveness rule, so a run whose worker died
turns from running to interrupted here within one poll, with a Resume button."""
from __future__ import annotations

import time

import streamlit as st

from core.errors import UserError
from core.jobs.control import delete_run, prepare_resume, request_stop
from core.jobs.limits import minutes_text
from core.jobs.queue_estimate import queue_positions, queue_sentence
from core.jobs.store import ACTIVE, RESUMABLE, RunRecord
from core.tasks import DATA_PARALLEL_TASKS, load_config
from core.tasks.generative import GENERATIVE_TASKS
from core.text import counted
from core.train.distributed import workers_text
from core.train.eta import Estimate, format_duration, format_left
from pages.ui.charts import loss_figure, lr_figure, metrics_figure, overlay_figure, terms_figure
from pages.ui.jobs import BEFORE_TRAINING, activity, job_runner, run_store, session_limits
from pages.ui.sample_grid import render_sample_grid

POLL_S = 1.0
QUEUED_POLL_S = 3.0  # a queued run's place changes only when a run starts or ends (thirty tabs of it, in a workshop)
STATUS_ICONS = {"queued": ":material/schedule:", "running": ":material/play_circle:",
                "stopping": ":material/stop_circle:", "completed": ":material/check_circle:",
                "stopped": ":material/pause_circle:", "interrupted": ":material/warning:", "failed": ":material/error:"}


def render_run(run_id: str) -> None:
    """The live panel; it refreshes itself every second while the run is running, every few while it is queued."""
    status = run_store().get(run_id).status
    every = QUEUED_POLL_S if status == "queued" else POLL_S if status in ACTIVE else None
    st.fragment(run_every=every)(_live)(run_id, status)


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
    parallel = workers_text(load_config(store.config(record))) if record.task in DATA_PARALLEL_TASKS else None
    st.caption(f"{record.model} on {record.dataset} · device {record.device_used or record.device} · "
               + (f"{parallel} · " if parallel else "") + f"workspace {record.workspace} · id {record.id}" +
               (f" · training capped at {minutes_text(record.max_minutes)}" if record.max_minutes else ""))
    if record.status == "interrupted":  # its worker died (the store's liveness rule marks it on every read)
        st.warning(f"Interrupted: {record.message or 'its worker ended without reporting'}.")
    elif record.message:
        (st.error if record.status == "failed" else st.info)(record.message)
    _progress(record)
    events = store.events(record)
    steps_per_epoch = record.steps_per_epoch or 1
    if record.task in GENERATIVE_TASKS:  # the samples from a fixed noise batch, and the model's own step terms
        grid_col, terms_col = st.columns(2)
        with grid_col:
            render_sample_grid(store.run_dir(record), record.id, store.config(record), record.workspace,
                               live=record.status in ACTIVE)
            if record.status not in ACTIVE and record.best_epoch:
                st.page_link("pages/synthesize.py", label="Sample, judge and use this model on the Synthesize page",
                             icon=":material/blur_on:")
        terms = terms_figure(events, steps_per_epoch)
        if terms is not None:
            terms_col.plotly_chart(terms, width="stretch", key=f"terms-{run_id}")
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
    """The progress line: the phase by name, the epoch and step while training, speed, time left and best."""
    if record.status == "queued":
        st.info(queue_line(record))
        return
    steps_per_epoch = record.steps_per_epoch or 1
    total_steps = max(1, record.epochs * steps_per_epoch)
    done = min(record.epoch * steps_per_epoch + record.step, total_steps)
    active = record.status in ACTIVE
    phase = record.phase if active else None
    parts = [activity(record) if active else f"epoch {record.epoch}/{record.epochs}"]
    if not active and record.step and record.status != "completed":   # stopped inside an epoch: say how far in
        parts[0] += f" and {counted(record.step, 'step')} of epoch {record.epoch + 1}"
    if active and phase == "training" and record.steps_per_epoch:
        parts.append(f"step {record.step}/{record.steps_per_epoch}")
    if record.images_per_s and phase in ("training", "evaluating the validation split"):
        parts.append(f"{record.images_per_s:,.0f} {'frames' if record.task == 'sequence' else 'images'}/s")
    if active and (left := time_left(record)):
        parts.append(left)
    if record.duration_s is not None:
        parts.append(f"{format_duration(record.duration_s)} so far" if active
                     else f"took {format_duration(record.duration_s)}")
    if record.best_value is not None:
        parts.append(f"best {(record.monitor or '').replace('_', ' ')} {record.best_value:.4f} (epoch {record.best_epoch})")
    st.progress(1.0 if record.status == "completed" else done / total_steps, text=" · ".join(parts))


def time_left(record: RunRecord) -> str | None:
    """"about 3–4 min left" while training; during the test split's evaluation what its estimate has left; nothing
    before the first steps are measured or while the report is written (no figure is better than a wrong one)."""
    if record.eta_s is None or record.phase in BEFORE_TRAINING or record.phase == "writing the report":
        return None
    estimate = Estimate(record.eta_s, record.eta_low_s if record.eta_low_s is not None else record.eta_s,
                        record.eta_high_s if record.eta_high_s is not None else record.eta_s)
    if record.phase == "evaluating the test split":  # no progress reports inside it: count down its estimate
        spent = time.time() - (record.phase_since or time.time())
        if record.eta_s - spent <= 1:
            return None
        estimate = Estimate(record.eta_s - spent, max(0.0, estimate.low - spent), estimate.high - spent)
    return format_left(estimate)


def queue_line(record: RunRecord) -> str:
    """Where a queued run stands: its place among the runs waiting for the same device, in the fair order the job
    runner starts them (core.jobs.fair_queue), and when it should start (core.jobs.queue_estimate). Counted over
    every workspace's runs (the runner's own store); only this run's place is shown."""
    runner = job_runner()
    place = queue_positions(runner.store, runner.gpus, runner.slots).get(record.id)
    if place is None:  # it started (or was stopped) between the two reads
        return "Starting…"
    return queue_sentence(place, runner.gpus, runner.slots)


def _controls(record: RunRecord) -> None:
    try:
        # rows that wrap instead of fixed columns, which cut labels off in a narrow window; Delete kept apart, at
        # the far right
        row = st.container(horizontal=True, horizontal_alignment="distribute", vertical_alignment="bottom")
        first = row.container(horizontal=True, vertical_alignment="bottom", width="content")
        delete_col = row.container(width="content")
        if record.status == "completed":  # the field first, then the button that acts on it
            more = first.number_input("Train to epoch", record.epoch + 1, 10_000, record.epoch + 5,
                                      key=f"more-{record.id}", width=140)
            if first.button("Continue training", key=f"continue-{record.id}"):
                prepare_resume(run_store(), record.id, epochs=int(more), limits=session_limits())
                st.rerun()
        else:
            if record.status in ("running", "queued") and first.button("Stop", key=f"stop-{record.id}"):
                request_stop(run_store(), record.id)
                st.rerun()
            if record.status in RESUMABLE and first.button("Resume", key=f"resume-{record.id}", type="primary"):
                prepare_resume(run_store(), record.id, limits=session_limits())
                st.rerun()
        if record.status not in ACTIVE and delete_col.button("Delete run", key=f"delete-{record.id}"):
            delete_run(run_store(), record.id)
            st.session_state.pop("run_id", None)
            st.rerun()
    except UserError as error:
        st.error(error.message)


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
