"""How long a training run has left: a smoothed step time plus the measured evaluation time, as a range.

A single window's speed jumps with whatever else the machine is doing (a busy 2-core CPU gave 3 min 28 s, 7 min
53 s and 5 min 20 s a second apart), so the step time is an exponential moving average of measured windows,
weighted by the steps in each; the validation pass after every epoch is timed separately (it is not a step) and
kept as its own moving average. Early in a run, or while the step times scatter, the estimate is a range: its
half-width is the larger of the recent scatter (the spread between the quartiles of the last windows) and an
allowance that shrinks as more steps are measured (the scatter is halved: the remaining time sums many
windows). No torch, no clock: callers pass measured seconds.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """Seconds left: the most likely figure and a range around it (low == high when sure)."""

    seconds: float
    low: float
    high: float

    @property
    def unsure(self) -> bool:
        """Whether the range is wide enough to show as a range (more than ±10 % and more than 10 s wide)."""
        return self.high - self.low > max(10.0, 0.2 * self.seconds)


class EtaEstimator:
    """Feed it measured step windows and validation passes; ask it for the time left.

    Args:
        tau_s: time constant of the moving average of the step time, in measured seconds: a window of `tau_s`
            seconds moves the average about two thirds of the way to its own figure, so one-second jitter is
            smoothed out while a lasting change (another job started on the machine) shows within a minute or two.
        recent: how many recent windows the scatter is taken from.

    The first window (it holds the first step: memory allocation, kernel selection) is replaced by the second;
    until `tau_s` seconds are measured the average is a plain mean of the windows so far.
    """

    def __init__(self, tau_s: float = 30.0, recent: int = 20) -> None:
        self.tau_s = tau_s
        self.step_s: float | None = None      # moving average of seconds per step
        self.eval_s: float | None = None      # moving average of seconds per validation pass
        self.steps_seen = 0                   # steps in the average (the first window is not)
        self.windows_seen = 0
        self.windows: deque[float] = deque(maxlen=recent)  # seconds per step of recent windows

    def add_steps(self, steps: int, seconds: float) -> None:
        """`steps` training steps took `seconds` (one window between two progress reports)."""
        if steps <= 0 or seconds <= 0:
            return
        per_step = seconds / steps
        self.windows_seen += 1
        if self.windows_seen > 1:
            self.windows.append(per_step)
        if self.step_s is None or self.windows_seen == 2:  # the first window only stands in until a second
            self.step_s, self.steps_seen = per_step, (steps if self.windows_seen == 2 else 0)
            return
        weight = max(steps / (self.steps_seen + steps), 1 - math.exp(-seconds / self.tau_s))
        self.step_s += weight * (per_step - self.step_s)
        self.steps_seen += steps

    def add_evaluation(self, seconds: float) -> None:
        """One validation pass took `seconds`."""
        if seconds < 0:
            return
        self.eval_s = seconds if self.eval_s is None else self.eval_s + 0.5 * (seconds - self.eval_s)

    def estimate(self, steps_left: int, evaluations_left: int, final_s: float | None = None) -> Estimate | None:
        """Time left for `steps_left` steps and `evaluations_left` validation passes, plus `final_s` seconds of
        work after training (the test split, the report) if given; None before any step was measured."""
        if self.step_s is None:
            return None
        steps_left, evaluations_left = max(0, steps_left), max(0, evaluations_left)
        eval_s = self.eval_s if self.eval_s is not None else 0.0
        seconds = steps_left * self.step_s + evaluations_left * eval_s + (final_s or 0.0)
        spread = _relative_spread(list(self.windows)) / 2  # the average of many windows scatters less than one
        allowance = 0.5 / math.sqrt(1 + self.steps_seen / 5)  # ±50 % at first, ±22 % after 20 steps, ±5 % after 500
        relative = min(max(spread, allowance), 0.5)  # at most half either way: a range of x3 says little more
        low, high = seconds * (1 - relative), seconds * (1 + relative)
        if self.eval_s is None and evaluations_left:  # no validation pass measured yet: it may take a while
            high += seconds * 0.5
        return Estimate(seconds, max(0.0, low), high)


def _relative_spread(values: list[float]) -> float:
    """Half the distance between the quartiles, relative to the median (0 with fewer than 4 values)."""
    if len(values) < 4:
        return 0.0
    ordered = sorted(values)
    n = len(ordered)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    q1, q3 = ordered[n // 4], ordered[(3 * n) // 4]
    return (q3 - q1) / 2 / median if median > 0 else 0.0


def format_duration(seconds: float) -> str:
    """`42 s`, `3 min 05 s`, `1 h 24 min`."""
    seconds = int(round(max(0.0, seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def format_left(estimate: Estimate) -> str:
    """The time left as a person would say it: `about 3 min 30 s left`, or a range when unsure, rounded to units
    the range can support (`about 3–5 min left`, `about 1–2 h left`)."""
    if not estimate.unsure:
        return f"about {format_duration(estimate.seconds)} left"
    low, high = estimate.low, estimate.high
    if high < 90:
        return f"about {_round(low, 5)}–{max(_round(high, 5), _round(low, 5) + 5)} s left"
    if high < 2 * 3600:
        lo, hi = math.floor(low / 60), math.ceil(high / 60)
        if lo < 1:  # "0–4 min" reads as "maybe done"
            return f"less than {max(hi, 1)} min left"
        return f"about {lo}–{max(hi, lo + 1)} min left"
    lo, hi = max(1, round(low / 3600)), math.ceil(high / 3600)
    return f"about {lo}–{max(hi, lo + 1)} h left"


def _round(seconds: float, unit: int) -> int:
    return int(round(seconds / unit) * unit)
