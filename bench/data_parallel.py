"""One run on one worker against the same run on --workers data-parallel workers (core.train.distributed): test
accuracy per seed, steps per epoch, wall time, and images per second.

Each run is the recommended small_cnn recipe on --dataset with --batch-size images per worker (so the effective
batch is that times the workers, and the learning rate is scaled linearly), trained in this process through
core.jobs.execute (rank 0) with its other ranks started as processes, on --device (gloo on the CPU, NCCL on GPUs:
one GPU per worker). On a CPU the workers share the cores, so the point there is accuracy, not speed.

    python bench/data_parallel.py [--workers 2] [--seeds 0 1 2] [--dataset phantom-28] [--epochs 4]
        [--batch-size 32] [--device cpu] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from _common import temporary_home

from core.jobs.control import create_run
from core.jobs.execute import execute
from core.jobs.store import RunStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--dataset", default="phantom-28")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    temporary_home()
    store = RunStore()
    for seed in args.seeds:
        for workers in (1, args.workers):
            config = {"dataset": args.dataset, "epochs": args.epochs, "batch_size": args.batch_size,
                      "device": args.device, "seed": seed, "workers": workers}
            record = create_run(store, "default", config, status="running")
            start = time.perf_counter()
            final = execute(store, record.id)
            wall = time.perf_counter() - start
            if final.status != "completed":
                raise SystemExit(f"run {record.id} {final.status}: {final.message}")
            rows.append({"seed": seed, "workers": workers, "test_accuracy": final.summary_dict["test_accuracy"],
                         "steps_per_epoch": final.steps_per_epoch, "wall_s": round(wall, 2),
                         "images_per_s": final.images_per_s})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{args.dataset}, {args.epochs} epochs, batch {args.batch_size} per worker, {args.device}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"{'seed':>4} {'workers':>7} {'test acc':>8} {'steps/epoch':>11} {'wall s':>7} {'img/s':>7}")
    for row in rows:
        print(f"{row['seed']:>4} {row['workers']:>7} {row['test_accuracy']:>8.3f} {row['steps_per_epoch']:>11} "
              f"{row['wall_s']:>7.1f} {row['images_per_s'] or 0:>7.0f}")
    for workers in (1, args.workers):
        accuracies = [r["test_accuracy"] for r in rows if r["workers"] == workers]
        print(f"{workers} worker(s): mean test accuracy {statistics.mean(accuracies):.3f} over {len(accuracies)} seeds")


if __name__ == "__main__":
    main()
