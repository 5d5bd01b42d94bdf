"""How a sequence of any length becomes the T frames a sequence dataset stores (the frame policy).

Policies (saved with the dataset in preprocessing["frame_policy"], shown on the Dataset page, reused for
prediction):
    uniform   T frames spread evenly over the whole sequence (nearest frame; no blending of frames)
    cycle     T frames spread evenly over the first full cycle (cardiac cine: the period is found from the
              frames' own self-similarity; a sequence without a clear period falls back to uniform, said so)
    stride    every `stride`-th frame from the first, `frames` of them (EchoNet-Dynamic's clip length and
              period); a shorter sequence is looped to fill the clip, said so
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_POLICIES = ("uniform", "cycle", "stride")
DEFAULT_FRAMES = 16


@dataclass(frozen=True)
class FramePolicy:
    mode: str = "uniform"          # one of FRAME_POLICIES
    frames: int = DEFAULT_FRAMES   # T, the frames stored per clip (2 to 256)
    stride: int = 1                # "stride" only: keep every stride-th frame

    def __post_init__(self) -> None:
        """Raises UserError naming the bad field."""
        raise NotImplementedError

    def as_dict(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: dict) -> FramePolicy:
        raise NotImplementedError

    def describe(self) -> str:
        """One sentence for the page and the import summary, e.g. "16 frames spread evenly over each sequence"."""
        raise NotImplementedError


@dataclass
class FrameChoice:
    indices: np.ndarray            # (T,) int: which source frames make the clip, in order
    frame_time_ms: float | None    # time between the chosen frames (None when the source gave no frame time)
    note: str | None = None        # a sentence when the policy had to fall back (no clear cycle, looped clip)


def choose_frames(frames: np.ndarray, policy: FramePolicy, frame_time_ms: float | None = None) -> FrameChoice:
    """The frames of `frames` ((F, H, W) or (F, H, W, 3), any units) that `policy` keeps."""
    raise NotImplementedError
