"""Who this browser session is: the access mode from st.secrets, the participant's cookie or st.user, and the
workspace the pages act on. The rules live in core.access; this file only reads Streamlit's state.

    personal   Identity(workspace typed in the sidebar, role "personal"): everything as before
    workshop   the SESSION_COOKIE token (st.context.cookies) or this session's join; none yet: the join form
    sso        st.user after st.login; not signed in: the sign-in button (pages/ui/sso.py)
"""
from __future__ import annotations

import streamlit as st

from core.access.config import AccessConfig, access_config
from core.access.identity import Identity

IDENTITY_KEY = "medlab-identity"     # session_state: the Identity of this session once known
VIEWED_KEY = "medlab-viewed"         # session_state: the workspace an admin is looking at


def access() -> AccessConfig:
    """The access configuration from .streamlit/secrets.toml ([workshop], [auth], [access]); personal when none."""
    try:
        secrets = st.secrets.to_dict()
    except FileNotFoundError:  # no secrets.toml at all: personal mode
        secrets = {}
    if not secrets.get("workshop") and not secrets.get("auth"):
        return AccessConfig()
    return access_config(secrets)


def current_identity() -> Identity | None:
    """This session's identity, or None when workshop or SSO mode has not signed it in yet."""
    config = access()
    if config.mode == "personal":
        from pages.ui.session import typed_personal_workspace  # personal mode: the sidebar's field, as before
        workspace = typed_personal_workspace()
        return Identity(workspace, workspace)
    return st.session_state.get(IDENTITY_KEY)  # H2: cookie / st.user lookup


def require_identity() -> Identity:
    """This session's identity; when there is none yet, draw the join form (workshop) or the sign-in button (SSO)
    and stop the script."""
    identity = current_identity()
    if identity is None:
        st.stop()  # H2: join form / sign-in
    return identity


def viewed_workspace(identity: Identity) -> str:
    """The workspace the pages show: an admin's pick in the sidebar, else the identity's own."""
    if identity.is_admin:
        return st.session_state.get(VIEWED_KEY) or identity.workspace
    return identity.workspace
