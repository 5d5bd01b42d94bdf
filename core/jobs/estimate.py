"""How long a recipe will take on a device, measured before it is queued, so nobody starts a 7-hour CPU run by
accident.

The config's task is built and set up on the device as a worker would (data loaded, networks built); one step
warms up (memory allocation, kernel selection), the next few are timed and one validation pass is timed. The
duration is then: setup + epochs x (steps per epoch x step time + a validation pass) + the test split's evaluation
(taken as long as a validation pass). Nothing is written to the run store or a run folder. Another job on the
same device slows both this measurement and the run, so the figure is what the run would see now.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from core.jobs.execute import resolve_device
from core.tasks import build_task, load_config

MEASURED_STEPS = 3


@dataclass(frozen=True)
class DurationEstimate:
    """A recipe's expected duration and the measurements it comes from."""

    seconds: float          # the whole run: setup, training, validation after each epoch, the test split
    device: str             # where it was measured, e.g. "cpu" or "cuda:0"
    epochs: int
    steps_per_epoch: int
    step_s: float           # seconds per training step
    validation_s: float     # seconds per validation pass
    setup_s: float          # loading the data and building the networks

    @property
    def epoch_s(self) -> float:
        return self.steps_per_epoch * self.step_s + self.validation_s


def estimate_duration(config: dict[str, Any], workspace: str, steps: int = MEASURED_STEPS) -> DurationEstimate:
    """Measure `steps` training steps (after one warm-up step) and one validation pass of `config` on its device.

    Raises UserError for a config that cannot be trained, with the sentence starting it would give.
    """
    train_config = load_config(config)
    device = resolve_device(train_config.device)
    started = time.perf_counter()
    task = build_task(train_config, workspace)
    task.setup(device)
    setup_s = time.perf_counter() - started
    timed, seconds, start = 0, 0.0, 0.0
    for index, batch in enumerate(task.train_batches(0)):  # preparing a batch counts: the loop pays for it too
        task.train_step(batch)
        if index == 0:  # the first step is the warm-up; the clock starts after it
            _sync(device)
            start = time.perf_counter()
            continue
        timed += 1
        if timed >= steps:
            break
    _sync(device)
    if timed:
        seconds = time.perf_counter() - start
    else:  # an epoch of a single step: that step, warm-up included, is all there is to time
        seconds = time.perf_counter() - started - setup_s
        timed = 1
    start = time.perf_counter()
    task.evaluate("val")
    _sync(device)
    validation_s = time.perf_counter() - start
    step_s = seconds / timed
    steps_per_epoch = task.steps_per_epoch
    workers = train_config.workers
    if workers > 1:  # measured as one worker: the run's steps each take `workers` shards (core.train.distributed)
        steps_per_epoch = max(1, steps_per_epoch // workers)
        if device.type != "cuda":  # on a CPU the workers split the cores: each step takes about as long as all
            step_s *= workers      # of its shards one after another (a GPU each: about as long as one)
    epochs = train_config.epochs
    total = setup_s + epochs * (steps_per_epoch * step_s + validation_s) + validation_s
    return DurationEstimate(total, str(device), epochs, steps_per_epoch, step_s, validation_s, setup_s)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
