"""What the teacher allows each participant: queued runs per participant, epochs and minutes per run.

The starting values come from [workshop] in .streamlit/secrets.toml (core.access.config); the teacher's view can
change them while the workshop runs, and those changes are kept in the run store's settings table, so every
server process and a restarted server see them. Personal mode and admins have no limits.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from collections.abc import Callable
from typing import Any

from core.errors import UserError
from core.jobs.store import ACTIVE, RunStore

SETTINGS_KEY = "queue_limits"   # the run store's settings table: the teacher's changes, as a JSON object


@dataclass(frozen=True)
class QueueLimits:
    """0 means no limit."""

    max_queued_runs: int = 0      # runs a participant may have queued or running at once
    max_epochs: int = 0           # epochs per run: a longer recipe is shortened (the form says so before Start)
    max_run_minutes: float = 0.0  # training minutes per run: training ends there, then the run is evaluated


    def __post_init__(self) -> None:
        for name in ("max_queued_runs", "max_epochs", "max_run_minutes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise UserError(f"The queue limit '{name}' must be a number of at least 0 (0: no limit), not {value!r}.")


def effective_limits(store: RunStore, configured: QueueLimits) -> QueueLimits:
    """The teacher's saved changes (save_limits) over the configured values: a saved field wins, a field never
    saved keeps its configured value."""
    saved = store.setting(SETTINGS_KEY) or {}
    known = {f.name for f in fields(QueueLimits)}
    changes = {name: value for name, value in saved.items() if name in known}
    return replace(configured, **changes) if changes else configured


def save_limits(store: RunStore, limits: QueueLimits) -> None:
    """Keep `limits` as the teacher's current limits (every server process reads them on its next Start).
    Runs already queued keep the epochs they were created with; a running run's minutes are changed one by one
    (core.jobs.control.set_run_cap)."""
    store.save_setting(SETTINGS_KEY, asdict(limits))


def capped_config(config_data: dict[str, Any], limits: QueueLimits) -> tuple[dict[str, Any], list[str]]:
    """The config with the limits applied (epochs at most max_epochs, one data-parallel worker) and one sentence
    per change, e.g. "This workshop allows at most 10 epochs per run, so this run trains 10, not 30." Pure.

    A config without "epochs" is taken at its task's recommended number (core.tasks.load_config). The minutes cap
    changes nothing in the config (it is the run's max_minutes) but gets its sentence too, so the form can say
    what will happen before Start.
    """
    data = dict(config_data)
    notes: list[str] = []
    if limits.max_epochs:
        epochs = data.get("epochs")
        if epochs is None:
            from core.tasks import load_config  # only to learn the recipe's default epochs
            epochs = load_config(data).epochs
        if isinstance(epochs, int) and epochs > limits.max_epochs:
            data["epochs"] = int(limits.max_epochs)
            notes.append(f"This workshop allows at most {limits.max_epochs:g} epochs per run, so this run trains "
                         f"{limits.max_epochs:g}, not {epochs}.")
    workers = data.get("workers", 1)
    if isinstance(workers, int) and workers > 1:  # one GPU per participant's run keeps the queue fair
        data["workers"] = 1
        notes.append(f"In this workshop each run trains on one worker, so this run uses 1, not {workers}.")
    if limits.max_run_minutes:
        notes.append(f"Training stops after {minutes_text(limits.max_run_minutes)} (this workshop's cap per run); "
                     "the run is then evaluated from its best epoch so far.")
    return data, notes


def check_queue_limit(store: RunStore, workspace: str, limits: QueueLimits, adding: int = 1) -> None:
    """Raise UserError ("You have 2 runs queued or running, the most this workshop allows: wait for one to finish
    or stop one.") when `workspace` is at its limit. `adding`: how many runs are about to be queued together (a
    cross-validation's folds), all refused when they do not all fit. RunStore.create checks again with `admit`,
    atomically with the insert."""
    if not limits.max_queued_runs:
        return
    active = len(store.list(workspace, statuses=ACTIVE))
    if adding > 1 and active < limits.max_queued_runs < active + adding:
        raise UserError(f"This queues {adding} runs, but this workshop allows {limits.max_queued_runs:g} queued or "
                        f"running per participant and you have {active}: wait for runs to finish or stop some.")
    admit(limits)(active)


def admit(limits: QueueLimits) -> Callable[[int], None]:
    """The check RunStore.create(admit=...) makes inside its write transaction: given the workspace's runs queued or
    running, raise UserError when one more does not fit under `limits.max_queued_runs`."""
    def check(active: int) -> None:
        if limits.max_queued_runs and active >= limits.max_queued_runs:
            runs = "run" if active == 1 else "runs"
            raise UserError(f"You have {active} {runs} queued or running, the most this workshop allows: wait for "
                            "one to finish or stop one.")
    return check


def minutes_text(minutes: float) -> str:
    """"15 minutes", "1 minute", "2.5 minutes"."""
    return f"{minutes:g} minute{'' if minutes == 1 else 's'}"
