"""A follower of a data-parallel run: `python -m core.jobs.rank RUN_ID RANK WORLD PORT DEVICE`, started by the run's
worker (rank 0, core.jobs.data_parallel) with DEVICE its own device.

It trains its shard of every step with the same task and loop as rank 0, resumed from the same checkpoint, and
writes nothing: rank 0 reports, checkpoints and decides when to stop (core.train.distributed.AgreeOnStop).
"""
from __future__ import annotations

import os
import sys
import traceback

import torch

from core.jobs.execute import resume, run_config
from core.jobs.store import RunStore
from core.tasks import build_task
from core.train.distributed import AgreeOnStop, join_group, leave_group, rank_device
from core.train.loop import LoopState, fit
from core.train.ranks import Ranks
from core.train.run_folder import CHECKPOINT_FILE


def follow(store: RunStore, run_id: str, ranks: Ranks, port: int, first_device: torch.device) -> None:
    record = store.get(run_id)
    folder = store.run_dir(record)
    config = run_config(store.config(record))
    device = rank_device(first_device, ranks.rank)
    join_group(ranks, port, device)
    try:
        task = build_task(config, record.workspace)
        task.ranks = ranks
        task.setup(device)
        state = resume(task, config, folder, device) if (folder / CHECKPOINT_FILE).exists() else LoopState()
        fit(task, state, [AgreeOnStop(device)])
    finally:
        leave_group()


def main() -> int:
    run_id, rank, world, port, device = sys.argv[1:6]
    torch.set_num_threads(int(os.environ.get("MEDLAB_THREADS") or torch.get_num_threads()))
    try:
        follow(RunStore(), run_id, Ranks(int(rank), int(world)), int(port), torch.device(device))
    except Exception:  # rank 0 fails the run (its next collective breaks); the reason goes to worker.log
        print(f"rank {rank} of run {run_id}:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
