"""When a queued run will start: the runs ahead of it on its device, each taking its estimated time.

The job runner (core.jobs.runner) starts queued runs in the fair order of core.jobs.fair_queue (round-robin
across workspaces, the teacher's priority first), at most `slots` at a time per device (MEDLAB_JOBS_PER_DEVICE).
So a queued run starts when enough of the runs before it in that order have finished: with the time left of each
running run and the expected duration of each queued run ahead, the start is the time the earliest slot frees up
after those ahead have taken theirs. A run whose time is unknown makes the start unknown (None) rather than a
guess. `queue_positions` gathers the figures from the run store (every workspace's runs: pass the plain store)
for the sidebar, the runs table and the live panel; the rest are pure functions of numbers.
"""
from __future__ import annotations

import heapq
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from core.jobs.fair_queue import launch_order
from core.jobs.store import ACTIVE, RunRecord, RunStore
from core.train.eta import format_duration

# a running run's phases before its speed is measured: its own eta is not there yet
BEFORE_TRAINING = ("starting the worker", "preparing data", "loading the data and building the model",
                   "resuming from the checkpoint")


def device_group(device: str, gpus: int) -> str:
    """Which slots a run competes for: "cpu", or "gpu" for a GPU (named, "cuda" or "auto" on a server with GPUs).
    Runs on different GPUs are counted together: a queued "auto" run takes whichever GPU frees first."""
    if device == "cpu" or (device == "auto" and gpus == 0):
        return "cpu"
    return "gpu"


def seconds_until_start(running_left: Sequence[float | None], ahead: Sequence[float | None], slots: int
                        ) -> float | None:
    """Seconds until a queued run starts.

    Args:
        running_left: time left of each run now running on the run's device group (None: not known yet).
        ahead: expected duration of each queued run ahead of it in the queue, in order (None: not known).
        slots: how many runs the group runs at once.

    Returns None when a figure it depends on is unknown.
    """
    free_at = [0.0] * max(0, slots - len(running_left))
    for left in running_left:
        if left is None:
            return None
        free_at.append(max(0.0, left))
    heapq.heapify(free_at)
    for duration in ahead:
        if duration is None:
            return None
        start = heapq.heappop(free_at)
        heapq.heappush(free_at, start + max(0.0, duration))
    return free_at[0] if free_at else 0.0


def expected_duration(epochs: int, finished: Sequence[tuple[float, int]]) -> float | None:
    """A queued run's expected duration: the median seconds per epoch of finished runs of the same recipe
    (`finished`: (seconds, epochs trained) of each) times its epochs; None without such runs."""
    per_epoch = [seconds / trained for seconds, trained in finished if trained > 0 and seconds > 0]
    return statistics.median(per_epoch) * epochs if per_epoch else None


@dataclass(frozen=True)
class QueuePlace:
    """Where a queued run stands in its device group's queue."""

    position: int                   # 1 = the next to start in its group
    of: int                         # queued runs in the group
    seconds: float | None           # until it should start (None: not known yet)
    group: str                      # "cpu" or "gpu"
    running: int                    # runs running in the group now
    waiting_for_memory: str | None  # the runner's sentence when only GPU memory keeps it waiting

    def __iter__(self):  # (position, seconds), as `position, seconds = place`
        return iter((self.position, self.seconds))


def queue_positions(store: RunStore, gpus: int, slots: int, estimate: bool = True) -> dict[str, QueuePlace]:
    """Every queued run's place (run id -> QueuePlace), in the order the job runner will start them.

    `store` must see every workspace (the job runner's plain store), since participants' runs share the slots;
    a page shows only its own runs' places. `gpus` and `slots`: the runner's (JobRunner.gpus, .slots); a GPU
    group has `slots` per GPU. `estimate=False` skips the start times (no reads of finished runs)."""
    active = store.list(statuses=ACTIVE)
    queued = [r for r in active if r.status == "queued"]
    if not queued:
        return {}
    running = [r for r in active if r.status != "queued"]
    order = launch_order(queued, running, store.launched_since(min(r.created for r in queued)))
    expected = _expected_durations(store, order + running) if estimate else {}
    places: dict[str, QueuePlace] = {}
    for group in ("cpu", "gpu"):
        waiting = [r for r in order if device_group(r.device, gpus) == group]
        busy = [r for r in running if device_group(r.device_used or r.device, gpus) == group]
        group_slots = slots * (max(1, gpus) if group == "gpu" else 1)
        left = [_remaining(r, expected.get(r.id)) for r in busy]
        for index, record in enumerate(waiting):
            seconds = (seconds_until_start(left, [expected.get(r.id) for r in waiting[:index]], group_slots)
                       if estimate else None)
            memory = record.phase if (record.phase or "").startswith("waiting for GPU memory") else None
            places[record.id] = QueuePlace(index + 1, len(waiting), seconds, group, len(busy), memory)
    return places


def queue_sentence(place: QueuePlace, gpus: int, slots: int, now: float | None = None) -> str:
    """What a participant reads about a queued run: its place, the device's slots, and when it should start."""
    group_slots = slots * (max(1, gpus) if place.group == "gpu" else 1)
    where = "the CPU" if place.group == "cpu" else ("the GPU" if gpus <= 1 else f"{gpus} GPUs")
    line = (f"Waiting in the queue: position {place.position} of {place.of} for {where}, which runs "
            f"{group_slots} job{'s' if group_slots != 1 else ''} at a time; {place.running} running now.")
    if place.waiting_for_memory:
        return line + f" It is {place.waiting_for_memory}."
    if place.seconds is None:
        return line + " The start time is not known yet: a run ahead has not measured its speed."
    if place.seconds < 5:
        return line + " It should start in a moment."
    start = (now if now is not None else time.time()) + place.seconds
    return line + (f" Expected to start in about {format_duration(place.seconds)} (around "
                   f"{time.strftime('%H:%M', time.localtime(start))} server time).")


def _remaining(record: RunRecord, expected: float | None) -> float | None:
    """A running run's time left: its own estimate, or before it has one its recipe's usual duration."""
    if record.eta_s is not None and record.phase not in BEFORE_TRAINING:
        return record.eta_s
    return None if expected is None else max(0.0, expected - (record.duration_s or 0.0))


def _expected_durations(store: RunStore, records: Sequence[RunRecord]) -> dict[str, float | None]:
    """Each run's expected duration for the epochs it has left: how long finished runs of its recipe (task, model,
    dataset, in any workspace: a workshop's participants mostly train the same recipes) took per epoch."""
    finished: dict[tuple[str, str, str], list[tuple[float, int]]] = {}
    for done in store.list(statuses=("completed",)):
        finished.setdefault((done.task, done.model, done.dataset), []).append((done.duration_s or 0.0, done.epoch))
    return {r.id: expected_duration(r.epochs - r.epoch, finished.get((r.task, r.model, r.dataset), []))
            for r in records}
