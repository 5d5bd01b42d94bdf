"""Real browser: single sign-on through Streamlit's st.login (OpenID Connect authorization code flow) against a
local OpenID provider (the oidc-provider-mock package) on 127.0.0.1, so no request leaves the machine.

The provider's authorization page asks for a subject ("sub"); a subject it has no claims for gets {"email": sub},
and the predefined user below also carries a name and a "groups" claim. MedLab's [access] table makes
teacher@example.org an admin by the allow-list, members of the "medlab-admins" group admins by the claim, and lets
in only example.org addresses.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest
import werkzeug.serving
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, _free_port, _serve
from tests.e2e.flows import import_file, open_import_tab
from tests.e2e.waits import wait_idle
from tests.fixtures import class_folder_zip

pytestmark = [pytest.mark.e2e,  # the mock provider still uses Authlib's older JOSE API
              pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib.*"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:oidc_provider_mock.*")]

ADMIN_GROUP = "medlab-admins"
HEAD = "head-of-radiology"  # a predefined user of the provider: an admin by the groups claim
# The mock's pages load a stylesheet from a CDN; this base template is the same page without it.
LOCAL_BASE = "<!doctype html><html lang='en'><main>{% block content %}{{ content }}{% endblock %}</main></html>"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """An OpenID Connect provider on a free port of 127.0.0.1 (any client id and secret are accepted)."""
    from oidc_provider_mock import User, app

    oidc = app(user_claims=[User(sub=HEAD, claims={"email": "head@example.org", "name": "Dr. Ada Head",
                                                   "groups": ["radiology", ADMIN_GROUP]})])
    oidc.jinja_loader = jinja2.ChoiceLoader([jinja2.DictLoader({"_base.html": LOCAL_BASE}), oidc.jinja_loader])
    server = werkzeug.serving.make_server("127.0.0.1", _free_port(), oidc, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
    server.server_close()


@pytest.fixture(scope="module")
def sso_server(provider: str, tmp_path_factory: pytest.TempPathFactory, shared_builtin_dir: Path
               ) -> Iterator[Server]:
    port = _free_port()
    secrets = f"""
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "only-for-this-test-4f0c2b9e7a61d3"
client_id = "medlab"
client_secret = "medlab-test-secret"
server_metadata_url = "{provider}/.well-known/openid-configuration"

