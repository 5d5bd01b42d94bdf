"""MedLab entry point: page navigation and the sidebar (workspace, compute device, status).

In workshop and SSO modes nobody reaches a page before signing in: until then the navigation is hidden and the
join form (or the sign-in button) is drawn instead of whatever page the URL names, so that page opens after it.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.errors import UserError
from pages.ui.builtins import builtin_preparation, wait_for_builtins
from pages.ui.identity import access, current_identity, require_identity
from pages.ui.jobs import job_runner
from pages.ui.sidebar import render_sidebar

# The icon is an emoji (drawn by the browser): a ":material/..." page icon makes every page load fetch an SVG
# from fonts.gstatic.com, and nothing may leave the machine. Material icons elsewhere come from a bundled font.
st.set_page_config(page_title="MedLab", page_icon="🩻", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/dataset.py", title="Dataset", icon=":material/photo_library:", url_path="dataset"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:", url_path="evaluate"),
    st.Page("pages/enhance.py", title="Enhance", icon=":material/auto_fix_high:", url_path="enhance"),
    st.Page("pages/synthesize.py", title="Synthesize", icon=":material/blur_on:", url_path="synthesize"),
]
NEEDS_BUILTINS = {"dataset", "train", "evaluate", "enhance"}  # pages that list or open datasets
TEACHER = "pages/teacher.py"  # the teacher's view: admins only



def start_job_queue() -> None:
    """The server's job queue runs whichever page is open. Called after the navigation is set, so the sidebar
    never shows Streamlit's raw page list while a Ray instance starts (seconds, on the first visit)."""
    try:
        job_runner()
    except UserError as error:  # a wrong MEDLAB_EXECUTOR, an unreachable Ray cluster: one sentence, no page runs
        st.error(error.message, icon=":material/error:")
        st.stop()


preparation = builtin_preparation()  # the built-in datasets, generated in the background once per server
pages = PAGES
try:
    mode = access().mode
except UserError as error:  # a wrong [workshop] / [auth] / [access] key: one sentence, and no page runs
    st.error(error.message, icon=":material/error:")
    st.stop()
if mode != "personal" and (Path(__file__).parent / TEACHER).exists():
    identity = current_identity()
    # listed for admins; hidden for everyone else, so /teacher keeps its URL through joining (the teacher lands on
    # it) and a participant who types it reads the page's refusal instead of finding Home
    teacher = st.Page(TEACHER, title="Teacher", icon=":material/school:", url_path="teacher",
                      visibility="visible" if identity is not None and identity.is_admin else "hidden")
    pages = PAGES + [teacher]
    if identity is None:
        st.navigation(pages, position="hidden")  # the URL keeps its page: after joining, /train opens Train
        start_job_queue()
        require_identity()  # draws the join form or the sign-in button, and stops
page = st.navigation(pages)
start_job_queue()
render_sidebar()
if page.url_path in NEEDS_BUILTINS:
    wait_for_builtins(preparation)  # progress on the page until they are ready (first start only)
page.run()
