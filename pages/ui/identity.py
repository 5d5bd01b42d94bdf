"""Who this browser session is: the access mode from st.secrets, the participant's cookie or st.user, and the
workspace the pages act on. The rules live in core.access; this file only reads Streamlit's state.

    personal   Identity(workspace typed in the sidebar, role "personal"): everything as before
    workshop   this session's join, else the SESSION_COOKIE token (st.context.cookies, sent by the browser with the
               websocket's opening request) looked up in core.access.sessions; none yet: the join form
    sso        st.user after st.login (pages/ui/sso.py); not signed in: the sign-in button

The session cookie follows RFC 6265: `medlab_session=<token>; Path=/; Max-Age=<seconds>; SameSite=Strict`. It is
written by a few lines of JavaScript (st.html with unsafe_allow_javascript; Streamlit cannot set a response
cookie), so it cannot be HttpOnly; it holds only a random token, whose SHA-256 is all the server keeps.
"""
from __future__ import annotations

import json
from collections.abc import Mapping

import streamlit as st

from core.access.config import AccessConfig, access_config
from core.access.identity import Identity
from core.access.sessions import SESSION_COOKIE, SessionStore
from core.settings import medlab_home

IDENTITY_KEY = "medlab-identity"     # session_state: the Identity of this session once known
VIEWED_KEY = "medlab-viewed"         # session_state: the workspace an admin is looking at
TOKEN_KEY = "medlab-token"           # session_state: this session's workshop token (joined here or from the cookie)
COOKIE_SCRIPT_KEY = "medlab-cookie-script"  # session_state: the cookie change the browser has still to make


def access() -> AccessConfig:
    """The access configuration from .streamlit/secrets.toml ([workshop], [auth], [access]); personal when none."""
    try:
        secrets = st.secrets.to_dict()
    except FileNotFoundError:  # no secrets.toml at all: personal mode
        secrets = {}
    if not secrets.get("workshop") and not secrets.get("auth"):
        return AccessConfig()
    return access_config(secrets)


def sessions() -> SessionStore:
    """The workshop's participants and session tokens (MEDLAB_HOME/access.sqlite)."""
    return SessionStore(medlab_home())


def identity_from_cookies(cookies: Mapping[str, str], config: AccessConfig, store: SessionStore
                          ) -> tuple[str, Identity] | None:
    """(token, identity) for the SESSION_COOKIE among a request's `cookies`, or None when there is none or the
    token is unknown, revoked or expired."""
    token = (cookies or {}).get(SESSION_COOKIE)
    if not token:
        return None
    identity = store.identity(token, config)
    return (token, identity) if identity is not None else None


def browser_cookies() -> Mapping[str, str]:
    """The cookies the browser sent when this session's websocket opened (empty where there are none, e.g. AppTest)."""
    try:
        return dict(st.context.cookies)
    except Exception:  # no client (a bare script run): no cookies  # noqa: BLE001
        return {}


def current_identity() -> Identity | None:
    """This session's identity, or None when workshop or SSO mode has not signed it in yet."""
    config = access()
    if config.mode == "personal":
        from pages.ui.session import typed_personal_workspace  # personal mode: the sidebar's field, as before
        workspace = typed_personal_workspace()
        return Identity(workspace, workspace)
    if config.mode == "sso":
        return _sso_identity(config)  # st.user is the truth (st.logout ends it), so nothing is kept here
    known = st.session_state.get(IDENTITY_KEY)
    if known is not None:
        return known
    found = identity_from_cookies(browser_cookies(), config, sessions())
    if found is None:
        return None
    st.session_state[TOKEN_KEY], st.session_state[IDENTITY_KEY] = found
    return found[1]


def require_identity() -> Identity:
    """This session's identity; when there is none yet, draw the join form (workshop) or the sign-in button (SSO)
    and stop the script."""
    identity = current_identity()
    if identity is None:
        write_pending_cookie()  # e.g. the cookie cleared by "Leave"
        config = access()
        if config.mode == "sso":
            _render_sign_in(config)
        else:
            from pages.ui.join import render_join_form
            render_join_form(config)
        st.stop()
    return identity


def viewed_workspace(identity: Identity) -> str:
    """The workspace the pages show: an admin's pick in the sidebar, else the identity's own."""
    if identity.is_admin:
        return st.session_state.get(VIEWED_KEY) or identity.workspace
    return identity.workspace


def sign_in(token: str, identity: Identity, config: AccessConfig) -> None:
    """Keep a new workshop session (from the join form) in this session and have the browser store its cookie, so a
    reload or a new tab is signed in too."""
    st.session_state[IDENTITY_KEY] = identity
    st.session_state[TOKEN_KEY] = token
    st.session_state[COOKIE_SCRIPT_KEY] = cookie_script(token, max_age_s=round(config.session_days * 86400))


def sign_out() -> None:
    """"Leave": revoke this session's token, forget the identity and have the browser drop the cookie."""
    token = st.session_state.pop(TOKEN_KEY, None)
    if token:
        sessions().leave(token)
    st.session_state.pop(IDENTITY_KEY, None)
    st.session_state.pop(VIEWED_KEY, None)
    st.session_state[COOKIE_SCRIPT_KEY] = cookie_script("", max_age_s=0)


def cookie_script(token: str, max_age_s: int) -> str:
    """A <script> setting (or, with max_age_s 0, deleting) the session cookie (RFC 6265 attributes)."""
    cookie = f"{SESSION_COOKIE}={token}; Path=/; Max-Age={max(0, int(max_age_s))}; SameSite=Strict"
    return f"<script>document.cookie = {json.dumps(cookie)};</script>"


def write_pending_cookie() -> None:
    """Send the browser the cookie change made by joining or leaving, if any. The script stays in the page for
    this session (drawn again on each run, unchanged, so it does not run again), so a rerun right after it was
    sent cannot drop it before the browser ran it."""
    script = st.session_state.get(COOKIE_SCRIPT_KEY)
    if script:
        st.html(script, unsafe_allow_javascript=True, width="content")


def _sso_identity(config: AccessConfig) -> Identity | None:
    try:
        from pages.ui.sso import sso_identity_or_none
        return sso_identity_or_none(config)
    except (ImportError, NotImplementedError):  # pages/ui/sso.py not written yet: nobody is signed in
        return None


def _render_sign_in(config: AccessConfig) -> None:
    try:
        from pages.ui.sso import render_sign_in
        render_sign_in(config)
    except (ImportError, NotImplementedError):
        st.error("Single sign-on is configured, but this MedLab has no sign-in page yet.")
