"""Per-browser-session state shared by the pages, and the one way pages show a user's mistake."""
from __future__ import annotations

import contextlib
import re
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


def shared_workspace() -> str | None:
    """The class workspace whose datasets the pages list read-only next to the shown workspace's (list_datasets'
    `shared`): workshop and SSO modes, unless the class workspace is the one shown (the teacher's own)."""
    from pages.ui.identity import require_identity, viewed_workspace
    identity = require_identity()
    shared = identity.class_workspace
    return None if shared == viewed_workspace(identity) else shared


RUN_LINK = "run"            # URL query parameters of deep links: /train?run=<id>, /evaluate?run=<id>,
DATASET_LINK = "dataset"    # /dataset?dataset=<id>
_LINKS_DONE = "deep-links-done"  # session_state: the links already applied (once each, so later picks stand)


def linked_run(page: str) -> str | None:
    """The run a `?run=<id>` link names, when this session may read it (the run store is scoped to the signed-in
    identity), else None after saying "There is no run 'X' in your workspace." on the page, which then shows its
    normal content. A readable link is returned on the first run of `page` (e.g. "train") that has it only, so what
    the user picks afterwards stands."""
    run_id = st.query_params.get(RUN_LINK)
    if not run_id:
        return None
    if not readable_run(run_id):
        st.error(f"There is no run '{markdown_text(run_id[:80])}' in your workspace.", icon=":material/error:")
        return None
    return run_id if _first_time(page, run_id) else None


def readable_run(run_id: str) -> bool:
    """Whether this session may read run `run_id` (it exists, in a workspace the identity can read)."""
    from pages.ui.jobs import run_store
    try:
        run_store().get(run_id)
    except UserError:
        return False
    return True


def linked_dataset(readable: dict) -> str | None:
    """The dataset a `?dataset=<id>` link names when it is among `readable` (the ids the page lists for this
    identity: built-in, own and class datasets), else None after saying "There is no dataset 'X' in your
    workspace."; returned once, like linked_run."""
    dataset_id = st.query_params.get(DATASET_LINK)
    if not dataset_id:
        return None
    if dataset_id not in readable:
        st.error(f"There is no dataset '{markdown_text(dataset_id[:80])}' in your workspace.",
                 icon=":material/error:")
        return None
    return dataset_id if _first_time("dataset", dataset_id) else None


def _first_time(page: str, value: str) -> bool:
    done = st.session_state.setdefault(_LINKS_DONE, set())
    if (page, value) in done:
        return False
    done.add((page, value))
    return True


def markdown_text(text: str) -> str:
    """`text` shown literally in st.markdown / st.error (a name or id such as "![x](http://...)" stays text, so it
    can make no browser fetch anything). For text inside a line: the characters that only matter at a line's
    start (-, +, #, digits with '.') are left alone, so ids such as "run-3" read as they are."""
    return re.sub(r"([\\`*_\[\]()!|<>~$:])", r"\\\1", " ".join(text.split()))


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
