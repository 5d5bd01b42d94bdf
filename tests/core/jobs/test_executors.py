"""The job queue's executor suite, run with each executor (MEDLAB_EXECUTOR=local and =ray): two jobs at once,
stop and resume, a killed worker, a server restart. The Ray runs go through a local Ray instance started once for
this module (2 CPUs, a small object store), as `ray start --head` would serve them."""
from __future__ import annotations

import os
import signal

import pytest

from core.errors import UserError
from core.jobs.control import create_run, prepare_resume, request_stop
from core.jobs.executor import executor_name
from core.jobs.runner import JobRunner, make_executor
from core.jobs.store import RunStore
from tests.fixtures import tiny_dataset, wait_for

TINY = {"model": "small_cnn", "batch_size": 8, "lr": 0.01}


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    from core.jobs import ray_executor

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("RAY_ADDRESS", raising=False)
        patch.setattr(os, "cpu_count", lambda: 2)  # the CI machine's cores, whatever this one has
        ray_executor.connect()
    yield ray
    ray.shutdown()


@pytest.fixture(params=["local", "ray"])
def executor(request):
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return make_executor(request.param)


def runner_for(executor, slots: int = 1) -> JobRunner:
    return JobRunner(RunStore(), slots=slots, poll_s=0.2, gpus=0, executor=executor).start()


def finished(store: RunStore, run_id: str):
    return wait_for(lambda: (r := store.get(run_id)).status in ("completed", "failed", "stopped", "interrupted")
                    and r, timeout=300)


def stop_all(runner: JobRunner) -> None:
    runner.shutdown()
    for handle in runner.processes.values():
        handle.kill()


def test_two_jobs_run_at_once_and_both_complete(executor):
    runner = runner_for(executor, slots=2)
    store = runner.store
    try:
        runs = [create_run(store, name, {"dataset": tiny_dataset(name, per_class=(40, 40)), **TINY, "epochs": 3})
                for name in ("alice", "bob")]
        wait_for(lambda: all(store.get(r.id).status in ("running", "completed") for r in runs), timeout=120)
        for run in runs:
            done = finished(store, run.id)
            assert done.status == "completed", done.message
            assert done.summary_dict["epochs_trained"] == 3
            assert (store.run_dir(done) / "best.safetensors").exists()
        first, second = (store.get(r.id) for r in runs)
        assert max(first.launched, second.launched) < min(first.finished, second.finished)  # both at once
    finally:
        stop_all(runner)


def test_stop_then_resume_finishes_from_the_checkpoint(executor):
    runner = runner_for(executor)
    store = runner.store
    try:
        record = create_run(store, "w", {"dataset": tiny_dataset("w", per_class=(60, 60)), **TINY, "epochs": 40})
        wait_for(lambda: store.get(record.id).epoch >= 1, timeout=120)
        assert request_stop(store, record.id, by="the teacher").message == "stop requested by the teacher"
        stopped = finished(store, record.id)
        assert stopped.status == "stopped" and stopped.epoch < 40
        assert stopped.message.startswith("stopped by the teacher; resume continues from epoch")  # the owner reads
        prepare_resume(store, record.id, epochs=stopped.epoch + 2)
        done = finished(store, record.id)
        assert done.status == "completed" and done.epoch == stopped.epoch + 2
    finally:
        stop_all(runner)


def test_a_killed_worker_is_interrupted_and_resumes(executor):
    """SIGKILL to the worker process (as the out-of-memory killer sends it): interrupted, not failed; the next
    queued run starts; resume completes it."""
    runner = runner_for(executor)
    store = runner.store
    try:
        dataset = tiny_dataset("w", per_class=(60, 60))
        doomed = create_run(store, "w", {"dataset": dataset, **TINY, "epochs": 30})
        after = create_run(store, "w", {"dataset": dataset, **TINY, "epochs": 1})
        pid = wait_for(lambda: (r := store.get(doomed.id)).epoch >= 1 and r.pid, timeout=120, every=0.05)
        os.kill(pid, signal.SIGKILL)
        interrupted = wait_for(lambda: (r := store.get(doomed.id)).status == "interrupted" and "SIGKILL" in
                               (r.message or "") and r, timeout=60)
        assert f"its worker process (pid {pid}) was killed by SIGKILL" in interrupted.message
        assert finished(store, after.id).status == "completed"  # the queue moved on
        prepare_resume(store, doomed.id, epochs=interrupted.epoch + 1)
        assert finished(store, doomed.id).status == "completed"
    finally:
        stop_all(runner)


