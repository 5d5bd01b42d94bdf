"""The built-in datasets, generated once per server in a background thread when the app starts, and their
progress for the sidebar and for the pages that need them.

The first visit does not wait for them: Home opens at once, the sidebar says "Preparing built-in datasets: 2 of
4", and a page that lists datasets shows that progress until they are ready, then opens by itself.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.data.builtin import BUILTIN_IDS, missing_builtins, prepare_builtins
from core.settings import builtin_dir

WAIT_POLL_S = 0.5


@dataclass
class Preparation:
    """Progress of the background generation, written by its thread and read by every session."""

    done: int = 0
    total: int = 0
    current: str | None = None  # the dataset being generated
    error: str | None = None    # why it failed; pages then generate on demand and show their own error
    finished: bool = False

    def line(self) -> str:
        """'Preparing built-in datasets: 2 of 4 (phantom-128)'."""
        doing = f" ({self.current})" if self.current else ""
        return f"Preparing built-in datasets: {self.done} of {self.total}{doing}"


@st.cache_resource(show_spinner=False)
def _preparation_for(folder: str) -> Preparation:
    """Start generating the missing built-ins of `folder` in a daemon thread: once per server and folder."""
    root = Path(folder)
    missing = missing_builtins(root)
    state = Preparation(done=len(BUILTIN_IDS) - len(missing), total=len(BUILTIN_IDS), finished=not missing)
    if missing:
        def progress(done: int, total: int, current: str | None) -> None:
            state.done, state.current = done, current

        def work() -> None:
            try:
                prepare_builtins(progress, root)
            except Exception as error:  # noqa: BLE001 - shown in the sidebar; pages retry and say it their way
                state.error = str(error) or type(error).__name__
            finally:
                state.current, state.finished = None, True

        threading.Thread(target=work, name="medlab-builtins", daemon=True).start()
    return state


def builtin_preparation() -> Preparation:
    """The server's preparation of the built-in datasets, started on the first call (keyed by the built-in
    folder, so one process never mixes two: tests use their own)."""
    return _preparation_for(str(builtin_dir()))


def show_preparation(state: Preparation) -> None:
    """One caption while the built-ins are being generated (or why they could not be); nothing once ready."""
    if state.error:
        st.caption(f"Built-in datasets could not be prepared: {state.error}")
    elif not state.finished:
        st.caption(state.line())


def wait_for_builtins(state: Preparation) -> None:
    """Show the progress on the page until the built-ins are ready. Returns at once when they are (or when the
    preparation failed: the page then tries itself and shows the error). Leaving the page ends the wait."""
    if state.finished:
        return
    placeholder = st.empty()
    while not state.finished:
        with placeholder.container():
            st.info(f"{state.line()}. This page opens when they are ready (only on the server's first start).",
                    icon=":material/hourglass_top:")
            st.progress(state.done / max(state.total, 1))
        time.sleep(WAIT_POLL_S)
    placeholder.empty()
