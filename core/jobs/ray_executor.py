"""MEDLAB_EXECUTOR=ray: each run's worker runs as a Ray task, on whichever node of the cluster has its resources.

Ray (https://docs.ray.io) is the common engine for Python training on a cluster: the same code runs on a laptop's
local instance and on a department's cluster, and it accounts for fractional GPUs. MedLab uses it only to place
and watch workers; the fair queue (core.jobs.fair_queue, in the JobRunner) still decides the order, and a task is
submitted only when a slot is free, so Ray never reorders the queue.

- Connecting: RAY_ADDRESS names a running cluster ("ray://head:10001" or "head:6379"; `ray start --head` on the
  head node, `ray start --address=HEAD:6379` on each worker node). Without it a local Ray instance is started with
  this machine's CPUs and an object store of MEDLAB_RAY_OBJECT_STORE_MB (default 100 MB: MedLab passes no data
  through it). A Ray already initialised in this process (tests) is used as it is.
- Resources: a CPU run asks for the CPUs its threads use (the cores / MEDLAB_JOBS_PER_DEVICE, as with local
  workers); a GPU run for 1/MEDLAB_JOBS_PER_DEVICE of a GPU (Ray's fractional GPUs) and 1 CPU. Ray sets CUDA_VISIBLE_DEVICES for the task, so the run trains on "cuda:0" of what it was given, and the
  run store says which host it runs on.
- The task starts the same worker program as the local executor (`python -m core.jobs.worker RUN_ID`) as a child
  process, with MedLab's own environment variables (MEDLAB_*) passed on, and returns its exit status. The worker
  reports through the run store only, which must therefore be on a filesystem every node mounts at the same path
  (MEDLAB_HOME), with the MedLab checkout and its environment at the same path on every node too.
- Stop, resume and continue go through the store exactly as with local workers. A cancelled task, a killed Ray
  worker or a lost node ends the task with a Ray error: the runner marks the run interrupted (resumable from its
  last checkpoint), as it does for a local worker that dies; a worker whose task process went away notices that
  its parent changed and stops as interrupted. When the app server ends, Ray ends the tasks it submitted.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.jobs.executor import PROJECT_ROOT, jobs_per_device
from core.jobs.store import RunRecord

OBJECT_STORE_MB = int(os.environ.get("MEDLAB_RAY_OBJECT_STORE_MB", "100"))
_CONNECTING = threading.Lock()
SUMMARY_TTL_S = 30.0


def connect() -> None:
    """Join RAY_ADDRESS's cluster, or start a small local Ray instance; nothing when Ray is already initialised.

    ray.init runs on a thread that lives as long as the process: Ray's own processes (GCS, raylet) are started with
    a parent-death signal tied to the *thread* that started them (Linux PR_SET_PDEATHSIG), and in the app the
    caller is a Streamlit script thread, which ends with its script run and took the local Ray instance with it.

    Raises:
        UserError: the cluster at RAY_ADDRESS cannot be reached, in one sentence.
    """
    import ray

    if ray.is_initialized():
        return
    outcome: list[BaseException | None] = []
    started = threading.Event()

    def keeper() -> None:
        try:
            _init()
            outcome.append(None)
        except BaseException as error:  # handed to the caller
            outcome.append(error)
            started.set()
            return
        started.set()
        threading.Event().wait()  # never returns: this thread is the parent of Ray's processes

    with _CONNECTING:
        if ray.is_initialized():
            return
        threading.Thread(target=keeper, name="medlab-ray", daemon=True).start()
        started.wait()
    if outcome[0] is not None:
        raise outcome[0]


def _init() -> None:
    import ray

    if ray.is_initialized():
        return
    job_config = ray.job_config.JobConfig(code_search_path=[str(PROJECT_ROOT)])  # workers import core from here
    if address := os.environ.get("RAY_ADDRESS"):
        _reachable(address)  # Ray itself retries an unreachable address for minutes
        try:
            ray.init(job_config=job_config, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise UserError(f"MedLab could not reach the Ray cluster at RAY_ADDRESS={address} "
                            f"({str(error).splitlines()[0] if str(error) else type(error).__name__}).") from None
    else:
        ray.init(num_cpus=os.cpu_count() or 1, object_store_memory=OBJECT_STORE_MB * 1024**2,
                 include_dashboard=False, log_to_driver=False, job_config=job_config)


def _reachable(address: str, timeout_s: float = 5.0) -> None:
    """Raise UserError unless RAY_ADDRESS's host:port ("ray://head:10001", "head:6379"; "auto" is left to Ray)
    accepts a TCP connection within `timeout_s`."""
    if address == "auto" or address.startswith("local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    try:
        socket.create_connection((host or hostport, int(port or 6379)), timeout=timeout_s).close()
    except (OSError, ValueError) as error:
        raise UserError(f"MedLab could not reach the Ray cluster at RAY_ADDRESS={address} ({error}); start it with "
                        "`ray start --head` or correct the address.") from None


def run_worker(run_id: str, medlab_env: dict[str, str], log_path: str) -> int:
    """The body of a run's Ray task, on whichever node Ray chose: the worker as a child process; its exit status.

    `medlab_env`: the app server's MEDLAB_* variables (and PYTHONPATH), laid over the node's own environment, which
    holds the CUDA_VISIBLE_DEVICES Ray chose."""
    env = {**os.environ, **medlab_env}
    if medlab_env.get("MEDLAB_RAY_GPU"):  # Ray made the GPU it gave this task the only one the worker sees
        from core.jobs.store import RunStore
        RunStore(Path(medlab_env["MEDLAB_HOME"])).update(run_id, device_used="cuda:0")
    cwd = PROJECT_ROOT if PROJECT_ROOT.exists() else None
    with open(log_path, "a") as log:
        worker = subprocess.Popen([sys.executable, "-m", "core.jobs.worker", run_id], cwd=cwd, env=env,
                                  stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return worker.wait()


class RayTask:
    """A submitted run's task, watched like a process (core.jobs.executor.WorkerHandle)."""

    pid = None  # the worker records its own pid and host in the store once it starts

    def __init__(self, ref: Any) -> None:
        self.ref = ref
        self.error: str | None = None  # what Ray said when the task ended without a status (cancelled, node lost)
        self._code: int | None = None

    def poll(self) -> int | None:
        import ray

        if self._code is not None:
            return self._code
        ready, _ = ray.wait([self.ref], timeout=0)
        if not ready:
            return None
        try:
            self._code = int(ray.get(self.ref))
        except ray.exceptions.RayError as error:  # cancelled, its Ray worker killed, its node lost
            self.error = type(error).__name__
            self._code = -signal.SIGKILL
        return self._code

    def wait(self, timeout: float | None = None) -> int | None:
        import ray

        ray.wait([self.ref], timeout=timeout)
        return self.poll()

    def kill(self) -> None:
        import ray

        ray.cancel(self.ref, force=True)


