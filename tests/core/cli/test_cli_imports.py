"""Commands that need no model and no network start without the heavy libraries (torch, pandas, scipy, ...).

Each command runs in a fresh interpreter (`python -c`, calling core.cli.main as `python -m core` does), which
then reports which of those libraries ended up in sys.modules. The check is on behaviour, not on time:
bench/cli_latency.py prints the timings.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.data.builtin import BUILTIN_IDS, builtin_infos
from core.settings import builtin_dir

ROOT = Path(__file__).resolve().parents[3]
# What these commands must not load. skimage itself is a lazy package (lazy_loader) whose filters all import
# scipy, so "no scipy" also means "no skimage filter".
HEAVY = ("torch", "torchvision", "pandas", "plotly", "scipy", "sklearn", "onnx", "onnxruntime", "pydicom",
         "nibabel", "medmnist", "matplotlib", "cv2", "safetensors")
LIGHT_COMMANDS = {
    "help": ["--help"],
    "datasets": ["datasets", "--json"],
    "runs": ["runs", "--json"],
    "runs of every workspace": ["runs", "--all", "--json"],
}
PROBE = """
import contextlib, io, json, sys
from core.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exit:  # --help
        code = exit.code
heavy = sorted(name for name in {HEAVY} if name in sys.modules)
print(json.dumps({{"code": code, "heavy": heavy, "out": out.getvalue()}}))
"""


def run_probe(argv: list[str]) -> dict:
    """Run `python -m core ARGV` in a fresh interpreter; its exit code, stdout and the heavy modules it loaded."""
    result = subprocess.run([sys.executable, "-c", PROBE.format(HEAVY=HEAVY), *argv], cwd=ROOT, env=os.environ,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def warm_builtins() -> list[str]:
    """The built-in datasets generated (once per test session, shared) before the command runs."""
    return [info.id for info in builtin_infos()]


@pytest.mark.parametrize("argv", LIGHT_COMMANDS.values(), ids=LIGHT_COMMANDS.keys())
def test_light_commands_import_no_heavy_library(argv: list[str], warm_builtins: list[str]):
    probe = run_probe(argv)
    assert probe["code"] == 0
    assert probe["heavy"] == [], f"`python -m core {' '.join(argv)}` imported {probe['heavy']}"


def test_help_still_lists_every_command():
    out = run_probe(["--help"])["out"]
    for command in ("datasets", "import", "inspect", "train", "runs", "resume", "stop", "delete", "evaluate",
                    "predict", "export", "cv", "enhance"):
        assert f"    {command}" in out


def test_datasets_on_a_warm_home_reads_only_metadata(warm_builtins: list[str], tmp_path: Path, monkeypatch):
    """Built-ins whose arrays are absent but whose metadata is current are listed as they are, not regenerated."""
    metadata_only = tmp_path / "builtin"
    for dataset_id in BUILTIN_IDS:
        (metadata_only / dataset_id).mkdir(parents=True)
        shutil.copy(builtin_dir() / dataset_id / "dataset.json", metadata_only / dataset_id / "dataset.json")
    monkeypatch.setenv("MEDLAB_BUILTIN_DIR", str(metadata_only))
    probe = run_probe(["datasets", "--json"])
    listed = json.loads(probe["out"])
    assert [d["id"] for d in listed] == list(BUILTIN_IDS) == warm_builtins
    assert all(d["images"] > 0 and d["builtin"] for d in listed)
    assert sorted(p.name for p in metadata_only.rglob("*") if p.is_file()) == ["dataset.json"] * len(BUILTIN_IDS)
    assert probe["heavy"] == []


def test_a_command_that_trains_still_finds_its_code(tmp_path: Path):
    """The lazily imported handlers still run: a config naming no dataset fails with the user error, exit 2."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dataset": "no-such-dataset"}))
    result = subprocess.run([sys.executable, "-m", "core", "train", "--config", str(config)], cwd=ROOT,
                            env=os.environ, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and "no-such-dataset" in result.stderr
