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
cannot take the server or other jobs down; the executor (core.jobs.executor, MEDLAB_EXECUTOR) starts them on this
machine or as Ray tasks on a cluster.
"""
from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time

from core.jobs.control import STOP_GRACE_S, force_stop
from core.jobs.executor import PROJECT_ROOT, Executor, WorkerHandle, executor_name, jobs_per_device
from core.jobs.fair_queue import launch_order
from core.jobs.gpu_memory import MemGetInfo, memory_need, recipe_key, torch_mem_get_info, waiting_sentence
from core.jobs.liveness import LIVE, worker_identity
from core.jobs.queue_estimate import queue_positions
from core.jobs.store import RunRecord, RunStore
from core.train.run_folder import WORKER_LOG

GENERIC_ENDING = re.compile(r"its worker process \(pid \d+\) ended without reporting")
# a launched worker's phases before its networks and batches are on the GPU: its memory is not taken yet
NOT_YET_ON_DEVICE = ("starting the worker", "preparing data", "loading the data and building the model")


def make_executor(name: str | None = None) -> Executor:
    """The executor MEDLAB_EXECUTOR (or `name`: "local" or "ray") chooses (core.jobs.executor). Ray is imported only
    when chosen."""
    name = name or executor_name()
    if name == "ray":
        from core.jobs.ray_executor import RayExecutor
        return RayExecutor()
    from core.jobs.local_executor import LocalExecutor
    return LocalExecutor()


class JobRunner:
    def __init__(self, store: RunStore | None = None, slots: int | None = None, poll_s: float = 0.5,
                 gpus: int | None = None, mem_get_info: MemGetInfo | None = None,
                 executor: Executor | None = None) -> None:
        """`mem_get_info`: device -> (free, total) bytes (default torch.cuda.mem_get_info; tests pass a fake).
        `executor`: where workers run (default: MEDLAB_EXECUTOR's, core.jobs.executor); `gpus`: how many GPUs it
        has (default: the executor's count, a Ray cluster's GPUs)."""
        self.store = store or RunStore()
        self.slots = slots or jobs_per_device()
        self.poll_s = poll_s
        self.executor = executor or make_executor()
        self.gpus = self.executor.devices()["gpu"] if gpus is None else gpus
        self.mem_get_info = mem_get_info or torch_mem_get_info
        self.processes: dict[str, WorkerHandle] = {}
        self.assigned: dict[str, str] = {}  # run id -> the device slot this runner launched it on
        self.needs: dict[str, int] = {}  # run id -> the GPU bytes it was expected to need when launched
        self.workers: dict[str, int] = {}  # run id -> its data-parallel workers (config "workers"), read once
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
            self._forget(run_id)
            # The worker ended without writing its own ending. Like every reader of the store, call the run
            # interrupted (its checkpoint is intact and resume continues from it), adding what only the parent
            # knows: the signal or exit code. A reader may have marked it already; then only the reason is added.
            record = self.store.get(run_id)  # the store's liveness rule has marked it interrupted by now
            worker = self.executor.describe(process)  # "its worker process (pid 4242)", "its Ray task"
            generic = GENERIC_ENDING.match(record.message or "")  # the liveness rule's words (core.jobs.liveness)
            if record.status == "interrupted" and generic:
                detail = generic.group(0).replace("ended without reporting", _how_it_ended(code))
                self.store.transition(run_id, ("interrupted",), message=record.message.replace(generic.group(0),
                                                                                               detail))
            elif record.status in LIVE and (process.pid is None or record.pid in (None, process.pid)):
                # no /proc to tell it ended, or a Ray task that ended (cancelled, its node lost) before its worker
                # could say so
                self.store.transition(run_id, LIVE, status="interrupted", pid=None, finished=time.time(),
                                      message=f"{worker} {_how_it_ended(code)}; resume continues from its last "
                                              f"checkpoint ({record.epoch} of {record.epochs} epochs completed)")

    def _force_overdue_stops(self) -> None:
        now = time.time()
        for record in self.store.list(statuses=("stopping",)):
            if record.id in self.processes and record.stop_requested and now - record.stop_requested > STOP_GRACE_S:
                force_stop(self.store, record)
                handle = self.processes[record.id]
                if handle.pid is None:  # a Ray task: force_stop kills only workers on this host
                    handle.kill()
                handle.wait(timeout=10)
                self._forget(record.id)

    def _forget(self, run_id: str) -> None:
        self.processes.pop(run_id, None)
        self.assigned.pop(run_id, None)
        self.needs.pop(run_id, None)
        self.workers.pop(run_id, None)

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
            if self._workers(record) > 1:  # a GPU each: the run starts where all its GPUs are idle
                open_slots = [d for d in open_slots if all(busy.get(g, 0) == 0 for g in self._spanned(record.id, d))]
            device, waiting = self._fitting(record, open_slots, busy)
            self._note_waiting(record, waiting)
            if device is None:
                held.update(candidates)
                continue
            if self.store.transition(record.id, ("queued",), status="running", device_used=device, pid=None,
                                     host=None, heartbeat=time.time(), launched=time.time(), message=None,
                                     phase="starting the worker",
                                     phase_since=time.time(), eta_s=None, eta_low_s=None, eta_high_s=None):
                handle = self._spawn(record, device)
                self.processes[record.id], self.assigned[record.id] = handle, device
                if handle.pid is not None:  # a local process: named at once (a Ray task's worker names itself)
                    self.store.update(record.id, **worker_identity(handle.pid))
                for spanned, taken in self._taken(record.id, device).items():
                    busy[spanned] = busy.get(spanned, 0) + taken
                if device.startswith("cuda"):
                    self.needs[record.id] = self._need(record)

    def _busy(self) -> dict[str, int]:
        busy: dict[str, int] = {}
        for run_id, device in self.assigned.items():
            for spanned, taken in self._taken(run_id, device).items():
                busy[spanned] = busy.get(spanned, 0) + taken
        return busy

    def _workers(self, record: RunRecord) -> int:
        if record.id not in self.workers:
            self.workers[record.id] = int(self.store.config(record).get("workers", 1))
        return self.workers[record.id]

    def _spanned(self, run_id: str, device: str) -> list[str]:
        """The devices a run started on `device` trains on: its GPU and the next ones for its other workers
        (core.train.distributed.rank_device), or the one device."""
        workers = self.workers.get(run_id, 1)
        if not device.startswith("cuda") or workers == 1 or not self.gpus:
            return [device]
        first = int(device.split(":")[1])
        return [f"cuda:{(first + rank) % self.gpus}" for rank in range(workers)]

    def _taken(self, run_id: str, device: str) -> dict[str, int]:
        """Slots a run started on `device` holds: one, or every slot of each GPU of a multi-GPU run."""
        spanned = self._spanned(run_id, device)
        return {d: self.slots if len(spanned) > 1 else 1 for d in spanned}

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
        for run_id, assigned in self.assigned.items():
            record = self.store.get(run_id)
            if assigned == device and record.phase in NOT_YET_ON_DEVICE:
                pending += self.needs.get(run_id, 0)
        return pending

    def _note_waiting(self, record: RunRecord, sentence: str | None) -> None:
        """Show on a queued run why it waits for memory (its phase and message), and clear that once it does not."""
        if sentence is not None and record.phase != sentence:
            self.store.transition(record.id, ("queued",), phase=sentence, phase_since=time.time(), message=sentence)
        elif sentence is None and (record.phase or "").startswith("waiting for GPU memory"):
            self.store.transition(record.id, ("queued",), phase=None, phase_since=None, message=None)

    def _spawn(self, record: RunRecord, device: str) -> WorkerHandle:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        env["MEDLAB_HOME"] = str(self.store.home)  # a worker on another node finds the same store
        if device == "cpu":  # CPU jobs share the cores instead of oversubscribing them
            env["MEDLAB_THREADS"] = str(max(1, (os.cpu_count() or 1) // self.slots))
        return self.executor.launch(record, device, env, self.store.run_dir(record) / WORKER_LOG,
                                    self._workers(record))

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
