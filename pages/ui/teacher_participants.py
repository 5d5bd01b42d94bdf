"""The teacher's view: everyone who joined, their runs, and a way to look at a participant's workspace."""
from __future__ import annotations

from collections import Counter

import pandas as pd
import streamlit as st

from core.jobs.store import ACTIVE
from core.settings import CLASS_WORKSPACE
from pages.ui.teacher_common import admin_store, ago, look_at, participants

POLL_S = 5.0  # someone who joins, or a run that starts or ends, shows up without a click


def render_participants() -> None:
    st.subheader("Participants")
    st.fragment(run_every=POLL_S)(_participants)()


def participant_rows() -> list[dict[str, object]]:
    """One row per participant (the teacher's own class workspace left out): display name, workspace, when they
    joined and were last seen, and how many runs they have in all, active (queued or running) and completed."""
    people = [p for p in participants() if p.workspace != CLASS_WORKSPACE and p.role != "admin"]
    runs = admin_store().list()
    total = Counter(r.workspace for r in runs)
    active = Counter(r.workspace for r in runs if r.status in ACTIVE)
    completed = Counter(r.workspace for r in runs if r.status == "completed")
    return [{"participant": p.display_name, "workspace": p.workspace, "joined": ago(p.joined),
             "last seen": ago(p.last_seen), "runs": total[p.workspace], "active": active[p.workspace],
             "completed": completed[p.workspace]} for p in people]


def _participants() -> None:
    rows = participant_rows()
    if not rows:
        st.caption("Nobody has joined yet: participants open this server's address and enter a display name and "
                   "the join code.")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={
        "participant": st.column_config.TextColumn("participant", width=170),
        "workspace": st.column_config.TextColumn("workspace", width=140),
        "joined": st.column_config.TextColumn("joined", width=110),
        "last seen": st.column_config.TextColumn("last seen", width=110),
        "runs": st.column_config.NumberColumn("runs", help="all runs of the participant", width=70),
        "active": st.column_config.NumberColumn("active", help="queued or running now", width=70),
        "completed": st.column_config.NumberColumn("completed", width=90),
    })
    names = {row["workspace"]: f"{row['participant']} ({row['workspace']})" for row in rows}
    pick, go = st.columns([3, 2], vertical_alignment="bottom")
    chosen = pick.selectbox("Participant", list(names), format_func=names.get, key="teacher-participant")
    if go.button("Look at their workspace", key="teacher-look", icon=":material/visibility:", on_click=look_at,
                 args=(chosen,), help="Opens their runs on the Train page; the Dataset, Train and Evaluate pages show "
                                      "this workspace until you pick another one in the sidebar."):
        st.switch_page("pages/train.py")
