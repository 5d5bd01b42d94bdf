"""What the teacher allows each participant: queued runs per participant, epochs and minutes per run.

The starting values come from [workshop] in .streamlit/secrets.toml (core.access.config); the teacher's view can
change them while the workshop runs, and those changes are kept in the run store's settings table, so every
server process and a restarted server see them. Personal mode and admins have no limits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.jobs.store import RunStore


@dataclass(frozen=True)
class QueueLimits:
    """0 means no limit."""

    max_queued_runs: int = 0      # runs a participant may have queued or running at once
    max_epochs: int = 0           # epochs per run: a longer recipe is shortened (the form says so before Start)
    max_run_minutes: float = 0.0  # training minutes per run: training ends there, then the run is evaluated


def effective_limits(store: RunStore, configured: QueueLimits) -> QueueLimits:
    """The teacher's saved changes (save_limits) over the configured values."""
    raise NotImplementedError  # H3


def save_limits(store: RunStore, limits: QueueLimits) -> None:
    raise NotImplementedError  # H3


def capped_config(config_data: dict[str, Any], limits: QueueLimits) -> tuple[dict[str, Any], list[str]]:
    """The config with the limits applied (epochs at most max_epochs) and one sentence per change, e.g.
    "This workshop allows at most 10 epochs per run, so this run trains 10, not 30." Pure."""
    raise NotImplementedError  # H3


def check_queue_limit(store: RunStore, workspace: str, limits: QueueLimits) -> None:
    """Raise UserError ("You have 2 runs queued or running, the most this workshop allows: wait for one to finish
    or stop one.") when `workspace` is at its limit."""
    raise NotImplementedError  # H3
