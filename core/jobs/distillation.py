"""The runs around a distillation run: its teacher, and the same student trained alone for the comparison.

"Student trained alone" is the distillation run's own config without the teacher (task classification, the
distillation keys dropped): the same model, dataset, epochs, seed and recipe. A run of the workspace whose
validated config equals that (ignoring only IGNORED_KEYS, which do not change what is learnt) is it, whenever and
however it was started; `queue_student_alone` reuses one, else queues it as an ordinary classification run.
The table itself is built from run folders by core.evaluate.distillation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import UserError
from core.evaluate.distillation import SPEED_REPEATS, comparison_rows, paired_difference, verdict
from core.jobs.control import create_run
from core.jobs.limits import QueueLimits
from core.jobs.store import ACTIVE, RunRecord, RunStore
from core.tasks import load_config
from core.tasks.distill import DISTILL_KEYS

# config keys that do not change what a run learns: a run differing only in these is the same recipe
IGNORED_KEYS = ("name", "device", "amp", "channels_last")


def student_alone_config(config: dict[str, Any]) -> dict[str, Any]:
    """The classification config of the student trained alone: the distillation config minus its teacher keys."""
    alone = {k: v for k, v in config.items() if k not in (*DISTILL_KEYS, "augmentation")}
    alone["task"] = "classification"
    return load_config(alone).as_dict()


def find_student_alone(store: RunStore, workspace: str, config: dict[str, Any]) -> RunRecord | None:
    """The newest completed run of `workspace` that is the student of distillation `config` trained alone, else
    the newest queued or running one, else None."""
    wanted = _recipe(student_alone_config(config))
    found = [run for run in store.list(workspace, statuses=("completed", *ACTIVE))
             if run.task == "classification" and run.dataset == wanted["dataset"] and _same(store, run, wanted)]
    found.sort(key=lambda run: (run.status == "completed", run.created), reverse=True)
    return found[0] if found else None


def queue_student_alone(store: RunStore, workspace: str, run_id: str, limits: QueueLimits | None = None
                        ) -> RunRecord:
    """The student of distillation run `run_id` trained alone: a matching run if there is one, else a new queued
    run of that config. `limits`: a workshop participant's (core.jobs.limits)."""
    record = _distillation(store, workspace, run_id)
    config = store.config(record)
    existing = find_student_alone(store, workspace, config)
    if existing is not None:
        return existing
    # named by its model: the distillation run's own name says "distilled from ..." (core.tasks.distill)
    alone = {**student_alone_config(config), "name": f"{config.get('model', 'small_cnn')} · student alone (for "
                                                     f"{record.id})"}
    return create_run(store, workspace, alone, limits=limits)


@dataclass
class DistillationTable:
    rows: list[dict[str, Any]]                 # core.evaluate.distillation.comparison_rows
    teacher: RunRecord | None
    student_alone: RunRecord | None            # None: none trained or queued yet (offer to queue one)
    paired: dict[str, Any] | None = None       # core.evaluate.distillation.paired_difference
    verdict: str = ""
    facts: dict[str, Any] = field(default_factory=dict)  # teacher_run, temperature, distill_weight


def distillation_table(store: RunStore, workspace: str, run_id: str, measure_speed: bool = True,
                       repeats: int = SPEED_REPEATS) -> DistillationTable:
    """Teacher, student alone and student distilled for distillation run `run_id` of `workspace` (speed: the
    median of `repeats` timed passes each, see core.evaluate.distillation)."""
    record = _distillation(store, workspace, run_id)
    config = store.config(record)
    facts = {key: config.get(key) for key in DISTILL_KEYS}
    try:
        teacher = store.get(str(config.get("teacher_run", "")))
    except UserError:  # deleted since
        teacher = None
    alone = find_student_alone(store, workspace, config)
    runs = {"student distilled": (store.run_dir(record), record.status)}
    if teacher is not None:
        runs["teacher"] = (store.run_dir(teacher), teacher.status)
    if alone is not None:
        runs["student alone"] = (store.run_dir(alone), alone.status)
    rows = comparison_rows(runs, measure_speed=measure_speed, repeats=repeats)
    paired = None
    if alone is not None and alone.status == "completed" and record.status == "completed":
        paired = paired_difference(store.run_dir(alone), store.run_dir(record))
    return DistillationTable(rows, teacher, alone, paired, verdict(rows, paired), facts)


def _distillation(store: RunStore, workspace: str, run_id: str) -> RunRecord:
    record = store.get(run_id)
    if record.workspace != workspace:
        raise UserError(f"There is no run '{run_id}' in workspace '{workspace}'.")
    if record.task != "distillation":
        raise UserError(f"Run '{run_id}' is a {record.task} run, not a distillation run.")
    return record


def _recipe(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in IGNORED_KEYS}


def _same(store: RunStore, run: RunRecord, wanted: dict[str, Any]) -> bool:
    try:
        saved = {k: v for k, v in store.config(run).items() if k != "augmentation"}  # added when it ran
        return _recipe(load_config(saved).as_dict()) == wanted
    except (UserError, OSError, ValueError):
        return False
