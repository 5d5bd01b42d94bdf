"""How honest the time left is: a real run's estimates, read once a second as the page does, against the time
it then actually took; and the duration measured before Start (core.jobs.estimate) against the run's.

Trains a recipe with `python -m core train` semantics (core.jobs.execute, in this process) while a thread reads
the run store every second; prints the estimate's median and worst error over the run, how often the actual
time left fell inside the shown range, and how much successive readings jumped (the issue's complaint: 3 min 28 s,
7 min 53 s, 5 min 20 s a second apart).

    python bench/eta.py [--dataset phantom-28] [--epochs 3] [--task classification]
"""
from __future__ import annotations

import argparse
import statistics
import threading
import time

from _common import temporary_home


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="classification")
    parser.add_argument("--dataset", default="phantom-28")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--verbose", action="store_true", help="print every reading")
    args = parser.parse_args()
    temporary_home()
    from core.data.catalog import list_datasets
    from core.jobs.control import create_run
    from core.jobs.estimate import estimate_duration
    from core.jobs.execute import execute
    from core.jobs.store import RunStore

    list_datasets("default")  # built-in datasets generated before any timing
    config = {"task": args.task, "dataset": args.dataset, "epochs": args.epochs, "device": "cpu"}
    before = estimate_duration(config, "default")
    store = RunStore()
    run_id = create_run(store, "default", config).id
    readings: list[tuple[float, float, float, float, str]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.wait(1.0):
            record = store.get(run_id)
            if record.eta_s is not None and record.phase in ("training", "evaluating the validation split"):
                readings.append((time.time(), record.eta_s, record.eta_low_s or record.eta_s,
                                 record.eta_high_s or record.eta_s, record.phase))

    watcher = threading.Thread(target=watch, daemon=True)
    start = time.time()
    watcher.start()
    execute(store, run_id)
    end = time.time()
    done.set()
    watcher.join()
    record = store.get(run_id)
    print(f"{args.task} on {args.dataset}, {args.epochs} epochs, cpu: {record.status} in {end - start:.1f} s; "
          f"measured before start: {before.seconds:.1f} s ({before.seconds / (end - start) - 1:+.0%})")
    if not readings:
        print("no readings")
        return
    if args.verbose:
        for t, eta, low, high, phase in readings:
            print(f"  at {t - start:5.1f} s: {low:6.1f} < {eta:6.1f} < {high:6.1f}, actually {end - t:6.1f} ({phase})")
    errors = [abs(eta - (end - t)) / max(1.0, end - t) for t, eta, _, _, _ in readings]
    inside = sum(low <= end - t <= high for t, _, low, high, _ in readings) / len(readings)
    jumps = [abs(b[1] - a[1] + (b[0] - a[0])) / max(1.0, a[1]) for a, b in zip(readings, readings[1:])]
    print(f"{len(readings)} readings a second apart: relative error median {statistics.median(errors):.0%}, "
          f"worst {max(errors):.0%}; actual time left inside the shown range {inside:.0%} of the time; "
          f"jump between successive readings median {statistics.median(jumps or [0]):.1%}, "
          f"worst {max(jumps or [0]):.0%}")


if __name__ == "__main__":
    main()
