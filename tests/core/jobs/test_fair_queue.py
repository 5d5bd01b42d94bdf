"""The fair queue: round-robin across workspaces, the teacher's priority first; the order the job runner really
starts runs in (with a fake, instant worker) and the places and start times shown to participants."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.jobs.control import move_to_back, move_to_front, set_priority
from core.jobs.fair_queue import launch_order
from core.jobs.liveness import worker_identity
from core.jobs.queue_estimate import queue_positions, queue_sentence
from core.jobs.runner import JobRunner
from core.jobs.store import RunRecord, RunStore
from tests.fixtures import wait_for

RECORD = {"task": "classification", "dataset": "phantom-64", "model": "small_cnn", "epochs": 2, "device": "cpu"}


def record(run_id: str, workspace: str, created: float, priority: float = 0.0, status: str = "queued") -> RunRecord:
    return RunRecord(id=run_id, workspace=workspace, name=run_id, task="classification", dataset="d", model="m",
                     status=status, device="cpu", device_used=None, created=created, started=None, finished=None,
                     epoch=0, epochs=1, step=0, steps_per_epoch=None, images_per_s=None, eta_s=None, monitor=None,
                     best_value=None, best_epoch=None, summary=None, message=None, pid=None, stop_requested=0,
                     priority=priority)


def submitted(*names: str) -> list[RunRecord]:
    """Queued runs named like "A1" (workspace A), submitted in the order given."""
    return [record(name, name[0], created=float(index)) for index, name in enumerate(names)]


ORDER_CASES = [
    # submission order, running runs' workspaces -> launch order
    (["A1", "A2", "A3", "B1", "B2", "B3", "C1", "C2", "C3"], [], ["A1", "B1", "C1", "A2", "B2", "C2", "A3", "B3", "C3"]),
    (["A1", "B1", "A2", "C1", "C2", "B2"], [], ["A1", "B1", "C1", "A2", "C2", "B2"]),  # a round by submission
    (["A2", "A3", "B1", "C1"], ["A"], ["B1", "C1", "A2", "A3"]),      # A1 runs: A2 is A's second, after B1 and C1
    (["A2", "B2", "C1"], ["A", "B"], ["C1", "A2", "B2"]),
    (["X1", "X2", "X3"], [], ["X1", "X2", "X3"]),                       # one workspace: first come, first served
    ([], ["A"], []),
]


@pytest.mark.parametrize("queued,running,expected", ORDER_CASES)
def test_launch_order_is_round_robin_across_workspaces(queued, running, expected):
    active = [record(f"{ws}0", ws, created=-1.0, status="running") for ws in running]
    assert [r.id for r in launch_order(submitted(*queued), active)] == expected


def test_a_run_that_already_finished_still_counts_as_its_workspaces_turn():
    """A1 was started (and has finished) while A2 and B1 waited: A2 is A's second run, so B1 goes first. A run
    started before anything now queued was submitted (an idle queue then) counts for nothing."""
    queued = submitted("A2", "B1")
    finished = record("A1", "A", created=-2.0, status="completed")
    finished.launched = 0.5  # after A2 was submitted (created 0.0)
    assert [r.id for r in launch_order(queued, [], [finished])] == ["B1", "A2"]
    finished.launched = -1.0  # before it: the queue was idle then
    assert [r.id for r in launch_order(queued, [], [finished])] == ["A2", "B1"]


def test_the_teachers_priority_comes_before_rounds_and_submission_time():
    runs = submitted("A1", "A2", "B1", "C1")
    runs[1].priority = 1.0  # the teacher moved A's second run to the front
    runs[3].priority = -1.0  # and C's run to the back
    assert [r.id for r in launch_order(runs, [])] == ["A2", "A1", "B1", "C1"]


# --- the store and the controls -----------------------------------------------------------------------------
def queue(store: RunStore, *names: str) -> dict[str, str]:
    """Queue runs named like "A1" in workspace "A", in that order, 1 s apart; name -> run id."""
    ids = {}
    for index, name in enumerate(names):
        run = store.create(name[0], {**RECORD, "name": name}, monitor="val_accuracy")
        store.update(run.id, created=1000.0 + index)
        ids[name] = run.id
    return ids


def test_move_to_front_and_back_reorder_the_queue():
    store = RunStore()
    ids = queue(store, "A1", "A2", "B1")
    names = {v: k for k, v in ids.items()}
    order = lambda: [names[r.id] for r in launch_order(store.list(statuses=("queued",)), [])]  # noqa: E731
    assert order() == ["A1", "B1", "A2"]
    move_to_front(store, ids["A2"])
    assert order() == ["A2", "A1", "B1"]
    move_to_back(store, ids["A2"])
    assert order() == ["A1", "B1", "A2"]
    assert set_priority(store, ids["B1"], 5).priority == 5.0 and order()[0] == "B1"
    store.update(ids["A1"], status="running")
    with pytest.raises(Exception, match="not queued"):
        move_to_front(store, ids["A1"])


def test_positions_and_start_times_follow_the_fair_order():
    store = RunStore()
    ids = queue(store, "A1", "A2", "A3", "B1", "C1")
    # one recipe finished before, in another workspace: 60 s per epoch, so each queued 2-epoch run takes 120 s
    done = store.create("Z", RECORD, monitor="val_accuracy", status="completed")
    store.update(done.id, started=0.0, stretch_started=0.0, finished=120.0, epoch=2)
    running = store.create("A", RECORD, monitor="val_accuracy", status="running")
    store.update(running.id, device_used="cpu", phase="training", eta_s=30.0, started=1.0, stretch_started=1.0,
                 **worker_identity())  # this test's process stands in for its live worker
    places = queue_positions(store, gpus=0, slots=1)
    # A has a run running, so each of A's queued runs is one round later: B1 and C1 come before A1
    assert {name: places[run_id].position for name, run_id in ids.items()} == {"B1": 1, "C1": 2, "A1": 3, "A2": 4,
                                                                               "A3": 5}
    assert [places[ids[name]].seconds for name in ("B1", "C1", "A1")] == [30.0, 150.0, 270.0]
    position, seconds = places[ids["A1"]]  # unpacks as (position, seconds)
    assert (position, seconds) == (3, 270.0) and places[ids["A1"]].of == 5 and places[ids["A1"]].running == 1
    sentence = queue_sentence(places[ids["A1"]], gpus=0, slots=1)
    assert "position 3 of 5 for the CPU" in sentence and "Expected to start in about 4 min 30 s" in sentence


# --- a real JobRunner, with a fake worker that completes its run at once --------------------------------------
FAKE_WORKER = """
import os, sqlite3, sys, time
db = sqlite3.connect(os.path.join(os.environ["MEDLAB_HOME"], "runs.sqlite"), timeout=30)
db.execute("UPDATE runs SET status = 'completed', finished = ?, pid = NULL, message = NULL WHERE id = ?",
           (time.time(), sys.argv[1]))
