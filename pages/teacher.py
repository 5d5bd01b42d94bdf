"""Teacher page (workshop and single sign-on admins only): who joined, the whole queue with stop, reorder and
per-run caps, the workshop's limits, and the class workspace's shared datasets. The parts are in
pages/ui/teacher_*.py; the navigation lists this page for admins only, and the page refuses anyone else too."""
from __future__ import annotations

import streamlit as st

from pages.ui.entry import through_entry_point
from pages.ui.session import user_errors
from pages.ui.teacher_class import render_class_workspace
from pages.ui.teacher_common import require_admin
from pages.ui.teacher_limits import render_limits
from pages.ui.teacher_participants import render_participants
from pages.ui.teacher_queue import render_queue

through_entry_point()
identity = require_admin()  # one sentence and nothing else for anyone who is not an admin
st.title("Teacher")
st.caption(f"Signed in as **{identity.display_name}**, the workshop's teacher: you see every participant's "
           "workspace and runs.")
with user_errors():
    render_participants()
with user_errors():
    render_queue()
with user_errors():
    render_limits()
with user_errors():
    render_class_workspace()
