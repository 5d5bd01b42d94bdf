"""When a queued run will start: the runs ahead of it on its device, each taking its estimated time.

The job runner (core.jobs.runner) starts queued runs in order of submission, at most `slots` at a time per device
(MEDLAB_JOBS_PER_DEVICE). So a queued run starts when enough of the runs before it have finished: with the time
left of each running run and the expected duration of each queued run ahead, the start is the time the earliest
slot frees up after those ahead have taken theirs. A run whose time is unknown makes the start unknown (None)
rather than a guess. Pure functions of numbers; the page gathers them from the run store.
"""
from __future__ import annotations

import heapq
import statistics
from collections.abc import Sequence


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
