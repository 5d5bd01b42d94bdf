"""Whether a run's worker is still alive: the one rule every reader of the run store applies.

A run that is running or stopping names its worker in the store: its pid, the host it runs on
(`socket.gethostname()`), the pid namespace and start time of that process (so a pid reused by another process,
or a pid seen from another container, is never taken for the worker), and a heartbeat the worker writes every
HEARTBEAT_EVERY_S seconds. The worker is gone, and the run interrupted, when

- it runs on this host (and pid namespace) and its pid is not alive, is a zombie, or now belongs to a process
  that started at another time; or
- it runs on another host, or has not written its pid yet, and nothing (heartbeat, start, creation) has been
  heard from it for MEDLAB_HEARTBEAT_TIMEOUT_S seconds (default DEFAULT_HEARTBEAT_TIMEOUT_S = 120 s). Clocks of
  hosts that share a run store must agree to well within that time.

A live local worker is never judged by its heartbeat: a process that is alive but busy (a long validation, a
stopped terminal) is still the run's worker. Process start times come from /proc/<pid>/stat (Linux); where there
is no /proc only the pid is checked.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

DEFAULT_HEARTBEAT_TIMEOUT_S = 120.0
HEARTBEAT_EVERY_S = float(os.environ.get("MEDLAB_HEARTBEAT_S", "5"))
LIVE = ("running", "stopping")  # statuses that claim a worker process (a queued run has none yet)
HOST = socket.gethostname()


def heartbeat_timeout_s() -> float:
    """Seconds without a heartbeat after which a worker on another host counts as gone (MEDLAB_HEARTBEAT_TIMEOUT_S)."""
    return float(os.environ.get("MEDLAB_HEARTBEAT_TIMEOUT_S") or DEFAULT_HEARTBEAT_TIMEOUT_S)


def pid_namespace() -> int | None:
    """The inode of this process's pid namespace (Linux), so two containers sharing a host name never judge each
    other's pids; None where it cannot be read."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


PID_NAMESPACE = pid_namespace()


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (state first), or None. The command name (field 2) may hold spaces and
    parentheses, so the split starts after its last ')' (proc(5))."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def process_start(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (field 22 of /proc/<pid>/stat), or None."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def pid_alive(pid: int, start: int | None = None) -> bool:
    """Whether process `pid` exists on this host, is not a zombie (ended, not yet reaped) and, when `start` is
    given, is the same process that started then (not a later one that got the same pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    fields = _stat_fields(pid)
    if fields is None:
        return True  # no /proc (not Linux): kill(0) is all we know
    if fields[0] in ("Z", "X"):
        return False
    return start is None or len(fields) <= 19 or int(fields[19]) == start


def worker_identity(pid: int | None = None) -> dict[str, Any]:
    """The store columns that name process `pid` (default: this one) on this host as a run's worker, with a
    fresh heartbeat."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "host": HOST, "pid_ns": PID_NAMESPACE, "pid_start": process_start(pid),
            "heartbeat": time.time()}


class WorkerFields(Protocol):
    status: str
    pid: int | None
    host: str | None
    pid_ns: int | None
    pid_start: int | None
    heartbeat: float | None
    started: float | None
    created: float


def is_local(record: WorkerFields) -> bool:
    """Whether the run's worker runs on this host and in this pid namespace, so its pid can be checked here."""
    if record.host is None:  # a row written before hosts were recorded: its worker was started here
        return True
    return record.host == HOST and (record.pid_ns is None or PID_NAMESPACE is None or record.pid_ns == PID_NAMESPACE)


def worker_gone(record: WorkerFields, now: float | None = None) -> str | None:
    """Why the worker of a running or stopping run is gone (a sentence fragment), or None while it is alive or
    the run claims no worker."""
    if record.status not in LIVE:
        return None
    if record.pid is not None and is_local(record):
        if pid_alive(record.pid, record.pid_start):
            return None
        return f"its worker process (pid {record.pid}) ended without reporting"
    last = record.heartbeat or record.started or record.created
    silent = (time.time() if now is None else now) - last
    if silent <= heartbeat_timeout_s():
        return None
    where = f"on {record.host} " if record.host and record.host != HOST else ""
    return (f"its worker {where}sent no heartbeat for {silent:.0f} s "
            f"(the limit, MEDLAB_HEARTBEAT_TIMEOUT_S, is {heartbeat_timeout_s():.0f} s)")


class Heartbeat:
    """A daemon thread that calls `beat()` every `every` seconds while a worker trains (a context manager); it
    dies with the process, so a silent heartbeat means a dead or frozen worker."""

    def __init__(self, beat: Callable[[], None], every: float = HEARTBEAT_EVERY_S) -> None:
        self.beat, self.every = beat, every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="medlab-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._done.wait(self.every):
            try:
                self.beat()
            except Exception:  # a busy database now and then must not end training; the next beat retries
                pass

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=self.every + 1)
