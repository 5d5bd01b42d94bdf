"""The same small runs through each job executor (MEDLAB_EXECUTOR=local and =ray): start latency, wall time, and
the executors' overhead against the local one.

For each executor a JobRunner (the app server's queue, core.jobs.runner) gets --runs runs of the recommended
small_cnn on the built-in phantom (--dataset, --epochs) submitted at once, --slots at a time on the CPU. Figures
per run: submit to launch (the fair queue's decision), submit to first training step (the store's step counter,
polled every 20 ms: worker start-up, imports, data, model), and the run's own training time; per executor: wall time
from the first submit to the last run finished, and its ratio to the local executor's. Ray is a local instance
(`ray.init` with this machine's CPUs) started before the clock runs; its start-up is reported on its own.
With --device cuda (a GPU machine): one run of --gpu-epochs on the GPU through each executor, images per second.

    python bench/executors.py [--runs 4] [--slots 2] [--epochs 1] [--dataset phantom-28] [--device cuda]
        [--gpu-dataset phantom-64] [--gpu-epochs 3] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from _common import temporary_home

from core.jobs.control import create_run
from core.jobs.runner import JobRunner, make_executor
from core.jobs.store import RunStore

DONE = ("completed", "failed", "stopped", "interrupted")


def through(executor_name: str, store: RunStore, device: str, runs: int, epochs: int,
            dataset: str, slots: int) -> dict:
    executor = make_executor(executor_name)
    runner = JobRunner(store, slots=slots, poll_s=0.1, gpus=None if device != "cpu" else 0,
                       executor=executor).start()
    try:
        submitted = time.time()
        records = [create_run(store, f"{executor_name}-{i}", {"dataset": dataset, "model": "small_cnn",
                                                              "epochs": epochs, "device": device,
                                                              "name": f"{executor_name} {i}"})
                   for i in range(runs)]
        first_step: dict[str, float] = {}
        while True:
            now = time.time()
            current = [store.get(r.id) for r in records]
            for record in current:
                if record.id not in first_step and (record.step >= 1 or record.epoch >= 1):
                    first_step[record.id] = now
            if all(r.status in DONE for r in current):
                break
            time.sleep(0.02)
    finally:
        runner.shutdown()
    final = [store.get(r.id) for r in records]
    failed = {r.id: f"{r.status}: {r.message}" for r in final if r.status != "completed"}
    return {
        "executor": executor_name, "device": device, "runs": runs, "completed": runs - len(failed), "failed": failed,
        "launch_s": [r.launched - r.created for r in final if r.launched],
        "first_step_s": [first_step[r.id] - r.created for r in final if r.id in first_step],
        "training_s": [r.duration_s for r in final if r.duration_s],
        "images_per_s": [r.images_per_s for r in final if r.images_per_s],
        "wall_s": max(r.finished or submitted for r in final) - submitted,
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--slots", type=int, default=2, help="runs at once (MEDLAB_JOBS_PER_DEVICE)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--dataset", default="phantom-28")
    parser.add_argument("--device", default="cpu", help="cuda: also time one run on the GPU through each executor")
    parser.add_argument("--gpu-dataset", default="phantom-64")
    parser.add_argument("--gpu-epochs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    temporary_home()
    os.environ["MEDLAB_JOBS_PER_DEVICE"] = str(args.slots)
    store = RunStore()

    from core.data.catalog import open_dataset
    open_dataset("default", args.dataset)  # built-in datasets generated before any clock runs
    started = time.perf_counter()
    from core.jobs import ray_executor
    ray_executor.connect()
    ray_start_s = time.perf_counter() - started

    results = [through(name, store, "cpu", args.runs, args.epochs, args.dataset, args.slots)
               for name in ("local", "ray")]
    if args.device.startswith("cuda"):
        results += [through(name, store, "cuda", 1, args.gpu_epochs, args.gpu_dataset, 1)
                    for name in ("local", "ray")]
    cores = os.cpu_count()
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"ray_start_s": ray_start_s, "cores": cores, "load_average": load, "results": results},
                         indent=2))
        return
    print(f"{args.runs} runs of small_cnn on {args.dataset}, {args.epochs} epoch(s) each, {args.slots} at a time on "
          f"the CPU; {cores} cores, load average {load:.1f}; Ray's local instance started in {ray_start_s:.1f} s")
    local_wall = {r["device"]: r["wall_s"] for r in results if r["executor"] == "local"}
    for r in results:
        overhead = r["wall_s"] / local_wall[r["device"]]
        print(f"{r['executor']:6} {r['device']:5} completed {r['completed']}/{r['runs']}; submit to launch median "
              f"{median(r['launch_s']):.2f} s; submit to first step median {median(r['first_step_s']):.2f} s "
              f"(max {max(r['first_step_s'], default=float('nan')):.2f} s); training median "
              f"{median(r['training_s']):.1f} s; wall {r['wall_s']:.1f} s ({overhead:.2f}x local)"
              + (f"; {median(r['images_per_s']):.0f} images/s" if r["device"] != "cpu" else ""))
        for run_id, why in r["failed"].items():
            print(f"  not completed: {run_id} {why}")


if __name__ == "__main__":
    main()
