"""Thirty workshop participants at once on one MedLab server: interaction latency while jobs run, every run
completed and none lost, the order runs started (round-robin fairness), and server memory per idle session.

It starts `streamlit run streamlit_app.py` in workshop mode (a secrets.toml with a join code, no queue limits,
MEDLAB_JOBS_PER_DEVICE=1, a temporary MEDLAB_HOME) and drives N participants with lightweight clients that speak
Streamlit's websocket protocol (tests/load_clients.py; thirty browsers on two cores would measure chromium).
Each participant joins (even-numbered ones through the join form's widgets, odd ones with the session cookie
from SessionStore.join, the function the form calls), opens Dataset and Train, picks a one-epoch small_cnn
recipe on the 28 px phantom with the Train form's widgets, presses Start (--runs-per-participant times) and
watches until its runs end (the first --greedy joiners press Start --greedy-runs times: the participant who
queues several runs, whose later runs must wait for everyone's first); the page's fragments rerun on their timers as in a browser tab, and every few
seconds the participant opens Dataset or Train again. Joins are spread over --ramp-s seconds.

Figures: p50/p95 of a page interaction (a full script run: BackMsg sent to script_finished) over the whole
load and while jobs ran, of a fragment rerun; runs completed / lost; the start order (participant#n) and any
breach of round-robin (tests/load_clients.round_robin_violations, from the store's launch times); queue waits.
Then idle sessions: --idle participants open Dataset and Train and leave the tab open (fragments keep polling);
the server process's VmRSS (/proc/<pid>/status) before and after, its CPU use while they idle, and after they
disconnect and Streamlit's disconnected-session TTL (--ttl, passed as server.disconnectedSessionTTL) passes,
for --idle-cycles rounds (memory that keeps rising round after round is held by sessions that ended).
Targets on a 2-core machine with CPU jobs: p95 interaction <= 2 s while jobs run, every run completes,
round-robin holds. Nothing is asserted (tests/e2e/test_workshop_load.py is the scaled-down test).

    nice -n 10 python bench/workshop_load.py [--participants 30] [--runs-per-participant 2] [--port 8765]
        [--idle 30] [--idle-cycles 2] [--ttl 30] [--json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, temporary_home

from core.jobs.store import RunStore
from tests.fixtures import wait_until_serving
from tests.load_clients import (Participant, StreamlitClient, join_token, launch_time, order_text,
                                participant_session, percentile, round_robin_violations, workshop_secrets)

TARGET_P95_S = 2.0
SESSION_COOKIE = "medlab_session"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, port: int, secrets_toml: str, ttl_s: int) -> subprocess.Popen:
    """The server as tests/e2e/conftest._serve starts it (workshop secrets passed with --secrets.files)."""
    secrets = home / "secrets.toml"
    secrets.write_text(secrets_toml)
    env = {**os.environ, "MEDLAB_HOME": str(home), "PYTHONUNBUFFERED": "1", "MEDLAB_JOBS_PER_DEVICE": "1",
           "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(ttl_s)}
    log = (home / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--secrets.files", str(secrets)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_until_serving(f"http://127.0.0.1:{port}", process, home / "server.log")
    return process


def rss_mib(pid: int) -> float:
    """The process's resident memory (VmRSS in /proc/<pid>/status), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def warm(url: str) -> None:
    """A first visitor: the server imports torch, generates the built-in datasets and starts the job runner."""
    client = StreamlitClient(url)
    await client.connect()
    try:
        await client.open("")
    finally:
        await client.close()


async def load_phase(url: str, home: Path, secrets: str, args, store: RunStore) -> list[Participant]:
    participants = [Participant(f"Participant {i + 1:02d}", via_form=i % 2 == 0) for i in range(args.participants)]

    deadline = time.monotonic() + 60 * args.max_minutes

    async def one(index: int, participant: Participant, delay: float) -> Participant:
        await asyncio.sleep(delay)
        runs = args.greedy_runs if index < args.greedy else args.runs_per_participant
        return await participant_session(url, home, secrets, participant, runs, store,
                                         browse_every_s=args.browse_every_s,
                                         timeout_s=max(1.0, deadline - time.monotonic()))

    rng = random.Random(0)
    delays = sorted(rng.uniform(0, args.ramp_s) for _ in participants)
    results = await asyncio.gather(*(one(i, p, d) for i, (p, d) in enumerate(zip(participants, delays))),
                                   return_exceptions=True)
    for participant, result in zip(participants, results):
        if isinstance(result, BaseException):
            print(f"{participant.name}: {type(result).__name__}: {result}")
    return participants


