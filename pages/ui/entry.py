"""Make every page run through streamlit_app.py (its navigation and sidebar), even on a fresh server.

Streamlit decides once per process whether the app uses the legacy `pages/` folder mode: it does while
`pages/` exists and no run has called st.navigation yet. So when the very first visitor of a fresh server
opens a page URL (e.g. /dataset), Streamlit runs that page file alone, without the entry point. Each page
calls `through_entry_point()` first: in that case it switches the server to st.navigation mode and reruns,
and the rerun goes through streamlit_app.py, which routes to the same page.
"""
from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def through_entry_point() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
