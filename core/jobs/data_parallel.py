"""The processes of a run with `workers: N` (core.train.distributed): the run's worker is rank 0, and starts ranks
1..N-1 on the same machine as its children (`python -m core.jobs.rank RUN_ID RANK WORLD PORT`).

Only rank 0 talks to the run store; followers read the run's config and checkpoint from its folder, train their
shard and stop when rank 0 does. A follower dies with rank 0 (a parent-death signal), so a killed worker leaves
nothing training; a follower that fails makes rank 0's next collective fail, and so the run.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from core.errors import UserError
from core.jobs.executor import PROJECT_ROOT
from core.train.config import TrainConfig
from core.train.distributed import free_port, join_group, leave_group
from core.train.ranks import SINGLE, Ranks

FOLLOWER_EXIT_S = 30  # how long rank 0 waits for its followers to leave before killing them

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a follower, before it runs: the kernel kills it when the process that started it ends (Linux)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def threads_per_rank(world: int) -> int:
    """The CPU threads each rank uses: the run's share of cores (MEDLAB_THREADS) split between its ranks."""
    threads = int(os.environ.get("MEDLAB_THREADS") or torch.get_num_threads())
    return max(1, threads // world)


def check_devices(config: TrainConfig, device: torch.device) -> None:
    """A data-parallel GPU run needs one GPU per worker. Raises UserError otherwise."""
    if device.type == "cuda" and config.workers > torch.cuda.device_count():
        raise UserError(f"Config field 'workers' asks for {config.workers} GPUs for one run, but this machine has "
                        f"{torch.cuda.device_count()}.")


@contextmanager
def leading(run_id: str, config: TrainConfig, device: torch.device, log_path: Path) -> Iterator[Ranks]:
    """In the run's worker: start the followers, join the process group as rank 0 and yield its Ranks; on leaving,
    leave the group and make sure no follower outlives the run. Training alone (workers 1) yields SINGLE and
    starts nothing."""
    if config.workers == 1:
        yield SINGLE
        return
    check_devices(config, device)
    world, port = config.workers, free_port()
    threads = threads_per_rank(world)
    torch.set_num_threads(threads)
    env = {**os.environ, "MEDLAB_THREADS": str(threads)}
    followers = []
    try:
        with log_path.open("a") as log:
            for rank in range(1, world):
                followers.append(subprocess.Popen(
                    [sys.executable, "-m", "core.jobs.rank", run_id, str(rank), str(world), str(port), str(device)],
                    cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    preexec_fn=die_with_parent))
        join_group(Ranks(0, world), port, device)
        yield Ranks(0, world)
    finally:
        leave_group()
        for follower in followers:
            try:
                follower.wait(timeout=FOLLOWER_EXIT_S)
            except subprocess.TimeoutExpired:
                follower.kill()
                follower.wait()