async def idle_cycle(url: str, home: Path, secrets: str, pid: int, n: int, idle_s: float, ttl_s: int,
                     cycle: int) -> dict[str, float]:
    """n participants open Dataset and Train and idle (fragments polling) for idle_s, then disconnect; the
    server's RSS before, while connected, right after they left, and after the disconnected-session TTL."""
    before = rss_mib(pid)
    clients = []
    for i in range(n):
        token, _ = join_token(home, f"Idle {cycle}-{i + 1:02d}", secrets)
        client = StreamlitClient(url, {SESSION_COOKIE: token})
        await client.connect()
        await client.open("dataset")
        await client.open("train")
        clients.append(client)
    cpu_start, wall_start, own_start = cpu_s(pid), time.monotonic(), time.process_time()
    until = time.monotonic() + idle_s

    async def idle(client: StreamlitClient) -> None:
        while time.monotonic() < until:
            await client.tick()
            await asyncio.sleep(0.25)

    await asyncio.gather(*(idle(c) for c in clients))
    wall = time.monotonic() - wall_start
    cpu_share, client_share = (cpu_s(pid) - cpu_start) / wall, (time.process_time() - own_start) / wall
    connected = rss_mib(pid)
    fragment_runs = [i.seconds for c in clients for i in c.interactions if i.what == "fragment"]
    for client in clients:
        await client.close()
    await asyncio.sleep(3)
    left = rss_mib(pid)
    await asyncio.sleep(ttl_s + 5)
    reaper = StreamlitClient(url)  # Streamlit drops expired sessions when its session storage is next written
    await reaper.connect()
    await reaper.open("")
    await reaper.close()
    await asyncio.sleep(3)
    return {"rss_before_mib": before, "rss_connected_mib": connected, "rss_after_disconnect_mib": left,
            "rss_after_ttl_mib": rss_mib(pid), "per_session_mib": (connected - before) / n,
            "server_cpu_share_idle": cpu_share, "clients_cpu_share_idle": client_share,
            "fragment_p50_s": percentile(fragment_runs, 50), "fragment_p95_s": percentile(fragment_runs, 95)}


def figures(participants: list[Participant], store: RunStore, clicks: int) -> dict:
    mine = {p.workspace for p in participants if p.workspace}
    records = [r for r in store.list() if r.workspace in mine]
    launched = [launch_time(r) for r in records if launch_time(r) is not None]
    window = (min(launched), max(r.finished or time.time() for r in records)) if launched else (0.0, 0.0)
    interactions = [i for p in participants if p.client for i in p.client.interactions]
    full = [i for i in interactions if i.what != "fragment"]
    during = [i.seconds for i in full if window[0] <= i.start <= window[1]]
    fragments = [i.seconds for i in interactions if i.what == "fragment"]
    waits = [launch_time(r) - r.created for r in records if launch_time(r) is not None]
    by_kind = {}
    for kind in sorted({i.what for i in full}):
        times = [i.seconds for i in full if i.what == kind]
        by_kind[kind] = {"n": len(times), "p50_s": percentile(times, 50), "p95_s": percentile(times, 95)}
    return {
        "participants": len(participants), "joined": len(mine),
        "interactions": len(full), "interaction_p50_s": percentile([i.seconds for i in full], 50),
        "interaction_p95_s": percentile([i.seconds for i in full], 95),
        "interaction_max_s": max((i.seconds for i in full), default=float("nan")),
        "during_jobs": len(during), "during_jobs_p50_s": percentile(during, 50),
        "during_jobs_p95_s": percentile(during, 95),
        "fragment_reruns": len(fragments), "fragment_p50_s": percentile(fragments, 50),
        "fragment_p95_s": percentile(fragments, 95), "by_kind": by_kind,
        "errors_drawn": sum(len(p.client.exceptions) for p in participants if p.client),
        "starts_clicked": clicks, "runs_recorded": len(records),
        "runs_completed": sum(r.status == "completed" for r in records),
        "runs_not_completed": {r.id: f"{r.status}: {r.message}" for r in records if r.status != "completed"},
        "runs_lost": clicks - len(records),
        "queue_wait_p50_s": percentile(waits, 50), "queue_wait_max_s": max(waits, default=float("nan")),
        "run_seconds_p50": statistics.median([r.finished - r.started for r in records if r.finished and r.started]
                                             or [float("nan")]),
        "jobs_window_s": window[1] - window[0],
        "start_order": order_text(records), "round_robin_violations": round_robin_violations(records),
    }


