"""Runs with `workers: N` (core.jobs.data_parallel, core.train.distributed): N processes on the CPU with the gloo
backend train one run, stop together, die with their worker and resume from its checkpoint."""
from __future__ import annotations

import math
import os
import signal
from pathlib import Path

import pytest

from core.data.catalog import open_dataset
from core.jobs.control import create_run, prepare_resume, request_stop
from core.jobs.execute import execute
from core.jobs.store import RunStore
from tests.core.jobs.test_executors import executor, finished, ray_cluster, runner_for, stop_all  # noqa: F401
from tests.fixtures import tiny_dataset, wait_for

PHANTOM = {"dataset": "phantom-28", "epochs": 4, "batch_size": 32, "device": "cpu"}


def rank_processes(run_id: str) -> list[int]:
    """Pids of the follower ranks of `run_id` alive on this machine."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"core.jobs.rank" in command and run_id.encode() in command:
            pids.append(int(entry.name))
    return pids


def test_two_workers_reach_the_accuracy_of_one_on_the_phantom():
    """Same recipe, same seed: two gloo ranks (effective batch 64, learning rate doubled) against one; the test
    accuracies differ by less than 2.5 standard errors of a difference of two accuracies on this test split."""
    store = RunStore()
    results = {}
    for workers in (1, 2):
        record = create_run(store, "default", {**PHANTOM, "workers": workers}, status="running")
        final = execute(store, record.id)
        assert final.status == "completed", final.message
        results[workers] = final
        assert rank_processes(record.id) == []  # the followers left with the run
    one, two = (results[w].summary_dict["test_accuracy"] for w in (1, 2))
    n_test = open_dataset("default", "phantom-28").info.split_counts["test"]
    standard_error = math.sqrt(2 * one * (1 - one) / n_test)
    assert one > 0.8 and two > 0.8
    assert abs(one - two) < 2.5 * standard_error, (one, two)
    assert results[2].steps_per_epoch * 2 <= results[1].steps_per_epoch + 1  # each step took two shards


def test_a_stop_request_stops_every_rank_and_resume_completes():
    store = RunStore()
    dataset = tiny_dataset(per_class=(40, 40))
    record = create_run(store, "default", {"dataset": dataset, "workers": 2, "batch_size": 8, "epochs": 2,
                                           "device": "cpu"}, status="running")
    request_stop(store, record.id)  # seen at the first step: rank 0 saves a checkpoint, rank 1 stops with it
    stopped = execute(store, record.id)
    assert stopped.status == "stopped" and "resume continues from epoch 1, step 2" in stopped.message
    assert rank_processes(record.id) == []
    prepare_resume(store, record.id)
    store.update(record.id, status="running")
    final = execute(store, record.id)
    assert final.status == "completed", final.message
    assert final.summary_dict["epochs_trained"] == 2


def test_a_killed_worker_takes_its_ranks_with_it_and_resumes(executor):  # noqa: F811 - the executor fixture
    """SIGKILL to rank 0 (the run's worker): the follower dies with it, the run is interrupted, and resume
    completes it with both ranks again."""
    runner = runner_for(executor)
    store = runner.store
    try:
        dataset = tiny_dataset("w", per_class=(60, 60))
        run = create_run(store, "w", {"dataset": dataset, "workers": 2, "batch_size": 8, "lr": 0.01, "epochs": 30,
                                      "device": "cpu"})
        pid = wait_for(lambda: (r := store.get(run.id)).epoch >= 1 and r.pid, timeout=180, every=0.05)
        assert len(rank_processes(run.id)) == 1
        os.kill(pid, signal.SIGKILL)
        interrupted = wait_for(lambda: (r := store.get(run.id)).status == "interrupted" and r, timeout=60)
        wait_for(lambda: rank_processes(run.id) == [], timeout=30)
        prepare_resume(store, run.id, epochs=interrupted.epoch + 1)
        assert finished(store, run.id).status == "completed"
    finally:
        stop_all(runner)


@pytest.mark.parametrize("config, sentence", [
    ({"task": "gan", "workers": 2}, "data-parallel training is built for classification or multilabel runs"),
    ({"workers": 0}, "Config field 'workers' must be 1 to 16"),
    ({"workers": 2, "lr_scaling": "square"}, "Config field 'lr_scaling' must be one of linear, none"),
])
def test_configs_that_cannot_train_data_parallel_are_refused(config, sentence):
    from core.errors import UserError

    with pytest.raises(UserError, match=sentence):
        create_run(RunStore(), "default", {"dataset": tiny_dataset(), **config})


def test_more_images_per_step_than_the_training_split_is_refused():
    from core.errors import UserError

    dataset = tiny_dataset(per_class=(10, 10))
    with pytest.raises(UserError, match=r"4 workers x batch size 64 = 256 images per step, but the training split"):
        create_run(RunStore(), "default", {"dataset": dataset, "workers": 4, "batch_size": 64})


class HeldRunner:
    """A JobRunner on a machine with two (fake) GPUs whose workers never end: what the runner books."""

    @staticmethod
    def make():
        from core.jobs.runner import JobRunner

        class Handle:
            pid = None

            def poll(self):
                return None

        class Runner(JobRunner):
            def _spawn(self, record, device):
                return Handle()

        return Runner(RunStore(), slots=2, gpus=2, mem_get_info=lambda device: (64 * 2**30, 80 * 2**30))


def test_a_two_gpu_run_waits_until_both_gpus_are_idle_and_then_holds_them():
    runner = HeldRunner.make()
    store = runner.store
    gpu_run = {"task": "classification", "dataset": "phantom-64", "model": "small_cnn", "epochs": 2, "device": "auto"}
    single = store.create("A", gpu_run, monitor="val_accuracy")
    double = store.create("B", {**gpu_run, "workers": 2}, monitor="val_accuracy")
    runner._launch()
    assert store.get(single.id).device_used == "cuda:0" and store.get(double.id).status == "queued"
    runner._forget(single.id)  # the single-GPU run ended
    store.update(single.id, status="completed")
    runner._launch()
    assert store.get(double.id).status == "running"
    assert runner._busy() == {"cuda:0": 2, "cuda:1": 2}  # both GPUs, every slot
    later = store.create("C", gpu_run, monitor="val_accuracy")
    runner._launch()
    assert store.get(later.id).status == "queued"