def test_a_server_restart_interrupts_the_running_run_and_keeps_the_queue(executor):
    """The app server goes away mid-run (its runner shut down, the run's worker killed with it); a new server's
    runner calls the run interrupted, resumable, and runs the queue."""
    runner = runner_for(executor)
    store = runner.store
    dataset = tiny_dataset("w", per_class=(60, 60))
    running = create_run(store, "w", {"dataset": dataset, **TINY, "epochs": 30})
    waiting = create_run(store, "w", {"dataset": dataset, **TINY, "epochs": 1})
    pid = wait_for(lambda: (r := store.get(running.id)).epoch >= 1 and r.pid, timeout=120, every=0.05)
    runner.shutdown()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: runner.processes[running.id].poll() is not None, timeout=60)
    restarted = runner_for(executor)
    try:
        interrupted = wait_for(lambda: (r := store.get(running.id)).status == "interrupted" and r, timeout=60)
        assert "resume continues" in interrupted.message or "resume" in interrupted.message
        assert finished(store, waiting.id).status == "completed"
    finally:
        stop_all(restarted)


def test_a_lost_ray_task_interrupts_its_run(ray_cluster):
    """The Ray worker process holding a run's task dies (a node lost, a worker killed): the run is interrupted,
    resumable from its checkpoint, and the runner says it was its Ray task."""
    runner = runner_for(make_executor("ray"))
    store = runner.store
    try:
        record = create_run(store, "w", {"dataset": tiny_dataset("w", per_class=(60, 60)), **TINY, "epochs": 30})
        pid = wait_for(lambda: (r := store.get(record.id)).epoch >= 1 and r.pid, timeout=120, every=0.05)
        task_pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])  # the worker's parent
        os.kill(task_pid, signal.SIGKILL)
        interrupted = finished(store, record.id)
        assert interrupted.status == "interrupted", interrupted.message
        assert prepare_resume(store, record.id, epochs=interrupted.epoch + 1).status == "queued"
        assert finished(store, record.id).status == "completed"
    finally:
        stop_all(runner)


def test_the_executor_is_chosen_by_medlab_executor(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MEDLAB_EXECUTOR", raising=False)
    assert executor_name() == "local"
    monkeypatch.setenv("MEDLAB_EXECUTOR", "Ray")
    assert executor_name() == "ray"
    monkeypatch.setenv("MEDLAB_EXECUTOR", "slurm")
    with pytest.raises(UserError, match="^MEDLAB_EXECUTOR must be 'local' or 'ray', not 'slurm'.$"):
        executor_name()


def test_each_executor_says_where_runs_go(ray_cluster):
    assert make_executor("local").summary() is None  # the sidebar's Compute line says it all
    ray = make_executor("ray")
    assert ray.devices() == {"cpu": 2, "gpu": 0}
    assert ray.summary() == "Runs go to a local Ray instance: 1 node, 2 CPUs, 0 GPUs"


def test_an_unreachable_ray_cluster_is_one_sentence(monkeypatch: pytest.MonkeyPatch):
    import socket

    from core.jobs.ray_executor import _reachable

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UserError, match=rf"^MedLab could not reach the Ray cluster at RAY_ADDRESS=127.0.0.1:{port} "
                                        r"\(.*\); start it with `ray start --head` or correct the address\.$"):
        _reachable(f"127.0.0.1:{port}")


def test_ray_started_from_a_thread_that_ends_keeps_running():
    """In the app, the job runner (and with it Ray) is first made on a Streamlit script thread, which ends with its
    script run; Ray's processes must outlive it (they once died with it: a parent-death signal is per thread)."""
    import subprocess
    import sys
    import textwrap

    pytest.importorskip("ray")
    script = textwrap.dedent("""
        import threading, ray
        from core.jobs import ray_executor
        thread = threading.Thread(target=ray_executor.connect)
        thread.start(); thread.join()  # Ray's processes got their parent-death signal here, if tied to it
        print(ray.get(ray.remote(lambda: 42).remote(), timeout=60))
        ray.shutdown()
    """)
    env = {**os.environ, "MEDLAB_RAY_OBJECT_STORE_MB": "80"}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240, env=env,
                          cwd=str(__import__("core").__path__[0] + "/.."))
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "42", done.stderr[-2000:]
