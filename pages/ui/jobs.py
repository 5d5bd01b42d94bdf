"""The server's one job runner (started on first use, shared by every session) and its run store."""
from __future__ import annotations

import streamlit as st

from core.jobs.runner import JobRunner
from core.jobs.store import RunStore
from core.settings import medlab_home


@st.cache_resource(show_spinner=False)
def _runner_for(home: str) -> JobRunner:
    return JobRunner(RunStore()).start()


def job_runner() -> JobRunner:
    """Keyed by MEDLAB_HOME, so one server process never mixes two homes (tests use a fresh one each)."""
    return _runner_for(str(medlab_home()))


def run_store() -> RunStore:
    return job_runner().store
