"""The Train page's table of the workspace's runs: live while any run is active, a row picked shows that run.

The table is drawn in a fragment that polls the run store while a run is queued or running, so its epochs and
best values follow the live panel. Rows are picked by run id, not by row number, so a run started in another tab
(a new top row) does not move the selection to another run.
"""
from __future__ import annotations

import hashlib
import math
import time

import pandas as pd
import streamlit as st

from core.jobs.store import ACTIVE, RunRecord
from core.train.eta import format_duration
from pages.ui.jobs import run_store

POLL_S = 2.0
IDLE_POLL_S = 5.0
SHOWN_KEY = "run_id"            # the run in the live panel (the Evaluate page starts from it too)
PICKED_KEY = "train-picked"     # the runs ticked in the table (two or more: their curves are compared)
# summary entries shown as columns when any run has them: classification's accuracy or AUC, restoration's PSNR/SSIM
TEST_COLUMNS = {"test accuracy": "test_accuracy", "test AUC": "test_auc", "test PSNR (dB)": "test_psnr",
                "test SSIM": "test_ssim"}


def shown_run(records: list[RunRecord]) -> str | None:
    """The run the live panel shows: the one picked in this session (started, or ticked in the table) if it is still
    there, else the workspace's running run, else its queued one, else its latest, so a reload or a second tab shows
    what is happening, and a run started elsewhere is shown when it appears."""
    ids = [r.id for r in records]
    if st.session_state.get(SHOWN_KEY) in ids:
        return st.session_state[SHOWN_KEY]
    for statuses in (("running", "stopping"), ("queued",)):
        live = [r for r in records if r.status in statuses]
        if live:
            return min(live, key=lambda r: r.created).id if statuses == ("queued",) else live[0].id
    return records[0].id if records else None


def render_runs_table(workspace: str, records: list[RunRecord], shown: str | None) -> None:
    """The runs of `workspace`, refreshed every POLL_S seconds while any is active, and checked every IDLE_POLL_S
    seconds otherwise (a run queued from another tab or the CLI appears, with the page redrawn to show it). Ticking
    a row shows that run in the live panel; the ticked rows are in st.session_state[PICKED_KEY]. `shown` (the run in
    the live panel) is marked."""
    active = any(r.status in ACTIVE for r in records)
    st.fragment(run_every=POLL_S if active else IDLE_POLL_S)(_table)(workspace, _signature(records), shown)


def _signature(records: list[RunRecord]) -> tuple[tuple[str, bool], ...]:
    """What, when it changes, needs the whole page redrawn: which runs there are and which of them are active."""
    return tuple((r.id, r.status in ACTIVE) for r in records)


def _table(workspace: str, drawn: tuple[tuple[str, bool], ...], shown: str | None) -> None:
    records = run_store().list(workspace)
    if _signature(records) != drawn:
        st.rerun()  # a run was added, started or ended: redraw the page so the panel, the polling and sidebar agree
    if not records:
        st.caption("No runs in this workspace yet.")
        return
    ids = [r.id for r in records]
    picked = [run_id for run_id in st.session_state.get(PICKED_KEY, []) if run_id in ids]
    table = pd.DataFrame([_row(r, r.id == shown) for r in records])
    present = [name for name in TEST_COLUMNS if table[name].notna().any()]
    table = table.drop(columns=[name for name in TEST_COLUMNS if name not in present])
    # the key follows the list of runs: a new run redraws the table with the picked runs ticked by id
    key = f"runs-table-{workspace}-{hashlib.sha1(','.join(ids).encode()).hexdigest()[:8]}"
    selection = st.dataframe(
        table, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row", key=key,
        placeholder="",  # a run without a value has an empty cell, not "None"
        selection_default={"selection": {"rows": [ids.index(i) for i in picked], "columns": [], "cells": []}},
        column_config={
            "run": st.column_config.TextColumn("run", help="▶ marks the run shown below", width=175),
            "status": st.column_config.TextColumn("status", width=145),
            "epochs": st.column_config.TextColumn("epochs", help="completed / planned", width=65),
            "best": st.column_config.TextColumn("best", help="the best epoch's validation score", width=125),
            "dataset": st.column_config.TextColumn("dataset", width=105),
            "model · device": st.column_config.TextColumn("model · device", width=120),
            "duration": st.column_config.TextColumn("duration", width=85),
            "started": st.column_config.TextColumn("started", width=105),
            **{name: st.column_config.NumberColumn(name, format="%.2f" if "PSNR" in name else "%.3f", width=100)
               for name in present},
        })
    now_picked = [ids[i] for i in selection.selection.rows if i < len(ids)]
    if now_picked != picked:
        new = [run_id for run_id in now_picked if run_id not in picked]
        st.session_state[PICKED_KEY] = now_picked
        if new:
            st.session_state[SHOWN_KEY] = new[-1]
        st.rerun()


def _row(record: RunRecord, shown: bool) -> dict[str, object]:
    summary = record.summary_dict
    return {
        "run": ("▶ " if shown else "") + (record.name or record.id),
        "status": record.status + (f" · {_short(record)}" if record.status == "running" else ""),
        "epochs": f"{record.epoch}/{record.epochs}",
        "best": (f"{(record.monitor or '').removeprefix('val_').replace('_', ' ')} {record.best_value:.3f}"
                 if record.best_value is not None else ""),
        **{name: _number(summary.get(key)) for name, key in TEST_COLUMNS.items()},
        "dataset": record.dataset, "model · device": f"{record.model} · {record.device_used or record.device}",
        "duration": format_duration(record.duration_s) if record.duration_s is not None else "",
        "started": time.strftime("%d %b %H:%M", time.localtime(record.created)),
    }


def _short(record: RunRecord) -> str:
    """The activity of a running run in a table cell's few words."""
    return {"starting the worker": "starting", "preparing data": "preparing data",
            "loading the data and building the model": "building", "resuming from the checkpoint": "resuming",
            "evaluating the validation split": "validating", "evaluating the test split": "test split",
            "writing the report": "report", "training": f"epoch {min(record.epoch + 1, record.epochs)}"
            }.get(record.phase or "", "starting")


def _number(value: object) -> float:
    """A summary value as a float; NaN (an empty cell, never "None") when the run has none."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
