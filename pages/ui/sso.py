"""Single sign-on: who an SSO user is (from st.user, after Streamlit's st.login), the signed-out page, sign-out.

Streamlit does the OpenID Connect work (OpenID Connect Core 1.0, authorization code flow): st.login() sends the
browser to the identity provider named in the [auth] table of .streamlit/secrets.toml, Streamlit's /oauth2callback
route exchanges the code, checks the ID token and keeps its claims in a signed, HttpOnly cookie; st.user holds them
in every session of that browser until st.logout(). This module turns those claims into an Identity: the issuer
("iss") and subject ("sub") pick the workspace (core.access.sessions.SessionStore.sso_identity), the e-mail and
the [access] table decide who may come in and who is admin (core.access.config).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from core.access.config import AccessConfig, email_allowed, is_admin_claim
from core.access.identity import Identity
from core.access.sessions import SessionStore
from core.settings import medlab_home
from pages.ui.session import markdown_text

SSO_KEY = "medlab-sso"                  # session_state: (issuer, subject, Identity) of the signed-in user
DENIED_KEY = "medlab-sso-denied"        # session_state: why the signed-in user may not come in (one sentence)
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")  # what makes an [auth.<name>] a provider


def sso_identity_or_none(config: AccessConfig) -> Identity | None:
    """The signed-in SSO user's Identity, or None when nobody is signed in or the account may not come in.

    The identity is made once per session and signed-in account (kept in session_state under the issuer and
    subject) and recorded in MEDLAB_HOME/access.sqlite, so the teacher's view lists the user. An account that may
    not come in (an e-mail missing from [access] allowed_emails, or no subject claim) gets None too; the sentence
    saying why is kept for render_sign_in, which shows it with a Sign out button instead of the sign-in button
    (this function may run several times in one script run, so it draws nothing itself).
    """
    claims = _claims()
    if not claims.get("is_logged_in"):
        st.session_state.pop(SSO_KEY, None)
        st.session_state.pop(DENIED_KEY, None)
        return None
    issuer, subject = str(claims.get("iss") or ""), str(claims.get("sub") or "")
    cached = st.session_state.get(SSO_KEY)
    if cached is not None and cached[:2] == (issuer, subject):
        return cached[2]
    st.session_state.pop(SSO_KEY, None)
    email = str(claims.get("email") or "").strip().lower()
    checked = "" if claims.get("email_verified") is False else email  # an unverified address decides nothing
    if not subject:
        return _deny("The identity provider did not say who you are (the sign-in has no subject claim): sign out "
                     "and sign in again, or ask the administrator to check the single sign-on settings.")
    if not email_allowed(config, checked):
        who = markdown_text(email) if email else "An account without a verified e-mail address"
        return _deny(f"{who} may not use this MedLab: ask its administrator to add you, or sign out and sign in "
                     "with another account.")
    st.session_state.pop(DENIED_KEY, None)
    identity = SessionStore(medlab_home()).sso_identity(
        issuer, subject, email, display_name(claims), admin=is_admin_claim(config, checked, claims))
    st.session_state[SSO_KEY] = (issuer, subject, identity)
    return identity


def render_sign_in(config: AccessConfig) -> None:
    """The signed-out page: a sentence and one Sign in button per provider configured under [auth] (st.login). A
    signed-in account that may not come in sees why, and a Sign out button, instead."""
    denied = st.session_state.get(DENIED_KEY)
    if denied and _claims().get("is_logged_in"):
        st.error(denied, icon=":material/block:")
        _sign_out_button("medlab-sso-denied-sign-out")
        return
    st.title("MedLab")
    st.write("This MedLab uses single sign-on: sign in with your organisation's account to open your own "
             "workspace, where your datasets and runs are kept.")
    providers = auth_providers(_auth_section())
    for provider in providers:
        label = "Sign in" if provider is None or len(providers) == 1 else f"Sign in with {provider.capitalize()}"
        if st.button(label, key=f"medlab-sign-in-{provider or 'default'}", type="primary",
                     icon=":material/login:"):
            st.login(provider)
    if not providers:
        st.error("Single sign-on is configured without a provider: [auth] in .streamlit/secrets.toml needs "
                 "client_id, client_secret and server_metadata_url (or an [auth.<name>] table with them).")


def render_sign_out() -> None:
    """The sidebar's Sign out button: forgets this session's identity and signs out with st.logout() (which also
    ends the provider's session where it offers an end_session_endpoint, OpenID Connect RP-Initiated Logout)."""
    _sign_out_button("medlab-sso-sign-out")


def display_name(claims: Mapping[str, Any]) -> str:
    """What the sidebar and the teacher's view call an SSO user: the "name" claim, else the username, given and
    family names, e-mail or subject (OpenID Connect Core 1.0, section 5.1 standard claims)."""
    given = " ".join(str(claims.get(key) or "").strip() for key in ("given_name", "family_name")).strip()
    for value in (claims.get("name"), claims.get("preferred_username"), given, claims.get("email"),
                  claims.get("sub")):
        if value and str(value).strip():
            return str(value).strip()
    return "unknown"


def auth_providers(auth: Mapping[str, Any]) -> list[str | None]:
    """The providers st.login can use with this [auth] table: None for the unnamed default (client_id etc. in
    [auth] itself), then the name of each [auth.<name>] table that holds provider keys."""
    providers: list[str | None] = [None] if any(key in auth for key in PROVIDER_KEYS) else []
    providers += [name for name, value in auth.items()
                  if isinstance(value, Mapping) and any(key in value for key in PROVIDER_KEYS)]
    return providers


def _sign_out_button(key: str) -> None:
    if st.button("Sign out", key=key, icon=":material/logout:"):
        st.session_state.pop(SSO_KEY, None)
        st.session_state.pop(DENIED_KEY, None)
        st.logout()


def _deny(reason: str) -> None:
    st.session_state[DENIED_KEY] = reason
    return None


def _claims() -> dict[str, Any]:
    """st.user as a plain dict of ID-token claims (without the tokens; empty when nothing is known)."""
    try:
        claims = st.user.to_dict()
    except Exception:  # no script run context (a bare import)  # noqa: BLE001
        return {}
    claims.pop("tokens", None)
    return claims


def _auth_section() -> Mapping[str, Any]:
    try:
        auth = st.secrets.get("auth")
    except FileNotFoundError:
        return {}
    return auth.to_dict() if hasattr(auth, "to_dict") else dict(auth or {})
