"""A tiny teacher, a student distilled from it and the same student trained alone, each trained through the job
executor on a tiny stored dataset (seconds on a CPU), for the distillation tests of core and the Evaluate page."""
from __future__ import annotations

from types import SimpleNamespace

from tests.fixtures import tiny_dataset

TINY = {"batch_size": 8, "lr": 0.01, "epochs": 2, "device": "cpu"}
STUDENT = {"model": "small_cnn", "temperature": 3.0, "distill_weight": 0.8}


def train(store, config: dict, workspace: str = "default"):
    """Queue `config` as a run and train it here to its end; the final record."""
    from core.jobs.control import create_run
    from core.jobs.execute import execute

    record = create_run(store, workspace, config, status="running")
    final = execute(store, record.id)
    assert final.status == "completed", final.message
    return final


def distillation_runs(store, with_alone: bool = True, workspace: str = "default") -> SimpleNamespace:
    """The three runs on a fresh tiny dataset: teacher (small CNN), distilled student and, if `with_alone`, the
    student trained alone (queued by core.jobs.distillation, as the page's button does)."""
    from core.jobs.distillation import queue_student_alone
    from core.jobs.execute import execute

    dataset = tiny_dataset(workspace, per_class=(16, 16))
    teacher = train(store, {"dataset": dataset, "name": "teacher", **TINY, "epochs": 3}, workspace)
    distilled = train(store, {"dataset": dataset, "task": "distillation", "teacher_run": teacher.id, **TINY,
                              **STUDENT}, workspace)
    alone = None
    if with_alone:
        queued = queue_student_alone(store, workspace, distilled.id)
        store.update(queued.id, status="running")
        alone = execute(store, queued.id)
        assert alone.status == "completed", alone.message
    return SimpleNamespace(dataset=dataset, teacher=teacher, distilled=distilled, alone=alone)