class RayExecutor:
    name = "ray"

    def __init__(self) -> None:
        connect()
        self._summary: tuple[float, str] | None = None  # (when, the line)

    def launch(self, record: RunRecord, device: str, env: dict[str, str], log_path: Path, workers: int = 1
               ) -> RayTask:
        import ray

        medlab_env = {k: v for k, v in env.items() if k.startswith("MEDLAB_") or k == "PYTHONPATH"}
        # a CPU run reserves the threads it will use (so Ray runs as many at once as the runner's slots allow); its
        # data-parallel ranks share them. A GPU run takes its share of one GPU, or whole GPUs, one per rank.
        resources: dict[str, float] = {"num_cpus": int(env.get("MEDLAB_THREADS") or 1) if device == "cpu" else workers}
        if device.startswith("cuda"):
            resources["num_gpus"] = float(workers) if workers > 1 else 1.0 / jobs_per_device()
            medlab_env["MEDLAB_RAY_GPU"] = "1"
        task = ray.remote(run_worker).options(name=f"medlab {record.id}", max_retries=0, **resources)
        return RayTask(task.remote(record.id, medlab_env, str(log_path)))

    def describe(self, handle: RayTask) -> str:
        return "its Ray task" + (f" ({handle.error})" if handle.error else "")

    def devices(self) -> dict[str, int]:
        import ray

        resources = ray.cluster_resources()
        return {"cpu": int(resources.get("CPU", 0)), "gpu": int(resources.get("GPU", 0))}

    def summary(self) -> str | None:
        """Asked on every sidebar draw, so the cluster is asked at most every SUMMARY_TTL_S seconds."""
        import ray

        if self._summary is None or time.monotonic() - self._summary[0] > SUMMARY_TTL_S:
            nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
            devices = self.devices()
            where = os.environ.get("RAY_ADDRESS") or "a local Ray instance"
            self._summary = (time.monotonic(), f"Runs go to {where}: {nodes} node{'s' if nodes != 1 else ''}, "
                                               f"{devices['cpu']} CPUs, {devices['gpu']} GPU"
                                               f"{'s' if devices['gpu'] != 1 else ''}")
        return self._summary[1]
