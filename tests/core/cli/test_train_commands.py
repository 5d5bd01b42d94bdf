"""`train`, `runs`, `stop` and `resume` on the command line, with a real SIGKILL of a foreground training process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from core.cli import main
from core.jobs.liveness import worker_identity
from core.jobs.store import RunStore
from tests.fixtures import tiny_dataset, wait_for as fixtures_wait_for


ROOT = Path(__file__).resolve().parents[3]
TINY = {"model": "small_cnn", "epochs": 8, "batch_size": 8, "lr": 0.01, "device": "cpu", "seed": 7}


def env() -> dict[str, str]:
    """This test's MEDLAB_HOME; one thread, so the three processes compute alike and share two cores calmly."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def cli(*argv: str) -> subprocess.CompletedProcess:
    """`python -m core ARGV` in a fresh process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "core", *argv], cwd=ROOT, env=env(), capture_output=True,
                          text=True, timeout=300)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def checkpoint_epoch(folder: Path) -> int:
    path = folder / "checkpoint.pt"
    return torch.load(path, weights_only=True)["loop"]["epoch"] if path.exists() else 0  # written atomically


def wait_for(predicate, timeout: float = 240.0, every: float = 0.02):
    return fixtures_wait_for(predicate, timeout, every)


def without_timing(summary: dict) -> dict:
    """A `train --json` summary without what differs between two identical runs (ids, times)."""
    drop = {"run_id", "seconds", "time", "message"}
    return {k: ({kk: vv for kk, vv in v.items() if kk not in drop} if isinstance(v, dict) else v)
            for k, v in summary.items() if k not in drop}


def test_a_sigkilled_train_is_interrupted_and_resume_ends_where_an_uninterrupted_run_ends(tmp_path, capsys):
    settings = {"dataset": tiny_dataset(per_class=(40, 40)), **TINY}
    config = tmp_path / "run.json"
    config.write_text(json.dumps(settings))
    store = RunStore()
    process = subprocess.Popen([sys.executable, "-m", "core", "train", "--config", str(config)], cwd=ROOT,
                               env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        record = wait_for(lambda: (runs := store.list()) and runs[0].pid == process.pid and runs[0])
        folder = store.run_dir(record)
        wait_for(lambda: checkpoint_epoch(folder) >= 2)
        assert store.get(record.id).status == "running"
        os.kill(process.pid, signal.SIGSTOP)  # frozen where it is, so the test knows it is still mid-training
        # (no store read while it is frozen: it may be frozen inside a write, holding the store's lock)
        assert process.poll() is None
        assert 2 <= checkpoint_epoch(folder) < settings["epochs"]
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()

    # nothing reported the death: the next reader of the store finds the worker gone
    code, out, _ = run(capsys, "runs", "--json")
    listed = {r["id"]: r for r in json.loads(out)}[record.id]
    assert code == 0 and listed["status"] == "interrupted" and listed["pid"] is None
    assert listed["message"].startswith(f"its worker process (pid {process.pid}) ended without reporting; "
                                        "resume continues from its last checkpoint")
    code, _, err = run(capsys, "stop", record.id)
    assert code == 2 and err.strip().endswith(f"Run '{record.id}' is interrupted, so there is nothing to stop.")

    resumed = cli("resume", record.id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    resumed_summary = json.loads(resumed.stdout)
    assert resumed_summary["status"] == "completed" and resumed_summary["epochs_trained"] == settings["epochs"]
    uninterrupted = cli("train", "--config", str(config), "--json")
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert without_timing(resumed_summary) == without_timing(json.loads(uninterrupted.stdout))

    final = store.get(record.id)
    assert final.phase is None  # a finished run is doing nothing: no stale "writing the report"
    epochs = [e["epoch"] for e in store.events(final) if e["kind"] == "epoch"]
    assert epochs == list(range(1, settings["epochs"] + 1))  # what the killed process logged past its checkpoint is gone


def test_resume_refuses_a_run_whose_worker_is_alive(capsys):
    store = RunStore()
    config = {"task": "classification", "dataset": "phantom-28", "model": "small_cnn", "epochs": 2}
    record = store.create("default", config, monitor="val_accuracy", status="running")
    store.update(record.id, **worker_identity())  # this test process: alive
    code, _, err = run(capsys, "resume", record.id)
    assert code == 2 and f"Run '{record.id}' is already running." in err
    code, out, _ = run(capsys, "runs", "--json")
    assert [r["status"] for r in json.loads(out)] == ["running"]


def test_train_with_two_workers_says_so_and_reports_them(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dataset": tiny_dataset(per_class=(40, 40)), **TINY, "epochs": 1, "workers": 2}))
    code, out, err = run(capsys, "train", "--config", str(config))
    assert code == 0, err
    assert "(small_cnn on " in err and ", 1 epoch, 2 data-parallel workers (effective batch 16, learning rate 0.02))" \
        in err
    code, out, err = run(capsys, "train", "--config", str(config), "--json")
    assert code == 0 and json.loads(out)["workers"] == 2
