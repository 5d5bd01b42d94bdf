"""The job queue with real worker processes: queueing, stop and resume, crash isolation, restart recovery."""
from __future__ import annotations

import os
import signal

import pytest

from core.data.catalog import open_dataset
from core.data.store import delete_dataset
from core.jobs.control import create_run, prepare_resume, request_stop
from core.jobs.runner import JobRunner
from core.jobs.store import RunStore
from tests.fixtures import tiny_dataset, wait_for

TINY = {"model": "small_cnn", "batch_size": 8, "lr": 0.01}


@pytest.fixture
def runner():
    runner = JobRunner(RunStore(), slots=1, poll_s=0.2, gpus=0).start()
    yield runner
    runner.shutdown()
    for process in runner.processes.values():
        process.kill()


def test_jobs_queue_on_one_device_and_both_complete(runner):
    first = create_run(runner.store, "alice", {"dataset": tiny_dataset("alice"), **TINY, "epochs": 2})
    second = create_run(runner.store, "bob", {"dataset": tiny_dataset("bob"), **TINY, "epochs": 2})
    wait_for(lambda: runner.store.get(first.id).status == "running")
    assert runner.store.get(second.id).status == "queued" and runner.queue_position(second.id) == 1
    for record in (first, second):
        done = wait_for(lambda: runner.store.get(record.id).status in ("completed", "failed"))
        assert done
        final = runner.store.get(record.id)
        assert final.status == "completed", final.message
        summary = final.summary_dict
        assert summary["epochs_trained"] == 2 and summary["best_epoch"] in (1, 2)
        tested = open_dataset(final.workspace, final.dataset).info.split_counts["test"]
        correct = summary["test_accuracy"] * tested  # a count of test images: whole, 0 to all of them
        assert 0 <= round(correct) <= tested and correct == pytest.approx(round(correct))
        assert (runner.store.run_dir(final) / "best.safetensors").exists()
    assert runner.store.get(second.id).started >= runner.store.get(first.id).finished - 1


def test_stop_then_resume_finishes_from_the_checkpoint(runner):
    dataset = tiny_dataset("w", per_class=(60, 60))
    record = create_run(runner.store, "w", {"dataset": dataset, **TINY, "epochs": 40})
    wait_for(lambda: runner.store.get(record.id).epoch >= 1)
    request_stop(runner.store, record.id)
    stopped = wait_for(lambda: (r := runner.store.get(record.id)).status == "stopped" and r)
    assert "resume continues" in stopped.message and stopped.epoch < 40
    assert (runner.store.run_dir(stopped) / "checkpoint.pt").exists()
    prepare_resume(runner.store, record.id, epochs=stopped.epoch + 2)
    done = wait_for(lambda: (r := runner.store.get(record.id)).status in ("completed", "failed") and r)
    assert done.status == "completed" and done.epoch == stopped.epoch + 2


def same_training(a, b) -> None:
    """Two runs trained the same: equal test metrics, best epoch and per-epoch validation curves."""
    store = RunStore()
    assert {k: v for k, v in a.summary_dict.items() if k != "seconds"} == \
        {k: v for k, v in b.summary_dict.items() if k != "seconds"}
    curves = [[{k: v for k, v in e.items() if k not in ("time", "seconds")} for e in store.events(r)
               if e["kind"] == "epoch"] for r in (a, b)]
    assert curves[0] == curves[1] and len(curves[0]) == a.epochs
    steps = [[(e["global_step"], e["loss"]) for e in store.events(r) if e["kind"] == "step"] for r in (a, b)]
    assert steps[0] == steps[1]  # nothing the killed worker logged past its checkpoint is left twice


def test_a_killed_worker_is_interrupted_the_queue_moves_on_and_resume_matches_an_uninterrupted_run():
    """SIGKILL (as the out-of-memory killer sends it) to the app's worker process at epoch 2: the run is
    interrupted, not failed (its checkpoint is intact and every reader of the store, which cannot see exit codes,
    calls a vanished worker's run interrupted), the next queued run starts, and resume ends where a twin run
    that was never interrupted ends."""
    runner = JobRunner(RunStore(), slots=1, poll_s=0.2, gpus=0).start()
    store = runner.store
    try:
        dataset = tiny_dataset("w", per_class=(40, 40))
        config = {"dataset": dataset, **TINY, "epochs": 8}
        doomed = create_run(store, "w", config)
        twin = create_run(store, "w", config)  # same config and seed, queued behind it, never interrupted
        pid = wait_for(lambda: (r := store.get(doomed.id)).status == "running" and r.epoch >= 2 and r.pid, every=0.02)
        os.kill(pid, signal.SIGSTOP)  # frozen where it is, so the test knows it is still mid-training
        frozen = store.get(doomed.id)
        assert frozen.status == "running" and 2 <= frozen.epoch < 8
        os.kill(pid, signal.SIGKILL)
        interrupted = wait_for(lambda: (r := store.get(doomed.id)).status != "running" and "SIGKILL" in r.message
                               and r)
        assert interrupted.status == "interrupted" and interrupted.pid is None
        assert f"its worker process (pid {pid}) was killed by SIGKILL" in interrupted.message
        assert "resume continues from its last checkpoint" in interrupted.message
        assert wait_for(lambda: store.get(twin.id).status != "queued")  # the queue moves on
        done_twin = wait_for(lambda: (r := store.get(twin.id)).status in ("completed", "failed") and r)
        assert done_twin.status == "completed", done_twin.message
        assert prepare_resume(store, doomed.id).status == "queued"
        resumed = wait_for(lambda: (r := store.get(doomed.id)).status in ("completed", "failed") and r)
        assert resumed.status == "completed", resumed.message
        same_training(resumed, done_twin)
    finally:
        runner.shutdown()
        for process in runner.processes.values():
            process.kill()


def test_an_exception_in_a_job_marks_it_failed_with_the_reason(runner):
    dataset = tiny_dataset("w", name="soon-gone")
    blocker = create_run(runner.store, "w", {"dataset": tiny_dataset("w", per_class=(60, 60)), **TINY, "epochs": 3})
    doomed = create_run(runner.store, "w", {"dataset": dataset, **TINY, "epochs": 2})
    delete_dataset("w", dataset)  # vanishes while the run waits in the queue
    failed = wait_for(lambda: (r := runner.store.get(doomed.id)).status == "failed" and r)
    assert "no dataset" in failed.message
    assert wait_for(lambda: runner.store.get(blocker.id).status == "completed")


def test_restart_marks_running_runs_interrupted_and_keeps_the_queue():
    store = RunStore()
    dataset = tiny_dataset("w")
    orphan = create_run(store, "w", {"dataset": dataset, **TINY, "epochs": 2})
    store.update(orphan.id, status="running", pid=2**22 + 12345)  # a pid that does not exist
    waiting = create_run(store, "w", {"dataset": dataset, **TINY, "epochs": 1})
    runner = JobRunner(store, slots=1, poll_s=0.2, gpus=0)
    runner.recover()
    interrupted = store.get(orphan.id)
    assert interrupted.status == "interrupted" and "resume" in interrupted.message
    assert store.get(waiting.id).status == "queued"
    runner.start()
    try:
        assert wait_for(lambda: store.get(waiting.id).status == "completed")
    finally:
        runner.shutdown()
