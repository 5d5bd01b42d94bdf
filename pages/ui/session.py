"""Per-browser-session state shared by the pages, and the one way pages show a user's mistake."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import streamlit as st

from core.errors import UserError
from core.settings import DEFAULT_WORKSPACE, normalise_workspace_name
from core.text import counted

WORKSPACE_KEY = "workspace"  # also the URL query parameter, so a refresh or a shared link keeps the workspace


def typed_workspace() -> str:
    """The workspace name as the user typed it (or as a shared link gave it); blank means the default one."""
    return (st.session_state.get(WORKSPACE_KEY) or "").strip() or DEFAULT_WORKSPACE


def typed_personal_workspace() -> str:
    """Personal mode: the typed name made usable ("Bob Smith" -> "bob-smith"), never silently another one (the
    sidebar says when it was changed). Raises UserError when nothing usable is left of it; the sidebar then shows
    that sentence and stops the page until the name is fixed."""
    return normalise_workspace_name(typed_workspace())


def current_workspace() -> str:
    """The workspace this session's pages show and act on: in personal mode the sidebar's name; in workshop and
    SSO modes the signed-in identity's own workspace (an admin's: the one picked in the sidebar)."""
    from pages.ui.identity import require_identity, viewed_workspace
    return viewed_workspace(require_identity())


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Show a UserError as one red sentence instead of a traceback; the rest of the page keeps working."""
    try:
        yield
    except UserError as error:
        st.error(error.message, icon=":material/error:")


def selected_dataset_id(default: str) -> str:
    """The dataset chosen in this session (kept across pages, unlike widget state)."""
    return st.session_state.get("dataset_id") or default


def select_dataset(dataset_id: str) -> None:
    """Choose a dataset for the next run of any page (call st.rerun() to show it at once)."""
    st.session_state["dataset_id"] = dataset_id


def datasets_for(infos: dict, sequences: bool) -> dict:
    """The datasets of `infos` (id -> DatasetInfo) a task can use: sequence datasets (clips) for a sequence task,
    else image datasets only. Image tasks, Enhance and Synthesize never offer clips."""
    return {dataset_id: info for dataset_id, info in infos.items() if info.is_sequence == sequences}


def dataset_picker(infos: dict, default: str, label: str = "Dataset", purpose: str = "") -> str:
    """A selectbox over `infos` (id -> DatasetInfo) that follows and sets the session's chosen dataset.

    `purpose` (e.g. "classification", "restoration") names what the dataset is for, where one page trains
    several kinds of model: each purpose keeps its own choice, so switching purpose moves to that purpose's
    choice (at first `default`, e.g. clean image tiles for restoration), and switching back returns to the earlier
    one. A dataset chosen meanwhile on another page (or just imported) wins over both."""
    default = default if default in infos else next(iter(infos))  # e.g. a built-in not generated yet
    chosen = _choice_for(purpose, default) if purpose else selected_dataset_id(default)
    chosen = chosen if chosen in infos else default
    st.session_state["dataset-picker"] = chosen  # allowed: the widget is not drawn yet in this run
    picked = st.selectbox(
        label, list(infos), key="dataset-picker",
        on_change=lambda: select_dataset(st.session_state["dataset-picker"]),  # before the rerun reads it
        format_func=lambda i: f"{infos[i].name} ({'built-in' if infos[i].builtin else infos[i].source}) · "
                              + (f"{counted(infos[i].num_images, 'clip')} of {infos[i].frames} frames"
                                 if infos[i].is_sequence else counted(infos[i].num_images, "image")),
    )
    select_dataset(picked)
    if purpose:
        st.session_state[_PURPOSE_CHOICE + purpose] = picked
        st.session_state[_PURPOSE_SET] = picked
    return picked


_PURPOSE_LAST = "dataset-purpose"            # the purpose of the last purposeful picker drawn
_PURPOSE_SET = "dataset-purpose-set"         # the dataset it left chosen, to tell another page's choice apart
_PURPOSE_CHOICE = "dataset-for-"             # + purpose: that purpose's choice


def dataset_chosen_elsewhere() -> str | None:
    """The session's dataset when it was chosen since a purposeful picker last drew (on another page, or just
    imported), else None: e.g. the Train page starts on the sequence task for a sequence dataset chosen there."""
    chosen = st.session_state.get("dataset_id")
    return chosen if chosen and chosen != st.session_state.get(_PURPOSE_SET) else None


def _choice_for(purpose: str, default: str) -> str:
    """The dataset a picker for `purpose` starts on in this run (see dataset_picker)."""
    last = st.session_state.get(_PURPOSE_LAST)
    st.session_state[_PURPOSE_LAST] = purpose
    session_choice = selected_dataset_id(default)
    chosen_elsewhere = st.session_state.get("dataset_id") != st.session_state.get(_PURPOSE_SET)
    if last in (None, purpose) or chosen_elsewhere:
        return session_choice
    return st.session_state.get(_PURPOSE_CHOICE + purpose) or default
