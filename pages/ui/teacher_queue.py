"""The teacher's view of the job queue: every workspace's running and queued runs in the order they will start
(core.jobs.fair_queue.launch_order: round-robin across participants, the teacher's reordering first), live, with
Stop, Move to front, Move to back and a per-run time cap.

Every action goes through the admin's run store (teacher_common.admin_store checks the admin role again) and the
same core.jobs.control functions the CLI uses; the queue runner picks the new order up at its next launch.
"""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from core.jobs import control
from core.jobs.fair_queue import launch_order
from core.jobs.store import RunRecord, RunStore
from core.train.eta import format_duration
from pages.ui.jobs import activity, running_where
from pages.ui.session import user_errors
from pages.ui.teacher_common import admin_store, display_names, participants

POLL_S = 2.0
DONE_KEY = "teacher-queue-done"     # session_state: (the sentence saying what the last action did, when)
DONE_SHOWN_S = 20.0


def render_queue() -> None:
    st.subheader("Queue")
    st.caption("Running and queued runs of every participant, in the order they will start: one run per "
               "participant in turn, so a second run of anyone waits for everyone's first. Runs you move to the "
               "front start before all others.")
    st.fragment(run_every=POLL_S)(_queue)()


def queue_in_order(store: RunStore) -> tuple[list[RunRecord], list[RunRecord]]:
    """(running or stopping runs, oldest start first; queued runs in launch order) of every workspace."""
    active = store.list(statuses=("queued", "running", "stopping"))
    running = sorted((r for r in active if r.status != "queued"), key=lambda r: r.started or r.created)
    return running, launch_order([r for r in active if r.status == "queued"], running)


def queue_rows(running: list[RunRecord], queued: list[RunRecord], names: dict[str, str],
               now: float | None = None) -> list[dict[str, object]]:
    """The table's rows: place ("running", or 1, 2, ... in launch order), participant, run, model, dataset,
    progress, device, elapsed (running; "starting" before its worker has begun) or waiting time (queued), and the
    run's time cap."""
    now = now or time.time()
    rows = []
    for place, record in [("running", r) for r in running] + [(str(i), r) for i, r in enumerate(queued, 1)]:
        trained = record.duration_at(now) if record.status != "queued" else None
        rows.append({
            "place": place + (_moved(record) if record.status == "queued" else ""),
            "participant": names.get(record.workspace, record.workspace),
            "run": record.name or record.id,
            "model": record.model,
            "dataset": record.dataset,
            "progress": _progress(record),
            "device": running_where(record),  # with the node's name when it runs on another machine (Ray)
            "elapsed": (format_duration(trained) if trained is not None else "starting" if record.status != "queued"
                        else f"waiting {format_duration(now - record.created)}"),
            "cap": f"{record.max_minutes:g} min" if record.max_minutes > 0 else "none",
        })
    return rows


def _progress(record: RunRecord) -> str:
    """A table cell's few words: "epoch 4/6" while training or validating, "0/6 epochs" while queued, else the
    phase ("preparing data", "evaluating the test split", "stopping")."""
    if record.status == "queued":
        return f"0/{record.epochs} epochs"
    if record.status == "running" and record.phase in ("training", "evaluating the validation split"):
        return f"epoch {min(record.epoch + 1, record.epochs)}/{record.epochs}"
    return activity(record)


def _moved(record: RunRecord) -> str:
    """↑ for a run the teacher moved to the front, ↓ for one moved to the back."""
    return " ↑" if record.priority > 0 else " ↓" if record.priority < 0 else ""


def _queue() -> None:
    store = admin_store()
    running, queued = queue_in_order(store)
    done, when = st.session_state.get(DONE_KEY, ("", 0.0))
    if done and time.time() - when < DONE_SHOWN_S:
        st.success(done, icon=":material/check:")
    if not running and not queued:
        st.caption("The queue is empty: no run is running or waiting.")
        return
    names = display_names(participants())
    st.dataframe(pd.DataFrame(queue_rows(running, queued, names)), hide_index=True, width="stretch",
                 column_config={
                     "place": st.column_config.TextColumn("place", help="running, or the place in the queue; ↑/↓: "
                                                          "moved to the front/back by you", width=70),
                     "participant": st.column_config.TextColumn("participant", width=125),
                     "run": st.column_config.TextColumn("run", width=175),
                     "model": st.column_config.TextColumn("model", width=80),
                     "dataset": st.column_config.TextColumn("dataset", width=110),
                     "progress": st.column_config.TextColumn("progress", width=125),
                     "device": st.column_config.TextColumn("device", width=75),
                     "elapsed": st.column_config.TextColumn("elapsed", help="training time so far, or how long it "
                                                            "has waited", width=105),
                     "cap": st.column_config.TextColumn("cap", help="training minutes this run may use; then it "
                                                        "stops training and is evaluated", width=65),
                 })
    _actions(store, running + queued, names)


def _label(record: RunRecord, names: dict[str, str], place: str) -> str:
    return f"{place} · {names.get(record.workspace, record.workspace)} · {record.name or record.model} ({record.id})"


def _actions(store: RunStore, records: list[RunRecord], names: dict[str, str]) -> None:
    """A run picked from the queue, and what the teacher can do to it."""
    queued_ids = [r.id for r in records if r.status == "queued"]
    by_id = {r.id: r for r in records}
    places = {r.id: ("running" if r.status != "queued" else f"#{queued_ids.index(r.id) + 1}") for r in records}
    pick, cap, set_cap = st.columns([4, 1.3, 1], vertical_alignment="bottom")
    run_id = pick.selectbox("Run", list(by_id), format_func=lambda i: _label(by_id[i], names, places[i]),
                            key="teacher-run")
    record = by_id[run_id]
    minutes = cap.number_input("Cap (minutes)", min_value=0.0, max_value=24 * 60.0, step=5.0,
                               value=float(record.max_minutes), format="%g", key=f"teacher-cap-{run_id}",
                               help="Training minutes this run may use (0: no cap); it takes effect while it runs.")
    stop, front, back, _ = st.columns([1, 1.2, 1.2, 3])
    who = f"{names.get(record.workspace, record.workspace)}'s run {record.name or record.id}"
    with user_errors():
        if stop.button("Stop", key="teacher-stop", icon=":material/stop_circle:", disabled=record.status == "stopping",
                       help="A queued run stops at once; a running one saves a checkpoint and stops at its next step."):
            _done(control.request_stop(store, run_id, by="the teacher"), f"Stopped {who}." if record.status == "queued"
                  else f"Asked {who} to stop: it saves a checkpoint and stops at its next step.")
        if front.button("Move to front", key="teacher-front", icon=":material/vertical_align_top:",
                        disabled=record.status != "queued", help="It starts before every other queued run."):
            _done(control.move_to_front(store, run_id), f"Moved {who} to the front of the queue.")
        if back.button("Move to back", key="teacher-back", icon=":material/vertical_align_bottom:",
                       disabled=record.status != "queued", help="It starts after every other queued run."):
            _done(control.move_to_back(store, run_id), f"Moved {who} to the back of the queue.")
        if set_cap.button("Set cap", key="teacher-set-cap", icon=":material/timer:"):
            _done(control.set_run_cap(store, run_id, minutes),
                  f"{who[0].upper()}{who[1:]} may train for at most {minutes:g} minutes." if minutes > 0
                  else f"{who[0].upper()}{who[1:]} has no time cap of its own now.")


def _done(record: RunRecord, sentence: str) -> None:
    """Remember what was done and redraw the queue with it."""
    st.session_state[DONE_KEY] = (sentence, time.time())
    st.rerun()  # the whole page: the participants table counts the change too