db.commit()
"""


class InstantRunner(JobRunner):
    """A JobRunner whose workers complete their run at once; it records the order it started them in."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.started_order: list[str] = []

    def _spawn(self, record: RunRecord, device: str) -> subprocess.Popen:
        self.started_order.append(record.name)
        return subprocess.Popen([sys.executable, "-c", FAKE_WORKER, record.id])


def test_the_runner_starts_three_participants_runs_round_robin():
    store = RunStore()
    ids = queue(store, "A1", "A2", "A3", "B1", "B2", "B3", "C1", "C2", "C3")  # A submitted all of its runs first
    runner = InstantRunner(store, slots=1, poll_s=0.05, gpus=0).start()
    try:
        wait_for(lambda: all(store.get(run_id).status == "completed" for run_id in ids.values()), timeout=120)
    finally:
        runner.shutdown()
    assert runner.started_order == ["A1", "B1", "C1", "A2", "B2", "C2", "A3", "B3", "C3"]


def test_a_participants_second_run_waits_for_the_others_first_runs():
    """A1 is running when B and C submit: A2 (submitted before them) still starts after B1 and C1."""
    store = RunStore()
    runner = InstantRunner(store, slots=1, gpus=0)
    first = queue(store, "A1", "A2")
    runner._launch()  # A1 starts; its fake worker completes it, but the runner has not reaped it yet
    assert runner.started_order == ["A1"]
    later = {name: store.create(name[0], {**RECORD, "name": name}, monitor="val_accuracy").id
             for name in ("B1", "C1")}
    assert runner.queue_position(later["B1"]) == 1 and runner.queue_position(first["A2"]) == 3
    for _ in range(4):
        wait_for(lambda: all(p.poll() is not None for p in runner.processes.values()), timeout=60)
        runner.tick()
    assert runner.started_order == ["A1", "B1", "C1", "A2"]


