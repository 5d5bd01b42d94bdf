"""Workshop mode in the pages: the join form instead of any page, wrong and right codes, the teacher's code, the
session cookie read back on a new session, Leave, and the workspace the sidebar shows."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.access.config import access_config
from core.access.sessions import SESSION_COOKIE, SessionStore
from pages.ui import identity as identity_ui
from pages.ui.teacher_common import REFUSAL
from tests.pages.apptest import APP, texts

WORKSHOP = {"join_code": "lung-42", "admin_code": "teach-9f3", "session_days": 2}


def workshop_app(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets["workshop"] = dict(WORKSHOP)
    for key, value in state.items():
        at.session_state[key] = value
    return at


def join(at: AppTest, name: str, code: str) -> AppTest:
    fields = {field.label: field for field in at.text_input}
    fields["Display name"].set_value(name)
    fields["Join code"].set_value(code)
    at.button[0].click().run()  # the form's one button: "Join"
    assert not at.exception, at.exception
    return at


def sidebar_text(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("markdown", "caption") for e in at.sidebar.get(kind))


def cookie_scripts(at: AppTest) -> list[str]:
    return [str(element.proto.body) for element in at.get("html") if "document.cookie" in element.proto.body]


def test_nobody_signed_in_sees_only_the_join_form_on_any_page():
    at = workshop_app().run()
    assert not at.exception
    assert at.title[0].value == "Join the workshop"
    assert [field.label for field in at.text_input] == ["Display name", "Join code"]
    assert [button.label for button in at.button] == ["Join"]
    assert not at.sidebar.get("markdown") and not at.sidebar.text_input  # no workspace field, nothing to go to
    at.switch_page("pages/train.py").run()  # a direct URL to a page: still the form
    assert [t.value for t in at.title] == ["Join the workshop"]
    assert "Train" not in texts(at)


def test_a_wrong_code_is_one_sentence_and_nothing_more():
    at = join(workshop_app().run(), "Anna", "lung-41")
    assert [e.value for e in at.error] == ["That code is not this workshop's join code."]
    assert at.title[0].value == "Join the workshop"
    assert identity_ui.IDENTITY_KEY not in at.session_state
    assert not SessionStore().participants()


def test_the_join_code_gives_a_participant_a_workspace_and_a_cookie():
    at = join(workshop_app().run(), "Anna K.", " lung-42 ")
    assert not at.error
    assert at.title[0].value == "MedLab"  # the home page
    me = at.session_state[identity_ui.IDENTITY_KEY]
    assert (me.workspace, me.display_name, me.role, me.mode) == ("anna-k", "Anna K.", "participant", "workshop")
    assert "Signed in as **Anna K.** (participant)" in sidebar_text(at)
    assert "Your workspace: **anna-k**" in sidebar_text(at)
    assert not at.sidebar.selectbox  # no workspace picker for participants
    token = at.session_state[identity_ui.TOKEN_KEY]
    [script] = cookie_scripts(at)  # RFC 6265 attributes; the token (never stored raw on the server) in the cookie
    assert f"{SESSION_COOKIE}={token}; Path=/; Max-Age={2 * 86400}; SameSite=Strict" in script
    assert SessionStore().identity(token, access_config({"workshop": WORKSHOP})) == me
    at.switch_page("pages/train.py").run()
    assert not at.exception and at.title[0].value == "Train"


def test_the_admin_code_gives_the_teacher_the_workspace_picker_and_the_teacher_page():
    store, config = SessionStore(), access_config({"workshop": WORKSHOP})
    store.join("Bob", "lung-42", config)
    at = join(workshop_app().run(), "Ms Lee", "teach-9f3")
    me = at.session_state[identity_ui.IDENTITY_KEY]
    assert (me.role, me.workspace) == ("admin", "class")
    assert "(teacher)" in sidebar_text(at)
    picker = at.sidebar.selectbox(key=identity_ui.VIEWED_KEY)
    assert picker.label == "Workspace" and picker.value == "class"
    assert list(picker.options) == ["class (yours, shared read-only)", "bob · Bob"]
    picker.set_value("bob").run()
    assert not at.exception and "**bob**:" in sidebar_text(at)
    at.switch_page("pages/teacher.py").run()
    assert not at.exception and at.title[0].value != "MedLab"  # the Teacher page is in the admin's navigation


def test_participants_have_no_teacher_page():
    at = join(workshop_app().run(), "Anna", "lung-42")
    assert "Teacher" not in [str(link.proto.label) for link in at.get("page_link")]
    at.switch_page("pages/teacher.py").run()  # its URL typed in: hidden from participants, and it refuses them
    assert not at.exception and [e.value for e in at.error] == [REFUSAL] and not at.title


def test_a_new_session_with_the_cookie_is_signed_in_without_the_form(monkeypatch: pytest.MonkeyPatch):
    token, anna = SessionStore().join("Anna", "lung-42", access_config({"workshop": WORKSHOP}))
    monkeypatch.setattr(identity_ui, "browser_cookies", lambda: {SESSION_COOKIE: token, "other": "x"})
    at = workshop_app().run()  # AppTest cannot send cookies: the lookup of st.context.cookies is replaced
    assert not at.exception
    assert at.title[0].value == "MedLab"
    assert at.session_state[identity_ui.IDENTITY_KEY] == anna
    assert not cookie_scripts(at)  # the browser has it already


def test_an_unknown_or_revoked_cookie_gets_the_join_form(monkeypatch: pytest.MonkeyPatch):
    store = SessionStore()
    token, _ = store.join("Anna", "lung-42", access_config({"workshop": WORKSHOP}))
    store.leave(token)
    for cookie in (token, "made-up-token"):
        monkeypatch.setattr(identity_ui, "browser_cookies", lambda: {SESSION_COOKIE: cookie})
        at = workshop_app().run()
        assert at.title[0].value == "Join the workshop"


def test_the_cookie_lookup_itself():
    config, store = access_config({"workshop": WORKSHOP}), SessionStore()
    token, anna = store.join("Anna", "lung-42", config)
    assert identity_ui.identity_from_cookies({SESSION_COOKIE: token}, config, store) == (token, anna)
    assert identity_ui.identity_from_cookies({}, config, store) is None
    assert identity_ui.identity_from_cookies({"medlab_session_x": token}, config, store) is None
    assert identity_ui.identity_from_cookies({SESSION_COOKIE: token + "x"}, config, store) is None


def test_leave_revokes_the_token_and_clears_the_cookie():
    at = join(workshop_app().run(), "Anna", "lung-42")
    token = at.session_state[identity_ui.TOKEN_KEY]
    next(b for b in at.sidebar.button if b.label == "Leave the workshop").click().run()
    assert not at.exception
    assert at.title[0].value == "Join the workshop"
    assert SessionStore().identity(token, access_config({"workshop": WORKSHOP})) is None
    [script] = cookie_scripts(at)
    assert f"{SESSION_COOKIE}=; Path=/; Max-Age=0; SameSite=Strict" in script


def test_the_workspace_url_parameter_means_nothing_in_a_workshop():
    at = workshop_app()
    at.query_params["workspace"] = "bob"
    join(at.run(), "Anna", "lung-42")
    assert "workspace" not in at.query_params
    assert "**anna**:" in sidebar_text(at)


def test_personal_mode_keeps_the_workspace_field_and_no_form():
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception and at.title[0].value == "MedLab"
    assert at.sidebar.text_input[0].label == "Workspace"
    assert not any(b.label == "Leave the workshop" for b in at.sidebar.button)