def report(result: dict) -> None:
    load = result["load"]
    print(f"\n{load['participants']} participants ({load['joined']} joined), "
          f"{result['runs_per_participant']} run(s) each ({result['greedy']} of them {result['greedy_runs']}), "
          f"one CPU job slot; {result['cores']} cores, "
          f"load average {result['load_average']:.1f} at the end; {result['load_s']:.0f} s for the load phase")
    print(f"page interactions (full script runs): {load['interactions']}, p50 {load['interaction_p50_s']:.2f} s, "
          f"p95 {load['interaction_p95_s']:.2f} s, max {load['interaction_max_s']:.2f} s")
    verdict = "within" if load["during_jobs_p95_s"] <= TARGET_P95_S else "OVER"
    print(f"  while jobs ran ({load['jobs_window_s']:.0f} s): {load['during_jobs']}, p50 "
          f"{load['during_jobs_p50_s']:.2f} s, p95 {load['during_jobs_p95_s']:.2f} s ({verdict} target "
          f"<= {TARGET_P95_S:.1f} s)")
    for kind, stats in load["by_kind"].items():
        print(f"  {kind:14} n={stats['n']:4}  p50 {stats['p50_s']:.2f} s  p95 {stats['p95_s']:.2f} s")
    print(f"fragment reruns (live run view, runs table, sidebar): {load['fragment_reruns']}, p50 "
          f"{load['fragment_p50_s']:.2f} s, p95 {load['fragment_p95_s']:.2f} s; errors drawn: {load['errors_drawn']}")
    print(f"runs: {load['starts_clicked']} Start clicks, {load['runs_recorded']} recorded, "
          f"{load['runs_completed']} completed, {load['runs_lost']} lost; queue wait p50 "
          f"{load['queue_wait_p50_s']:.0f} s, max {load['queue_wait_max_s']:.0f} s; a run takes "
          f"{load['run_seconds_p50']:.1f} s (median)")
    for run_id, why in load["runs_not_completed"].items():
        print(f"  not completed: {run_id} {why}")
    print(f"start order: {load['start_order']}")
    violations = load["round_robin_violations"]
    print("round-robin: holds" if not violations else f"round-robin: {len(violations)} breaches, e.g. {violations[0]}")
    for n, cycle in enumerate(result["idle"], 1):
        print(f"idle round {n}: server RSS {cycle['rss_before_mib']:.0f} MiB -> {cycle['rss_connected_mib']:.0f} "
              f"with {result['idle_sessions']} idle sessions ({cycle['per_session_mib']:.2f} MiB each; server CPU "
              f"{100 * cycle['server_cpu_share_idle']:.0f}% of a core while they idled, the clients "
              f"{100 * cycle['clients_cpu_share_idle']:.0f}%; fragment reruns p50 {cycle['fragment_p50_s']:.2f} s, "
              f"p95 {cycle['fragment_p95_s']:.2f} s) -> "
              f"{cycle['rss_after_disconnect_mib']:.0f} after they left -> {cycle['rss_after_ttl_mib']:.0f} after "
              f"the {result['ttl_s']} s disconnected-session TTL")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=30)
    parser.add_argument("--runs-per-participant", type=int, default=1)
    parser.add_argument("--greedy", type=int, default=2, help="the first joiners who queue --greedy-runs each")
    parser.add_argument("--greedy-runs", type=int, default=3)
    parser.add_argument("--max-minutes", type=float, default=40.0, help="participants stop watching then")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--ramp-s", type=float, default=20.0, help="joins are spread over this many seconds")
    parser.add_argument("--browse-every-s", type=float, default=8.0)
    parser.add_argument("--idle", type=int, default=None, help="idle sessions (default: --participants)")
    parser.add_argument("--idle-s", type=float, default=30.0)
    parser.add_argument("--idle-cycles", type=int, default=2)
    parser.add_argument("--ttl", type=int, default=30, help="server.disconnectedSessionTTL (Streamlit's default 120)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    home = temporary_home()
    secrets = workshop_secrets()
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_server(home, port, secrets, args.ttl)
    try:
        asyncio.run(warm(url))
        store = RunStore(home)
        start = time.monotonic()
        participants = asyncio.run(load_phase(url, home, secrets, args, store))
        load_s = time.monotonic() - start
        clicks = sum(i.what == "start" for p in participants if p.client for i in p.client.interactions)
        result = {"load": figures(participants, store, clicks), "load_s": load_s, "cores": os.cpu_count(),
                  "load_average": os.getloadavg()[0], "runs_per_participant": args.runs_per_participant,
                  "greedy": args.greedy, "greedy_runs": args.greedy_runs,
                  "idle_sessions": args.idle or args.participants, "ttl_s": args.ttl, "idle": []}
        for cycle in range(args.idle_cycles):
            result["idle"].append(asyncio.run(idle_cycle(url, home, secrets, process.pid,
                                                         args.idle or args.participants, args.idle_s, args.ttl,
                                                         cycle)))
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    print(json.dumps(result, indent=1, default=str) if args.json else "", end="")
    report(result)


if __name__ == "__main__":
    main()