[access]
admins = ["teacher@example.org"]
admin_claim = "groups"
admin_claim_value = "{ADMIN_GROUP}"
allowed_emails = ["@example.org"]
"""
    yield from _serve(tmp_path_factory, shared_builtin_dir, secrets_toml=secrets, port=port)


def sign_in(page: Page, server: str, provider: str, subject: str | None = None, predefined: str | None = None
            ) -> None:
    """From MedLab's sign-in page through the provider's authorization page and back, signed in."""
    page.goto(server)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{provider}/oauth2/authorize**")
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    if predefined:
        page.get_by_role("button", name=predefined, exact=True).click()
    else:
        page.get_by_placeholder("sub").fill(subject or "")
        page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(rf"^{re.escape(server)}/?($|\?)"), timeout=60_000)
    expect(page.get_by_test_id("stSidebar").get_by_text("Signed in as")).to_be_visible(timeout=120_000)
    expect(page.get_by_role("heading", name="MedLab", exact=True)).to_be_visible()  # the Home page
    wait_idle(page)


def sign_out(page: Page, server: str, provider: str) -> None:
    """The sidebar's Sign out, through the provider's end-session page (OpenID Connect RP-Initiated Logout)."""
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{provider}/oauth2/end_session**")
    page.get_by_role("button", name="End session").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=120_000)


def sidebar_text(page: Page) -> str:
    return page.get_by_test_id("stSidebar").inner_text()


def workspace_of(page: Page) -> str:
    """The workspace the sidebar names ("Your workspace: **alice-3fa9c1** · ..." or the status line)."""
    match = re.search(r"Your workspace: (\S+)", sidebar_text(page))
    assert match, sidebar_text(page)
    return match.group(1)


def dataset_listed(page: Page, server: str, name: str) -> bool:
    page.goto(f"{server}/dataset")
    expect(page.get_by_role("heading", name="Dataset", exact=True)).to_be_visible(timeout=120_000)
    wait_idle(page)
    page.get_by_test_id("stMain").get_by_test_id("stSelectbox").first.click()  # the dataset picker's options
    expect(page.get_by_role("option").first).to_be_visible()
    listed = page.get_by_role("option", name=re.compile(re.escape(name))).count() > 0
    page.keyboard.press("Escape")
    return listed


def test_the_workspace_follows_the_signed_in_identity(sso_server: Server, provider: str, page: Page,
                                                      tmp_path: Path):
    page.goto(f"{sso_server}/dataset")  # a page URL before signing in: the sign-in page, no data
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=120_000)
    expect(page.get_by_text("single sign-on")).to_be_visible()
    expect(page.get_by_role("heading", name="Dataset", exact=True)).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "1-signed-out.png"), full_page=True)

    sign_in(page, sso_server, provider, subject="alice@example.org")
    assert "alice@example.org" in sidebar_text(page) and "participant" in sidebar_text(page)
    alice = workspace_of(page)
    expect(page.get_by_test_id("stSidebarNav").get_by_text("Teacher", exact=True)).to_have_count(0)
    page.screenshot(path=str(tmp_path / "2-alice.png"), full_page=True)
    archive = tmp_path / "alice-study.zip"
    archive.write_bytes(class_folder_zip(per_class=3))
    open_import_tab(page, sso_server)
    import_file(page, archive, "alice scans")
    page.screenshot(path=str(tmp_path / "3-alice-imported.png"), full_page=True)

    sign_out(page, sso_server, provider)
    page.screenshot(path=str(tmp_path / "4-signed-out-again.png"), full_page=True)
    sign_in(page, sso_server, provider, subject="alice@example.org")  # the same person comes back
    assert workspace_of(page) == alice
    assert dataset_listed(page, sso_server, "alice scans")

    sign_out(page, sso_server, provider)
    sign_in(page, sso_server, provider, subject="bob@example.org")  # someone else: their own, empty workspace
    bob = workspace_of(page)
    assert bob != alice and "bob@example.org" in sidebar_text(page)
    assert not dataset_listed(page, sso_server, "alice scans")
    [alices] = [d for d in (sso_server.home / "workspaces" / alice / "datasets").iterdir() if d.is_dir()]
    page.goto(f"{sso_server}/dataset?dataset={alices.name}")  # alice's dataset by its id: not for bob
    expect(page.get_by_text(f"There is no dataset '{alices.name}' in your workspace.")).to_be_visible()
    page.screenshot(path=str(tmp_path / "5-bob.png"), full_page=True)


@pytest.mark.parametrize("how", ["claim", "allow-list"])
def test_an_admin_by_claim_or_allow_list_sees_the_teacher_page(sso_server: Server, provider: str, page: Page,
                                                               tmp_path: Path, how: str):
    if how == "claim":
        sign_in(page, sso_server, provider, predefined=HEAD)  # groups: ["radiology", "medlab-admins"]
        assert "Dr. Ada Head" in sidebar_text(page)
    else:
        sign_in(page, sso_server, provider, subject="teacher@example.org")
        assert "teacher@example.org" in sidebar_text(page)
    assert "teacher" in sidebar_text(page)  # the role the sidebar shows
    expect(page.get_by_test_id("stSidebarNav").get_by_text("Teacher", exact=True)).to_be_visible()
    page.screenshot(path=str(tmp_path / f"admin-by-{how}.png"), full_page=True)


def test_an_address_outside_the_allow_list_is_turned_away(sso_server: Server, provider: str, page: Page,
                                                          tmp_path: Path):
    page.goto(sso_server)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{provider}/oauth2/authorize**")
    page.get_by_placeholder("sub").fill("mallory@elsewhere.net")
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_text("mallory@elsewhere.net may not use this MedLab")).to_be_visible(timeout=120_000)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(page.get_by_role("heading", name="Dataset", exact=True)).to_have_count(0)
    page.screenshot(path=str(tmp_path / "turned-away.png"), full_page=True)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{provider}/oauth2/end_session**")
    page.get_by_role("button", name="End session").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=120_000)
