"""`python -m core participants` and `revoke`: the operator's view of who joined, without codes or tokens; and
`datasets` listing the class workspace's datasets as "class:<id>"."""
from __future__ import annotations

import json

from core.access.config import access_config
from core.access.sessions import SessionStore
from core.cli import main
from core.settings import CLASS_WORKSPACE, medlab_home
from tests.fixtures import tiny_dataset

CONFIG = access_config({"workshop": {"join_code": "lung-42", "admin_code": "teach-9f3"}})


def test_participants_lists_everyone_without_codes_or_tokens(capsys):
    assert main(["participants"]) == 0
    assert "nobody has joined yet" in capsys.readouterr().out
    store = SessionStore(medlab_home())
    token, _ = store.join("Anna", "lung-42", CONFIG)
    store.join("Dr Lee", "teach-9f3", CONFIG)
    assert main(["participants", "--json"]) == 0
    out = capsys.readouterr().out
    people = json.loads(out)
    assert [(p["display_name"], p["workspace"], p["role"]) for p in people] == [
        ("Dr Lee", CLASS_WORKSPACE, "admin"), ("Anna", "anna", "participant")]
    assert token not in out and "lung-42" not in out and "teach-9f3" not in out
    assert main(["participants"]) == 0
    assert "anna" in capsys.readouterr().out


def test_revoke_signs_out_every_browser_of_a_participant(capsys):
    store = SessionStore(medlab_home())
    first, _ = store.join("Anna", "lung-42", CONFIG)
    kept, _ = store.join("Bob", "lung-42", CONFIG)
    assert main(["revoke", "anna"]) == 0
    assert "revoked 1 session of 'anna'" in capsys.readouterr().out
    assert store.identity(first, CONFIG) is None and store.identity(kept, CONFIG) is not None
    assert main(["revoke", "nobody"]) == 2
    assert "No workshop participant has the workspace 'nobody'" in capsys.readouterr().err


def test_datasets_lists_the_class_workspaces_datasets_with_their_prefix(capsys):
    shared = tiny_dataset(CLASS_WORKSPACE, name="chest")
    assert main(["--workspace", "anna", "datasets", "--json"]) == 0
    assert f"class:{shared}" in [d["id"] for d in json.loads(capsys.readouterr().out)]
    assert main(["--workspace", CLASS_WORKSPACE, "datasets", "--json"]) == 0
    assert [d["id"] for d in json.loads(capsys.readouterr().out) if not d["builtin"]] == [shared]