# --- several jobs per GPU, and the memory check ----------------------------------------------------------------
GB = 1024**3


class FakeGpu:
    def __init__(self, free_gb: float, total_gb: float = 16.0) -> None:
        self.free, self.total = free_gb * GB, total_gb * GB
        self.asked: list[str] = []

    def __call__(self, device: str) -> tuple[int, int]:
        self.asked.append(device)
        return int(self.free), int(self.total)


def test_a_run_stays_queued_while_the_gpu_lacks_memory(monkeypatch):
    monkeypatch.setenv("MEDLAB_JOB_GPU_MEMORY_GB", "3.1")
    store = RunStore()
    gpu = FakeGpu(free_gb=1.2)
    runner = InstantRunner(store, slots=2, gpus=1, mem_get_info=gpu)
    run = store.create("A", {**RECORD, "device": "auto"}, monitor="val_accuracy")
    cpu_run = store.create("B", {**RECORD, "name": "cpu run"}, monitor="val_accuracy")  # another device: not blocked
    runner._launch()
    waiting = store.get(run.id)
    assert waiting.status == "queued" and gpu.asked == ["cuda:0"]
    assert waiting.message == waiting.phase == "waiting for GPU memory (needs about 3.1 GB, 1.2 GB free on cuda:0)"
    assert store.get(cpu_run.id).status != "queued"
    place = queue_positions(store, gpus=1, slots=2)[run.id]
    assert "waiting for GPU memory" in queue_sentence(place, gpus=1, slots=2)
    gpu.free = 8 * GB  # another job ended
    runner._launch()
    started = store.get(run.id)
    assert started.status != "queued" and started.device_used == "cuda:0" and started.message is None
    assert runner.needs[run.id] == int(3.1 * GB)


def test_two_jobs_share_a_gpu_when_both_fit_and_a_third_waits_for_memory(monkeypatch):
    monkeypatch.setenv("MEDLAB_JOB_GPU_MEMORY_GB", "2")
    store = RunStore()
    runner = JobRunner(store, slots=3, gpus=1, mem_get_info=FakeGpu(free_gb=5.0))
    runner._spawn = lambda record, device: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    runs = [store.create(ws, {**RECORD, "device": "auto"}, monitor="val_accuracy") for ws in "ABC"]
    try:
        runner._launch()
        # the first two are still setting up (their memory not taken yet), so the runner counts it as taken
        assert [store.get(r.id).status for r in runs] == ["running", "running", "queued"]
        assert store.get(runs[2].id).phase == "waiting for GPU memory (needs about 2.0 GB, 1.0 GB free on cuda:0)"
    finally:
        for process in runner.processes.values():
            process.kill()
            process.wait()


def test_a_run_bigger_than_the_gpu_runs_alone_rather_than_waiting_forever(monkeypatch):
    monkeypatch.setenv("MEDLAB_JOB_GPU_MEMORY_GB", "40")
    store = RunStore()
    runner = InstantRunner(store, slots=2, gpus=1, mem_get_info=FakeGpu(free_gb=15.0, total_gb=16.0))
    run = store.create("A", {**RECORD, "device": "auto"}, monitor="val_accuracy")
    runner._launch()
    assert store.get(run.id).status != "queued"


def test_the_need_comes_from_a_finished_run_of_the_same_recipe():
    from core.jobs.gpu_memory import CONTEXT_BYTES, memory_need

    store = RunStore()
    done = store.create("A", {**RECORD, "device": "auto"}, monitor="val_accuracy", status="completed")
    store.update(done.id, summary=json.dumps({"gpu_memory_peak_bytes": 1 * GB}))
    queued = store.create("A", {**RECORD, "device": "auto"}, monitor="val_accuracy")
    runner = JobRunner(store, slots=1, gpus=1, mem_get_info=FakeGpu(free_gb=1.0))
    assert runner._need(queued) == int(CONTEXT_BYTES + 1.2 * GB)
    rule = memory_need({**RECORD, "batch_size": 32, "image_size": 64})
    assert rule == CONTEXT_BYTES + 32 * 64 * 64 * 1024
