"""Single sign-on pages (pages/ui/sso.py): the signed-out page, and who a signed-in st.user is.

AppTest's `at.user` is what the app reads as st.user (the claims Streamlit keeps after st.login); st.login itself
is replaced by a recorder, since it would send the browser to the provider."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pages.ui.sso import auth_providers, display_name
from tests.pages.apptest import APP, texts

ISSUER = "https://login.hospital.example/realms/staff"
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "not-a-real-secret-0123456789",
        "client_id": "medlab", "client_secret": "not-a-real-secret",
        "server_metadata_url": f"{ISSUER}/.well-known/openid-configuration"}
ACCESS = {"admins": ["teacher@hospital.example"], "admin_claim": "groups", "admin_claim_value": "medlab-admins",
          "allowed_emails": ["@hospital.example"]}


def _probe() -> None:
    """A page that shows who the session is (or the sign-in page), through the functions the app uses."""
    import streamlit as st

    from pages.ui.identity import access
    from pages.ui.sso import render_sign_in, render_sign_out, sso_identity_or_none

    config = access()
    identity = sso_identity_or_none(config)
    if identity is None:
        render_sign_in(config)
    else:
        assert sso_identity_or_none(config) is identity  # a second call in the same run: the session's identity
        st.text(f"identity|{identity.workspace}|{identity.display_name}|{identity.role}|{identity.mode}")
        with st.sidebar:
            render_sign_out()


@pytest.fixture
def logins(monkeypatch: pytest.MonkeyPatch) -> list:
    calls: list = []
    monkeypatch.setattr("streamlit.login", lambda provider=None: calls.append(provider))
    return calls


def probe(user: dict, auth: dict | None = None, access: dict | None = None) -> AppTest:
    at = AppTest.from_function(_probe, default_timeout=60)
    at.secrets["auth"] = auth or AUTH
    at.secrets["access"] = access or ACCESS
    at.user = user
    at.run()
    assert not at.exception, at.exception
    return at


def who(at: AppTest) -> list[str]:
    """[workspace, display name, role, mode] of the signed-in identity."""
    lines = [t.value for t in at.text if t.value.startswith("identity|")]
    assert len(lines) == 1, texts(at)
    return lines[0].split("|")[1:]


def signed_in(sub: str, email: str, **claims) -> dict:
    return {"is_logged_in": True, "iss": ISSUER, "sub": sub, "email": email, **claims}


def test_the_signed_out_app_shows_only_the_sign_in_button(logins: list):
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets["auth"] = AUTH
    at.secrets["access"] = ACCESS
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert "single sign-on" in texts(at)
    assert not any(t.value == "Dataset" for t in at.title)  # no page, no data, no workspace status
    assert "imported +" not in " ".join(c.value for c in at.sidebar.caption)
    at.button[0].click().run()
    assert logins == [None]  # the [auth] table's own (unnamed) provider


def test_the_signed_in_app_shows_the_user_their_workspace_and_sign_out():
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets["auth"] = AUTH
    at.secrets["access"] = ACCESS
    at.user = signed_in("0f3a-77", "alice.smith@hospital.example", name="Alice Smith")
    at.run()
    assert not at.exception, at.exception
    sidebar = " ".join(m.value for m in at.sidebar.markdown) + " ".join(c.value for c in at.sidebar.caption)
    assert "Alice Smith" in sidebar and "alice-smith-" in sidebar
    assert [b.label for b in at.sidebar.button] == ["Sign out"]
    assert not any(b.label == "Sign in" for b in at.button)
    at.sidebar.button[0].click().run()  # st.logout(): the browser goes to /auth/logout, and st.user is signed out
    at.run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["Sign in"]


def test_one_button_per_named_provider(logins: list):
    shared = {"redirect_uri": AUTH["redirect_uri"], "cookie_secret": AUTH["cookie_secret"]}
    provider = {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}
    at = probe({"is_logged_in": False}, auth={**shared, "hospital": provider, "okta": provider})
    assert [b.label for b in at.button] == ["Sign in with Hospital", "Sign in with Okta"]
    at.button[1].click().run()
    assert logins == ["okta"]


def test_a_signed_in_user_gets_a_workspace_that_follows_the_identity():
    alice = probe(signed_in("0f3a-77", "Alice.Smith@hospital.example", name="Alice Smith"))
    workspace, name, role, mode = who(alice)
    assert (name, role, mode) == ("Alice Smith", "participant", "sso")
    assert [b.label for b in alice.button] == ["Sign out"]  # no sign-in button

    again = probe(signed_in("0f3a-77", "alice.smith@hospital.example", name="Alice Smith"))  # a new session
    assert who(again)[0] == workspace
    bob = probe(signed_in("9b2c-01", "bob@hospital.example"))
    assert who(bob)[0] != workspace
    assert who(bob)[1] == "bob@hospital.example"  # no name claim: the e-mail


@pytest.mark.parametrize("claims,admin", [
    ({"email": "teacher@hospital.example"}, True),                          # the [access] admins allow-list
    ({"email": "TEACHER@hospital.example"}, True),                          # e-mails compare case-insensitively
    ({"email": "head@hospital.example", "groups": ["staff", "medlab-admins"]}, True),  # the claim lists the value
    ({"email": "head@hospital.example", "groups": "medlab-admins"}, True),  # ... or is the value
    ({"email": "nurse@hospital.example", "groups": ["staff"]}, False),
    ({"email": "nurse@hospital.example", "groups": ["medlab-admins-not"]}, False),
])
def test_who_is_admin(claims: dict, admin: bool):
    email = claims.pop("email")
    at = probe(signed_in(f"sub-{email.lower()}", email, **claims))
    assert who(at)[2] == ("admin" if admin else "participant")


def test_an_address_outside_the_allow_list_gets_one_sentence_and_sign_out():
    at = probe(signed_in("mallory", "mallory@elsewhere.example"))
    assert not any(t.value.startswith("identity|") for t in at.text)
    assert [e.value for e in at.error] == [
        "mallory@elsewhere.example may not use this MedLab: ask its administrator to add you, or sign out and sign "
        "in with another account."]
    assert [b.label for b in at.button] == ["Sign out"]
    at.button[0].click().run()  # st.logout(): the browser goes to /auth/logout, and st.user is signed out
    at.run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.error


def test_an_address_the_provider_has_not_verified_decides_nothing():
    unverified = signed_in("t1", "teacher@hospital.example", email_verified=False)
    assert "may not use this MedLab" in probe(unverified).error[0].value  # not on the allow-list either
    open_access = {"admins": ["teacher@hospital.example"]}
    assert who(probe(unverified, access=open_access))[2] == "participant"
    verified = signed_in("t1", "teacher@hospital.example", email_verified=True)
    assert who(probe(verified, access=open_access))[2] == "admin"


def test_without_an_allow_list_everyone_signed_in_comes_in():
    at = probe(signed_in("x1", "someone@anywhere.example"), access={"admins": ["teacher@hospital.example"]})
    assert who(at)[2] == "participant"


def test_providers_and_names_from_claims():
    assert auth_providers(AUTH) == [None]
    assert auth_providers({"redirect_uri": "x", "cookie_secret": "y", "okta": {"client_id": "a"},
                           "client_kwargs": {"prompt": "login"}}) == ["okta"]
    assert auth_providers({"redirect_uri": "x"}) == []
    assert display_name({"name": " Dr. Ada Head ", "email": "a@b"}) == "Dr. Ada Head"
    assert display_name({"preferred_username": "ahead", "email": "a@b"}) == "ahead"
    assert display_name({"given_name": "Ada", "family_name": "Head"}) == "Ada Head"
    assert display_name({"sub": "f00"}) == "f00"
