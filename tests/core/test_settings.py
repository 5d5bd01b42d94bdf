"""Workspace names: a typed name is made usable and the change is said, never silently swapped for another."""
from __future__ import annotations

import pytest

from core.errors import UserError
from core.settings import check_workspace_name, normalise_workspace_name, workspace_dir, workspace_name_note


@pytest.mark.parametrize("typed, used", [
    ("default", "default"),
    ("ward-7", "ward-7"),
    ("team_b", "team_b"),
    ("  ward-7 ", "ward-7"),
    ("Ward-7", "ward-7"),
    ("Bob Smith", "bob-smith"),
    ("Bob  Smith", "bob-smith"),
    ("Dr. Who?", "dr-who"),
    ("a - b", "a-b"),
    ("Jürgen Müller", "jurgen-muller"),
    ("_hidden", "hidden"),
    ("../../etc", "etc"),
    ("x" * 45, "x" * 40),
    ("x" * 39 + " y", "x" * 39),
])
def test_names_are_made_usable(typed, used):
    assert normalise_workspace_name(typed) == used
    assert check_workspace_name(used) == used  # what comes back is always a usable name


@pytest.mark.parametrize("typed", ["", "   ", "!!!", "---", "__", "张伟", "😀"])
def test_nothing_usable_left_is_one_sentence(typed):
    with pytest.raises(UserError) as caught:
        normalise_workspace_name(typed)
    assert caught.value.message == (f"'{typed.strip()}' is not a usable workspace name: use 1-40 lower-case letters, "
                                    "digits, '-' or '_', starting with a letter or digit.")


def test_the_note_says_what_the_name_became():
    assert workspace_name_note("Bob Smith", "bob-smith") == (
        "Workspace names use lower-case letters, digits, '-' and '_' (1-40, starting with a letter or digit), "
        "so 'Bob Smith' is the workspace 'bob-smith'.")
    assert workspace_name_note("ward-7", "ward-7") is None
    assert workspace_name_note(" ward-7 ", "ward-7") is None


def test_folders_only_ever_take_usable_names():
    assert workspace_dir("bob-smith").name == "bob-smith"
    with pytest.raises(UserError):
        workspace_dir("Bob Smith")


def test_a_workspace_key_is_made_once_even_by_imports_starting_together():
    from concurrent.futures import ThreadPoolExecutor

    from core.settings import workspace_dir, workspace_secret

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: workspace_secret("together"), range(32)))
    assert len(keys) == 1 and len(keys.pop()) == 32
    assert sorted(p.name for p in workspace_dir("together").iterdir()) == ["secret"]  # no temporary file left
