"""How a sequence of any length becomes the T frames a sequence dataset stores (the frame policy).

Policies (saved with the dataset in preprocessing["frame_policy"], shown on the Dataset page, reused for
prediction):
    uniform   T frames spread evenly over the whole sequence (nearest frame; no blending of frames)
    cycle     T frames spread evenly over the first full cycle (cardiac cine: the period is found from the
              frames' own self-similarity; a sequence without a clear period falls back to uniform, said so)
    stride    every `stride`-th frame from the first, `frames` of them (EchoNet-Dynamic's clip length and
              period: Ouyang et al., "Video-based AI for beat-to-beat assessment of cardiac function", Nature
              2020, which samples 32 frames at a period of 2); a shorter sequence is looped to fill the clip,
              said so

The period of "cycle" is the first clear minimum of the mean squared difference between frames `lag` apart
(the average magnitude difference function of a downsampled greyscale copy), refined to a fraction of a frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import UserError

FRAME_POLICIES = ("uniform", "cycle", "stride")
DEFAULT_FRAMES = 16
FRAMES_RANGE = (2, 256)
MAX_STRIDE = 64
_CYCLE_SIDE = 32          # frames are block-averaged to at most this many pixels a side to find the period
_CYCLE_DEPTH = 0.5        # a minimum must fall below this share of the difference seen at shorter lags
_MIN_CYCLE_FRAMES = 6     # fewer frames than this hold no cycle worth finding


def _whole(value: object, field: str) -> int:
    """`value` as an int, or UserError naming `field` (bools and fractions are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, str)):
        raise UserError(f"Frame policy field '{field}' must be a whole number, not {value!r}.")
    try:
        number = float(value)
    except ValueError:
        raise UserError(f"Frame policy field '{field}' must be a whole number, not {value!r}.") from None
    if not number.is_integer():
        raise UserError(f"Frame policy field '{field}' must be a whole number, not {value!r}.")
    return int(number)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@dataclass(frozen=True)
class FramePolicy:
    mode: str = "uniform"          # one of FRAME_POLICIES
    frames: int = DEFAULT_FRAMES   # T, the frames stored per clip (2 to 256)
    stride: int = 1                # "stride" only: keep every stride-th frame

    def __post_init__(self) -> None:
        """Raises UserError naming the bad field."""
        mode = str(self.mode).strip().lower() if isinstance(self.mode, str) else self.mode
        if mode not in FRAME_POLICIES:
            raise UserError(f"Frame policy field 'mode' must be one of {', '.join(FRAME_POLICIES)}, not {self.mode!r}.")
        frames, stride = _whole(self.frames, "frames"), _whole(self.stride, "stride")
        if not FRAMES_RANGE[0] <= frames <= FRAMES_RANGE[1]:
            raise UserError(f"Frame policy field 'frames' must be {FRAMES_RANGE[0]} to {FRAMES_RANGE[1]} frames "
                            f"per clip, not {frames}.")
        if not 1 <= stride <= MAX_STRIDE:
            raise UserError(f"Frame policy field 'stride' must be 1 to {MAX_STRIDE}, not {stride}.")
        if stride != 1 and mode != "stride":
            raise UserError(f"Frame policy field 'stride' applies only to the 'stride' policy, not to '{mode}'.")
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "frames", frames)
        object.__setattr__(self, "stride", stride)

    def as_dict(self) -> dict:
        return {"mode": self.mode, "frames": self.frames, "stride": self.stride}

    @classmethod
    def from_dict(cls, data: dict) -> FramePolicy:
        """The policy saved by `as_dict`; missing fields take their defaults, unknown ones are refused."""
        if not isinstance(data, dict):
            raise UserError(f"A frame policy must be a mapping of mode, frames and stride, not {data!r}.")
        unknown = sorted(set(data) - {"mode", "frames", "stride"})
        if unknown:
            raise UserError(f"Frame policy has unknown field{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(repr(k) for k in unknown)}; its fields are mode, frames and stride.")
        return cls(**data)

    def describe(self) -> str:
        """One sentence for the page and the import summary, e.g. "16 frames spread evenly over each sequence"."""
        t = self.frames
        if self.mode == "uniform":
            return f"Frames: {t} per clip, spread evenly over each whole sequence (the nearest frame at each step)."
        if self.mode == "cycle":
            return (f"Frames: {t} per clip, spread evenly over the first full cycle, its period found from the "
                    "frames' own similarity (a sequence without a clear cycle is spread evenly over its whole length).")
        every = "every frame" if self.stride == 1 else f"every {_ordinal(self.stride)} frame"
        return (f"Frames: {t} per clip, {every} from the first (sequences too short for "
                f"{t * self.stride - self.stride + 1} frames are looped from the start).")


@dataclass
class FrameChoice:
    indices: np.ndarray            # (T,) int: which source frames make the clip, in order
    frame_time_ms: float | None    # time between the chosen frames (None when the source gave no frame time)
    note: str | None = None        # a sentence when the policy had to fall back (no clear cycle, looped clip)
    period_frames: float | None = None  # "cycle": the period found, in source frames (None: none found)


