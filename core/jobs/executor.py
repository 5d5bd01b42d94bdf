"""Where a queued run's worker runs: the executor the JobRunner hands a run to once the fair queue lets it start.

    MEDLAB_EXECUTOR=local   (default) a worker process on this machine: `python -m core.jobs.worker RUN_ID`
    MEDLAB_EXECUTOR=ray     a Ray task that runs the same worker on whichever node of a Ray cluster has the run's
                            resources free (RAY_ADDRESS names the cluster; without it a local Ray instance is
                            started); core.jobs.ray_executor

The runner decides *when* a run starts (round-robin across workspaces, MEDLAB_JOBS_PER_DEVICE per device, the GPU
memory check); the executor decides only *where* its worker runs and how it is watched. Either way the worker is
the same program, and it reports through the run store alone (status, metrics, checkpoints and weights in
MEDLAB_HOME; its pid, host and a heartbeat for core.jobs.liveness), so pages, stop, resume, continue, crash and
restart behave the same with both executors. A worker on another node therefore needs MEDLAB_HOME on a filesystem
every node mounts at the same path (README "More than one machine").
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from core.errors import UserError
from core.jobs.store import RunRecord

EXECUTORS = ("local", "ray")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class WorkerHandle(Protocol):
    """A started worker, as the runner watches it (subprocess.Popen is one)."""

    pid: int | None          # the worker process's pid when this machine knows it (a Ray task: None)

    def poll(self) -> int | None:
        """None while the worker runs; then its exit status (negative: killed by that signal)."""

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the worker to end (after a kill); its exit status."""

    def kill(self) -> None:
        """End the worker at once (its last checkpoint stays usable)."""


class Executor(Protocol):
    name: str

    def launch(self, record: RunRecord, device: str, env: dict[str, str], log_path: Path, workers: int = 1
               ) -> WorkerHandle:
        """Start the worker of `record` on `device` ("cpu", "cuda:0", ...) with environment `env`, its output
        appended to `log_path`. A run with `workers` > 1 trains on that many processes of one machine (the worker
        starts the others: core.jobs.data_parallel); on GPUs it needs that many."""

    def describe(self, handle: WorkerHandle) -> str:
        """The worker in a few words for a message: "its worker process (pid 4242)", "its Ray task"."""

    def devices(self) -> dict[str, int]:
        """What it can run on: {"cpu": CPU cores, "gpu": GPUs} (a Ray cluster: every node's)."""

    def summary(self) -> str | None:
        """A line for the sidebar about where runs go ("Ray cluster: 3 nodes, 48 CPUs, 4 GPUs"); None: here."""


def jobs_per_device() -> int:
    """MEDLAB_JOBS_PER_DEVICE: runs at once on each GPU (and on the CPU), default 1; with Ray each GPU run asks for
    that fraction of a GPU."""
    return max(1, int(os.environ.get("MEDLAB_JOBS_PER_DEVICE", "1")))


def executor_name() -> str:
    """MEDLAB_EXECUTOR, checked: "local" (default) or "ray".

    Raises:
        UserError: any other value, in one sentence naming the variable.
    """
    name = (os.environ.get("MEDLAB_EXECUTOR") or "local").strip().lower()
    if name not in EXECUTORS:
        raise UserError(f"MEDLAB_EXECUTOR must be 'local' or 'ray', not '{name}'.")
    return name
