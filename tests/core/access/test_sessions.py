"""Workshop sessions and SSO identities in MEDLAB_HOME/access.sqlite."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from core.access import sessions as sessions_module
from core.access.config import access_config
from core.access.sessions import SessionStore, token_hash
from core.errors import UserError
from core.settings import CLASS_WORKSPACE, medlab_home, workspace_dir

CODES = {"join_code": "lung-42", "admin_code": "teach-9f3"}
CONFIG = access_config({"workshop": {**CODES, "session_days": 2}})


@pytest.fixture
def store() -> SessionStore:
    return SessionStore(medlab_home())


def test_joining_gives_a_personal_workspace_and_a_token_that_comes_back(store):
    token, anna = store.join("  Anna Berg ", "lung-42", CONFIG)
    assert (anna.workspace, anna.display_name, anna.role, anna.mode) == ("anna-berg", "Anna Berg", "participant",
                                                                        "workshop")
    assert len(token) >= 40
    assert SessionStore(medlab_home()).identity(token, CONFIG) == anna  # a reload: a new store, the same cookie
    assert not anna.can_read("bob") and anna.can_read(CLASS_WORKSPACE) and not anna.can_act(CLASS_WORKSPACE)


def test_the_admin_code_gives_the_teacher_the_class_workspace(store):
    token, teacher = store.join("Dr Who", " teach-9f3 ", CONFIG)
    assert (teacher.workspace, teacher.display_name, teacher.role) == (CLASS_WORKSPACE, "Dr Who", "admin")
    assert store.identity(token, CONFIG) == teacher and teacher.sees_everything


@pytest.mark.parametrize("code", ["lung-43", "", "LUNG-42", "teach-9f", "lung-42x", "é-ü-ß"])
def test_a_wrong_code_is_one_sentence_that_names_no_code(store, code):
    with pytest.raises(UserError) as error:
        store.join("Anna", code, CONFIG)
    assert str(error.value) == "That code is not this workshop's join code."
    assert store.participants() == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 41, "tab\there"])
def test_an_unusable_display_name_is_refused(store, name):
    with pytest.raises(UserError, match="display name is 1 to 40 printable characters"):
        store.join(name, "lung-42", CONFIG)


def test_the_same_name_gets_a_new_workspace_and_reserved_names_are_never_given(store):
    workspace_dir("carl")  # a workspace folder from before the workshop
    names = ["Anna", "anna", "ANNA", "Class", "Default", "Carl", "李雷", "李雷"]
    got = [store.join(name, "lung-42", CONFIG)[1].workspace for name in names]
    assert got == ["anna", "anna-2", "anna-3", "class-2", "default-2", "carl-2", "participant", "participant-2"]
    long = [store.join("a" * 40, "lung-42", CONFIG)[1].workspace for _ in range(3)]
    assert long == ["a" * 40, "a" * 38 + "-2", "a" * 38 + "-3"]  # at most 40 characters, suffix included


def test_two_joins_with_the_same_name_at_once_get_two_workspaces(store):
    results: list[str] = []
    errors: list[BaseException] = []

    def join() -> None:
        try:
            results.append(SessionStore(medlab_home()).join("Zoe", "lung-42", CONFIG)[1].workspace)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=join) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results) == ["zoe", "zoe-2", "zoe-3", "zoe-4", "zoe-5", "zoe-6"]


def test_unknown_revoked_and_expired_tokens_are_nobody(store, monkeypatch):
    token, _ = store.join("Anna", "lung-42", CONFIG)
    other, _ = store.join("Bob", "lung-42", CONFIG)
    assert store.identity(None, CONFIG) is None and store.identity("", CONFIG) is None
    assert store.identity("made-up-token", CONFIG) is None
    store.leave(token)
    assert store.identity(token, CONFIG) is None
    assert store.identity(other, CONFIG) is not None  # leaving revokes only that token
    later = time.time() + 2 * 86400 + 1               # session_days = 2
    monkeypatch.setattr(sessions_module.time, "time", lambda: later)
    assert store.identity(other, CONFIG) is None
    personal = access_config({})
    monkeypatch.undo()
    assert store.identity(other, personal) is None  # a server no longer in workshop mode knows no tokens


def test_rejoining_after_leaving_keeps_nothing_of_the_old_token_but_the_workspace_stays(store):
    token, anna = store.join("Anna", "lung-42", CONFIG)
    store.leave(token)
    assert workspace_dir(anna.workspace).exists()
    assert [p.workspace for p in store.participants()] == ["anna"]


def test_last_seen_is_written_at_most_once_a_minute(store, monkeypatch):
    token, _ = store.join("Anna", "lung-42", CONFIG)
    joined = store.participants()[0].last_seen
    now = [time.time() + 30]
    monkeypatch.setattr(sessions_module.time, "time", lambda: now[0])
    store.identity(token, CONFIG)
    assert store.participants()[0].last_seen == joined
    now[0] += 31
    store.identity(token, CONFIG)
    assert store.participants()[0].last_seen == pytest.approx(now[0])


def test_codes_and_tokens_are_never_stored_in_clear(store):
    tokens = [store.join("Anna", "lung-42", CONFIG)[0], store.join("Teacher", "teach-9f3", CONFIG)[0]]
    store.sso_identity("https://idp", "sub-1", "ann@example.org", "Ann", admin=False)
    raw = b"".join(path.read_bytes() for path in medlab_home().glob("access.sqlite*"))
    for secret in ("lung-42", "teach-9f3", *tokens):
        assert secret.encode() not in raw
    with sqlite3.connect(medlab_home() / "access.sqlite") as db:
        hashes = {row[0] for row in db.execute("SELECT token_hash FROM sessions")}
    assert hashes == {token_hash(token) for token in tokens}


def test_the_same_sso_subject_always_gets_the_same_workspace(store):
    first = store.sso_identity("https://idp.example.org", "248289761001", "Alice.M@example.org", "Alice M", False)
    assert first.workspace.startswith("alice-m-") and len(first.workspace) == len("alice-m-") + 6
    assert (first.role, first.mode, first.display_name) == ("participant", "sso", "Alice M")
    again = SessionStore(medlab_home()).sso_identity("https://idp.example.org", "248289761001",
                                                     "alice.new@example.org", "Alice Married", False)
    assert again.workspace == first.workspace and again.display_name == "Alice Married"
    other_subject = store.sso_identity("https://idp.example.org", "99", "Alice.M@example.org", "Alice M", False)
    other_issuer = store.sso_identity("https://other.example.org", "248289761001", "Alice.M@example.org", "A", False)
    assert len({first.workspace, other_subject.workspace, other_issuer.workspace}) == 3
    assert [p.display_name for p in store.participants()][-1] == "Alice Married"  # one row per account
    assert len(store.participants()) == 3


def test_an_sso_admin_works_in_the_class_workspace(store):
    admin = store.sso_identity("https://idp", "t-1", "teacher@example.org", "Teacher", admin=True)
    assert (admin.workspace, admin.role, admin.mode) == (CLASS_WORKSPACE, "admin", "sso")
    no_name = store.sso_identity("https://idp", "p-1", "", "", admin=False)
    assert no_name.workspace.startswith("user-") and no_name.display_name == no_name.workspace


def test_participants_newest_first_with_their_roles(store, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(sessions_module.time, "time", lambda: clock[0])
    for name, code in (("Anna", "lung-42"), ("Teacher", "teach-9f3"), ("Bob", "lung-42")):
        store.join(name, code, CONFIG)
        clock[0] += 1
    people = store.participants()
    assert [(p.display_name, p.role, p.workspace) for p in people] == [
        ("Bob", "participant", "bob"), ("Teacher", "admin", CLASS_WORKSPACE), ("Anna", "participant", "anna")]
    assert store.participant_workspaces() == ["bob", "anna"]
    store.join("Teacher", "teach-9f3", CONFIG)  # the teacher again, from another browser: still one row
    assert len(store.participants()) == 3


def test_joining_outside_workshop_mode_is_refused(store):
    with pytest.raises(UserError, match="not running a workshop"):
        store.join("Anna", "lung-42", access_config({}))


def test_changing_the_admin_code_ends_admin_sessions_but_not_participants(store):
    admin_token, _ = store.join("Teacher", "teach-9f3", CONFIG)
    participant_token, _ = store.join("Anna", "lung-42", CONFIG)
    changed = access_config({"workshop": {"join_code": "lung-42", "admin_code": "new-admin-code"}})
    assert store.identity(admin_token, changed) is None
    assert store.identity(participant_token, changed).workspace == "anna"
    assert store.identity(admin_token, CONFIG).is_admin