def choose_frames(frames: np.ndarray, policy: FramePolicy, frame_time_ms: float | None = None) -> FrameChoice:
    """The frames of `frames` ((F, H, W) or (F, H, W, 3), any units) that `policy` keeps.

    `frame_time_ms` is the source's time between frames; the returned one is the (average) time between the
    chosen frames. Raises ValueError for an empty sequence (a reader never returns one).
    """
    count = int(len(frames))
    if count < 1:
        raise ValueError("choose_frames needs at least one frame")
    t = policy.frames
    if policy.mode == "stride":
        span = (t - 1) * policy.stride + 1
        indices = (np.arange(t) * policy.stride) % count
        note = None
        if count < span:
            note = (f"the sequence has {count} frame{'s' if count != 1 else ''}, fewer than the {span} that "
                    f"{t} frames at a stride of {policy.stride} span, so it was looped from the start")
        return FrameChoice(indices.astype(np.int64), _scaled(frame_time_ms, policy.stride), note)
    if policy.mode == "cycle":
        period = cycle_period(frames)
        if period is not None:
            positions = np.arange(t) * (period / t)
            indices = np.clip(np.rint(positions), 0, count - 1).astype(np.int64)
            note = _repeat_note(period, t, "the cycle")
            return FrameChoice(indices, _scaled(frame_time_ms, period / t), note, period_frames=float(period))
        choice = _uniform(count, t, frame_time_ms)
        fallback = (f"no clear cycle was found in its {count} frames, so the {t} frames were spread evenly over the "
                    "whole sequence")
        choice.note = fallback if choice.note is None else f"{fallback}; {choice.note}"
        return choice
    return _uniform(count, t, frame_time_ms)


def _uniform(count: int, t: int, frame_time_ms: float | None) -> FrameChoice:
    """T frames from first to last, evenly spaced, each the nearest source frame."""
    indices = np.rint(np.linspace(0, count - 1, t)).astype(np.int64)
    step = (count - 1) / (t - 1)
    return FrameChoice(indices, _scaled(frame_time_ms, step) if count > 1 else None,
                       _repeat_note(count, t, "the sequence"))


def _repeat_note(available: float, t: int, what: str) -> str | None:
    if available >= t:
        return None
    return (f"{what} spans only {available:.3g} frames, fewer than the {t} per clip, so some frames repeat")


def _scaled(frame_time_ms: float | None, step: float) -> float | None:
    if frame_time_ms is None or not np.isfinite(frame_time_ms) or frame_time_ms <= 0:
        return None
    return float(frame_time_ms * step)


def _small_grey(frames: np.ndarray) -> np.ndarray:
    """(F, h, w) float64 greyscale copy, block-averaged to at most _CYCLE_SIDE pixels a side."""
    data = np.asarray(frames)
    if data.ndim == 4:  # channels summed plane by plane (a reduction over the last axis is slow)
        data = sum(data[..., c].astype(np.float64) for c in range(data.shape[-1])) / data.shape[-1]
    _, height, width = data.shape
    factor = max(1, int(np.ceil(max(height, width) / _CYCLE_SIDE)))
    h, w = height // factor * factor, width // factor * factor
    if h and w:
        data = data[:, :h, :w].reshape(len(data), h // factor, factor, w // factor, factor).mean(axis=(2, 4),
                                                                                               dtype=np.float64)
    return np.nan_to_num(np.asarray(data, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)


def cycle_period(frames: np.ndarray) -> float | None:
    """The period of a repeating sequence, in frames (fractional), or None when there is no clear one.

    d(lag) = mean over frame pairs `lag` apart of the mean squared difference of their downsampled greyscale
    copies. The period is the first lag (2 or more, at most two thirds of the sequence so that several pairs
    compare) where d has a local minimum below _CYCLE_DEPTH times the largest d at shorter lags; a parabola
    through it and its neighbours places it between frames. A still or aperiodic sequence has no such minimum.
    """
    count = len(frames)
    if count < _MIN_CYCLE_FRAMES:
        return None
    small = _small_grey(frames).reshape(count, -1)
    small = small - small.mean()
    max_lag = (2 * count) // 3
    d = np.array([np.mean((small[lag:] - small[:count - lag]) ** 2) for lag in range(max_lag + 2)])
    if not np.isfinite(d).all() or d[1:].max() <= 1e-12 * max(1.0, float(np.mean(small ** 2))):
        return None
    for lag in range(2, max_lag + 1):
        if not (d[lag] < d[lag - 1] and d[lag] <= d[lag + 1]):
            continue
        before = d[1:lag].max()
        if d[lag] > _CYCLE_DEPTH * before:
            continue
        low, mid, high = d[lag - 1], d[lag], d[lag + 1]
        curve = low - 2 * mid + high
        shift = 0.5 * (low - high) / curve if curve > 0 else 0.0
        return float(lag + np.clip(shift, -0.5, 0.5))
    return None
