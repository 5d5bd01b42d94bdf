"""What every part of the teacher's view needs: the admin check, the run store an admin acts through, who each
workspace belongs to, and times said the way people say them ("3 min ago")."""
from __future__ import annotations

import time

import streamlit as st

from core.access.identity import Identity
from core.access.scoped_store import ScopedRunStore
from core.access.sessions import Participant, SessionStore
from core.errors import UserError
from core.jobs.store import RunStore
from core.settings import CLASS_WORKSPACE, medlab_home
from pages.ui.identity import VIEWED_KEY, require_identity
from pages.ui.jobs import job_runner

REFUSAL = "The teacher's view is for the workshop's teacher only: sign in with the admin code to open it."


def require_admin() -> Identity:
    """This session's identity if it is an admin; otherwise the refusal sentence and the page stops (defence in
    depth: the navigation shows the page to admins only, but its URL can be typed)."""
    identity = require_identity()
    if not identity.is_admin:
        st.error(REFUSAL, icon=":material/lock:")
        st.stop()
    return identity


def admin_store() -> RunStore:
    """The run store as the admin sees it (every workspace, and every action on it). Checked again here, so no
    caller can reach another workspace's runs without being an admin.

    Raises:
        UserError: the session is not an admin's.
    """
    identity = require_identity()
    if not identity.is_admin:
        raise UserError(REFUSAL)
    return ScopedRunStore(identity, job_runner().store)


def participants() -> list[Participant]:
    """Everyone who joined (core.access.sessions), newest first."""
    return SessionStore(medlab_home()).participants()


def display_names(people: list[Participant]) -> dict[str, str]:
    """workspace -> the name shown for it: the participant's display name, "teacher" for the class workspace."""
    names = {p.workspace: p.display_name for p in reversed(people)}  # the newest name wins
    names[CLASS_WORKSPACE] = "teacher"
    return names


def look_at(workspace: str) -> None:
    """Make the admin's pages show `workspace` (the sidebar's viewed workspace). A button's on_click: the sidebar's
    picker may hold the same session_state key, which may only be set before widgets are drawn."""
    st.session_state[VIEWED_KEY] = workspace


def ago(timestamp: float | None, now: float | None = None) -> str:
    """How long ago `timestamp` (unix seconds) was, in a table cell's few words: "just now", "4 min ago",
    "2 h ago", "3 days ago"; "" for none."""
    if not timestamp:
        return ""
    seconds = max(0.0, (now or time.time()) - timestamp)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    return f"{days} day{'s' if days != 1 else ''} ago"
