"""Arguments every command shares: option values that start with a minus sign, and the workspace name."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from core.cli import build_parser, main
from core.settings import medlab_home
from tests.fixtures import identified_ct


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _commands_with(option: str) -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name: sub for name, sub in commands.choices.items() if option in sub._option_string_actions}


def _minimal_argv(name: str, sub: argparse.ArgumentParser) -> list[str]:
    """The command with a placeholder for each positional and required option, so that it parses."""
    argv = [name]
    for action in sub._actions:
        if not action.option_strings:
            argv.append(action.choices[0] if action.choices else "x")
        elif action.required:
            argv += [action.option_strings[0], str(next(iter(action.choices))) if action.choices else "x"]
    return argv


def test_window_is_offered_by_import_and_inspect_at_least():
    assert {"import", "inspect"} <= set(_commands_with("--window"))


@pytest.mark.parametrize("name", sorted(_commands_with("--window")))
@pytest.mark.parametrize("value", ["-600,1500", "-1000,400", "-.5,2", "40,400"])
def test_every_window_option_takes_a_negative_centre(name, value):
    sub = _commands_with("--window")[name]
    args = build_parser().parse_args(_minimal_argv(name, sub) + ["--window", value])
    assert args.window == value


def test_inspect_with_a_negative_window_centre(capsys):
    code, out, err = run(capsys, "inspect", get_testdata_file("CT_small.dcm"), "--window", "-600,1500", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["window"] == {"center": -600.0, "width": 1500.0, "source": "manual"}


def test_import_with_a_negative_window_centre(capsys, tmp_path: Path):
    folder = tmp_path / "ct"
    folder.mkdir()
    for i in range(3):
        (folder / f"ct{i}.dcm").write_bytes(identified_ct(patient_id=f"P{i}"))
    code, out, err = run(capsys, "import", str(folder), "--window", "-600,1500", "--size", "16", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["images"] == 3
    assert any("window '-600,1500'" in line for line in summary["preprocessing"])


def test_an_option_is_still_not_taken_as_a_window(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["inspect", "x.dcm", "--window", "--json"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--window: expected one argument" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("where", ["before", "after"])
def test_an_unusable_workspace_name_is_normalised_and_said(capsys, where):
    workspace = ["--workspace", "Bob Smith"]
    argv = workspace + ["import", get_testdata_file("CT_small.dcm"), "--json"] if where == "before" else \
        ["import", get_testdata_file("CT_small.dcm"), "--json"] + workspace
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert err == ("note: Workspace names use lower-case letters, digits, '-' and '_' (1-40, starting with a letter "
                   "or digit), so 'Bob Smith' is the workspace 'bob-smith'.\n")
    dataset_id = json.loads(out)["dataset_id"]
    assert (medlab_home() / "workspaces" / "bob-smith" / "datasets" / dataset_id).is_dir()
    assert not (medlab_home() / "workspaces" / "default").exists()  # never silently the default one
    code, out, _ = run(capsys, "datasets", "--workspace", "bob-smith", "--json")
    assert dataset_id in {entry["id"] for entry in json.loads(out)}


def test_workspace_from_the_environment_is_normalised_too(capsys, monkeypatch):
    monkeypatch.setenv("MEDLAB_WORKSPACE", "Ward 7")
    code, _, err = run(capsys, "runs", "--json")
    assert code == 0 and "so 'Ward 7' is the workspace 'ward-7'" in err


def test_a_usable_workspace_name_gives_no_note(capsys):
    code, _, err = run(capsys, "--workspace", "ward-7", "runs", "--json")
    assert (code, err) == (0, "")


def test_an_empty_workspace_says_where_the_runs_are(capsys):
    from core.jobs.store import RunStore

    config = {"task": "classification", "dataset": "phantom-28", "model": "small_cnn", "epochs": 1}
    for workspace in ("anna-kowalski", "ben"):
        RunStore().create(workspace, config, monitor="val_accuracy")
    code, out, err = run(capsys, "runs", "--json")
    assert (code, json.loads(out)) == (0, [])
    assert err == ("No runs in workspace 'default'; 2 in 2 other workspaces (--all lists every run, --workspace NAME "
                   "one workspace's).\n")
    code, out, err = run(capsys, "runs", "--all", "--json")
    assert len(json.loads(out)) == 2 and err == ""


@pytest.mark.parametrize("name", ["!!!", "张伟", "---"])
def test_a_workspace_name_with_nothing_usable_exits_2(capsys, name):
    code, out, err = run(capsys, f"--workspace={name}", "runs")
    assert code == 2 and out == ""
    assert err == (f"error: '{name}' is not a usable workspace name: use 1-40 lower-case letters, digits, '-' or "
                   "'_', starting with a letter or digit.\n")
    assert not (medlab_home() / "workspaces").exists()
