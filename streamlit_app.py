"""MedLab entry point: page navigation and the sidebar (workspace, compute device, status)."""
from __future__ import annotations

import streamlit as st

from pages.ui.builtins import builtin_preparation, wait_for_builtins
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

job_runner()  # the server's job queue runs whichever page is open
preparation = builtin_preparation()  # the built-in datasets, generated in the background once per server
page = st.navigation(PAGES)
render_sidebar()
if page.url_path in NEEDS_BUILTINS:
    wait_for_builtins(preparation)  # progress on the page until they are ready (first start only)
page.run()
