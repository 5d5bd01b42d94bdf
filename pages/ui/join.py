"""The workshop's join form: a display name and the join code, once per browser (the session cookie keeps it).

Drawn instead of any page while nobody is signed in (workshop mode), so a direct URL such as /train shows this
form and, after joining, that page. A wrong code gives one sentence that does not say which codes exist.
"""
from __future__ import annotations

import streamlit as st

from core.access.config import AccessConfig
from core.errors import UserError


def render_join_form(config: AccessConfig) -> None:
    """The form; on a right code the session is signed in (pages.ui.identity.sign_in) and the app reruns."""
    from pages.ui.identity import sessions, sign_in

    with st.container(width=560):
        st.title("Join the workshop", anchor=False)
        st.write("Enter your name and the join code your teacher gave you. You get your own workspace: your "
                 "datasets and runs are yours, and you can look at the class's datasets.")
        with st.form("join-form", enter_to_submit=True, border=False):
            name = st.text_input("Display name", max_chars=40, placeholder="e.g. Anna K.",
                                 help="Shown to the teacher and in your sidebar.")
            code = st.text_input("Join code", type="password", max_chars=200,
                                 help="The teacher enters the admin code here instead, for the teacher's view.")
            joined = st.form_submit_button("Join", type="primary")
        if joined:
            try:
                token, identity = sessions().join(name, code, config)
            except UserError as error:
                st.error(error.message, icon=":material/error:")
                return
            sign_in(token, identity, config)
            st.rerun()
        st.caption(f"This browser remembers you for {_days(config.session_days)} with a cookie that holds a random "
                   "session token and nothing else; **Leave** in the sidebar forgets it.")


def _days(days: float) -> str:
    return "1 day" if days == 1 else f"{days:g} days"
