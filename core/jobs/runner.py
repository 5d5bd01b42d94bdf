"""The job queue: starts queued runs as worker processes, a configurable number at a time per device.

Thirty workshop participants pressing Start on one GPU are queued, not crashed: each device runs at most
MEDLAB_JOBS_PER_DEVICE jobs (default 1 per GPU, 1 on the CPU), a GPU job starts only when the GPU has the memory
it is expected to need (core.jobs.gpu_memory), and the rest wait in the fair order of core.jobs.fair_queue
(round-robin across workspaces, the teacher's priority first). A run waiting for a device is not overtaken on that
device by a run behind it, so no run starves; runs for other devices start meanwhile. The
runner lives in the app server (one per server, held by st.cache_resource), watches its worker processes, marks
a run interrupted (resumable from its last checkpoint) when its process dies without reporting, forces a stop
that was ignored, and every round applies the store's liveness rule (core.jobs.liveness), so a run left
"running" by a previous server or by a killed `python -m core train` is marked interrupted too. Workers are
separate processes (`python -m core.jobs.worker RUN_ID`), never the Streamlit script thread, so a crashing job
cannot take the server or other jobs down.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

from core.jobs.control import STOP_GRACE_S, force_stop
from core.jobs.fair_queue import launch_order
from core.jobs.gpu_memory import MemGetInfo, memory_need, recipe_key, torch_mem_get_info, waiting_sentence
from core.jobs.liveness import LIVE, worker_identity
from core.jobs.queue_estimate import queue_positions
from core.jobs.store import RunRecord, RunStore
from core.train.run_folder import WORKER_LOG

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# a launched worker's phases before its networks and batches are on the GPU: its memory is not taken yet
NOT_YET_ON_DEVICE = ("starting the worker", "preparing data", "loading the data and building the model")


def jobs_per_device() -> int:
    return max(1, int(os.environ.get("MEDLAB_JOBS_PER_DEVICE", "1")))


class JobRunner:
    def __init__(self, store: RunStore | None = None, slots: int | None = None, poll_s: float = 0.5,
                 gpus: int | None = None, mem_get_info: MemGetInfo | None = None) -> None:
        """`mem_get_info`: device -> (free, total) bytes (default torch.cuda.mem_get_info; tests pass a fake)."""
        self.store = store or RunStore()
        self.slots = slots or jobs_per_device()
        self.poll_s = poll_s
        self.gpus = torch.cuda.device_count() if gpus is None else gpus
        self.mem_get_info = mem_get_info or torch_mem_get_info
        self.processes: dict[str, subprocess.Popen] = {}
        self.needs: dict[str, int] = {}  # run id -> the GPU bytes it was expected to need when launched
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # --- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> JobRunner:
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="medlab-job-runner", daemon=True)
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop launching; running workers notice the server is gone and stop as interrupted."""
        self._stopping.set()
        if self._thread:
            self._thread.join(timeout=5)

    def recover(self) -> None:
        """Runs a previous server (or a killed CLI) left running or stopping, with no live worker, are interrupted."""
        self.store.reconcile_dead_runs()

    def _loop(self) -> None:
        while not self._stopping.is_set() and self.store.home.exists():
            try:
                self.tick()
            except Exception as error:  # keep the queue alive; a broken tick is reported, not fatal
                print(f"medlab job runner: {type(error).__name__}: {error}", file=sys.stderr)
            self._stopping.wait(self.poll_s)

    # --- one round ------------------------------------------------------------------------------------------
    def tick(self) -> None:
        with self._lock:
            self._reap()
            self.store.reconcile_dead_runs()  # runs of workers this runner did not start (CLI, other servers)
            self._force_overdue_stops()
            self._launch()

    def _reap(self) -> None:
        for run_id, process in list(self.processes.items()):
            code = process.poll()
            if code is None:
                continue
            del self.processes[run_id]
            self.needs.pop(run_id, None)
            # The worker ended without writing its own ending. Like every reader of the store, call the run
            # interrupted (its checkpoint is intact and resume continues from it), adding what only the parent
            # knows: the signal or exit code. A reader may have marked it already; then only the reason is added.
            record = self.store.get(run_id)  # the store's liveness rule has marked it interrupted by now
            generic = f"its worker process (pid {process.pid}) ended without reporting"
            if record.status == "interrupted" and (record.message or "").startswith(generic):
                detail = f"its worker process (pid {process.pid}) {_how_it_ended(code)}"
                self.store.transition(run_id, ("interrupted",), message=record.message.replace(generic, detail))
            elif record.status in LIVE and record.pid in (None, process.pid):  # e.g. no /proc to tell it ended
                self.store.transition(run_id, LIVE, status="interrupted", pid=None, finished=time.time(),
                                      message=f"its worker process (pid {process.pid}) {_how_it_ended(code)}; resume "
                                              f"continues from its last checkpoint ({record.epoch} of "
                                              f"{record.epochs} epochs completed)")

    def _force_overdue_stops(self) -> None:
        now = time.time()
        for record in self.store.list(statuses=("stopping",)):
            if record.id in self.processes and record.stop_requested and now - record.stop_requested > STOP_GRACE_S:
                force_stop(self.store, record)
                self.processes.pop(record.id).wait(timeout=10)
                self.needs.pop(record.id, None)

    def _launch(self) -> None:
        queued = self.store.list(statuses=("queued",))
        if not queued:
            return
        running = self.store.list(statuses=("running", "stopping"))
        launched = self.store.launched_since(min(r.created for r in queued))
        busy = self._busy()
        held: set[str] = set()  # devices a run earlier in the order waits for: nobody behind it takes them
        for record in launch_order(queued, running, launched):
            candidates = self._candidates(record)
            open_slots = [d for d in candidates if busy.get(d, 0) < self.slots and d not in held]
            device, waiting = self._fitting(record, open_slots, busy)
            self._note_waiting(record, waiting)
            if device is None:
                held.update(candidates)
                continue
            if self.store.transition(record.id, ("queued",), status="running", device_used=device, pid=None,
                                     host=None, heartbeat=time.time(), launched=time.time(), message=None,
                                     phase="starting the worker",
                                     phase_since=time.time(), eta_s=None, eta_low_s=None, eta_high_s=None):
                self.processes[record.id] = self._spawn(record, device)
                self.store.update(record.id, **worker_identity(self.processes[record.id].pid))
                busy[device] = busy.get(device, 0) + 1
                if device.startswith("cuda"):
                    self.needs[record.id] = self._need(record)

    def _busy(self) -> dict[str, int]:
        busy: dict[str, int] = {}
        for run_id in self.processes:
            device = self.store.get(run_id).device_used or "cpu"
            busy[device] = busy.get(device, 0) + 1
        return busy

    def _candidates(self, record: RunRecord) -> list[str]:
        """The devices this run may start on. 'auto' prefers GPUs and waits for one rather than falling back to
        the CPU when GPUs exist but are all busy."""
        gpus = [f"cuda:{i}" for i in range(self.gpus)]
        if record.device == "cpu" or (record.device == "auto" and not gpus):
            return ["cpu"]
        if record.device in ("auto", "cuda"):
            return gpus
        return [record.device]  # a named GPU (a missing one fails in the worker with a clear sentence)

    def _fitting(self, record: RunRecord, open_slots: list[str], busy: dict[str, int]) -> tuple[str | None, str | None]:
        """Of the devices with a free slot, the least busy one with the memory this run needs: (device, None); or
        (None, the waiting sentence) when only memory is missing; (None, None) when no slot is free."""
        if not open_slots:
            return None, None
        gpus = [d for d in open_slots if d.startswith("cuda")]
        if not gpus:
            return min(open_slots, key=lambda d: busy.get(d, 0)), None
        need = self._need(record)
        fitting, short = [], []
        for device in gpus:
            try:
                free, total = self.mem_get_info(device)
            except Exception:  # no such GPU or no driver: the worker says so in a sentence
                fitting.append(device)
                continue
            free -= self._pending(device)
            alone = busy.get(device, 0) == 0
            if free >= need or (alone and need > total):  # more than the whole GPU: it may only ever run alone
                fitting.append(device)
            else:
                short.append((free, device))
        if fitting:
            return min(fitting, key=lambda d: busy.get(d, 0)), None
        free, device = max(short)
        return None, waiting_sentence(need, free, device)

    def _need(self, record: RunRecord) -> int:
        """The GPU bytes this run is expected to need (core.jobs.gpu_memory.memory_need), from finished runs of
        its recipe in its workspace when they measured it."""
        try:
            config = self.store.config(record)
        except (OSError, ValueError):
            config = {"task": record.task, "model": record.model, "dataset": record.dataset}
        key = recipe_key(config)
        measured = []
        for done in self.store.list(record.workspace, statuses=("completed",)):
            peak = done.summary_dict.get("gpu_memory_peak_bytes")
            if peak and (done.task, done.model, done.dataset) == (record.task, record.model, record.dataset):
                try:
                    if recipe_key(self.store.config(done)) == key:
                        measured.append(int(peak))
                except OSError:
                    continue
        return memory_need(config, measured[:5])

    def _pending(self, device: str) -> int:
        """Memory that runs launched here on `device` will take but have not taken yet (still setting up)."""
        pending = 0
        for run_id in self.processes:
            record = self.store.get(run_id)
            if record.device_used == device and record.phase in NOT_YET_ON_DEVICE:
                pending += self.needs.get(run_id, 0)
        return pending

    def _note_waiting(self, record: RunRecord, sentence: str | None) -> None:
        """Show on a queued run why it waits for memory (its phase and message), and clear that once it does not."""
        if sentence is not None and record.phase != sentence:
            self.store.transition(record.id, ("queued",), phase=sentence, phase_since=time.time(), message=sentence)
        elif sentence is None and (record.phase or "").startswith("waiting for GPU memory"):
            self.store.transition(record.id, ("queued",), phase=None, phase_since=None, message=None)

    def _spawn(self, record: RunRecord, device: str) -> subprocess.Popen:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        if device == "cpu":  # CPU jobs share the cores instead of oversubscribing them
            env["MEDLAB_THREADS"] = str(max(1, (os.cpu_count() or 1) // self.slots))
        log = (self.store.run_dir(record) / WORKER_LOG).open("a")
        try:
            return subprocess.Popen([sys.executable, "-m", "core.jobs.worker", record.id], cwd=PROJECT_ROOT, env=env,
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()

    # --- what the UI asks ----------------------------------------------------------------------------------
    def queue_position(self, run_id: str) -> int | None:
        """A queued run's place (1 = next) among the queued runs for its device group, in the order they will
        start (core.jobs.fair_queue); None when it is not queued."""
        place = queue_positions(self.store, self.gpus, self.slots, estimate=False).get(run_id)
        return place.position if place else None


def _how_it_ended(code: int) -> str:
    """How a worker process ended, from its exit status (negative: killed by that signal)."""
    if code >= 0:
        return f"exited with code {code} without reporting"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    hint = " (by the user, an administrator or the out-of-memory killer)" if -code == signal.SIGKILL else ""
    return f"was killed by {name}{hint}"
