"""A run with a minutes cap: training ends there and the run is evaluated from its best epoch, like an early-stopped
one; a cap reached before any epoch finished stops it; the teacher's change reaches a run while it trains."""
from __future__ import annotations

import threading

from core.jobs.control import create_run, set_run_cap
from core.jobs.execute import execute
from core.jobs.limits import QueueLimits
from core.jobs.store import RunStore
from core.train.run_folder import REPORT_FILE
from tests.fixtures import tiny_dataset, wait_for

TINY = {"model": "small_cnn", "batch_size": 8, "lr": 0.01, "device": "cpu"}


def test_a_cap_lowered_while_a_run_trains_ends_it_and_it_is_evaluated():
    store = RunStore()
    record = create_run(store, "w", {"dataset": tiny_dataset("w", per_class=(60, 60)), **TINY, "epochs": 40},
                        status="running", limits=QueueLimits(max_run_minutes=600))
    worker = threading.Thread(target=execute, args=(store, record.id))
    worker.start()
    try:
        wait_for(lambda: store.get(record.id).epoch >= 1)
        set_run_cap(store, record.id, 0.001)  # the teacher's change: 0.06 s, long passed
    finally:
        worker.join(timeout=300)
    final = store.get(record.id)
    assert final.status == "completed", final.message
    assert final.message == f"training ended at the teacher's cap of 0.001 minutes after epoch {final.epoch} of 40"
    assert 1 <= final.epoch < 40
    summary = final.summary_dict
    assert summary["time_capped"] and summary["epochs_trained"] == final.epoch and "test_accuracy" in summary
    assert (store.run_dir(final) / REPORT_FILE).exists()  # evaluated from its best epoch, like any finished run


def test_a_cap_reached_before_the_first_epoch_stops_the_run():
    store = RunStore()
    record = create_run(store, "w", {"dataset": tiny_dataset("w"), **TINY, "epochs": 3}, status="running",
                        limits=QueueLimits(max_run_minutes=0.0001))
    final = execute(store, record.id)
    assert final.status == "stopped"
    assert final.message.startswith("training ended at the teacher's cap of 0.0001 minutes before epoch 1 of 3 "
                                    "finished; resume continues from epoch 1, step ")
