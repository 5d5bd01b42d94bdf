"""The frame policy: which T frames of a sequence make a clip (uniform, cycle, stride), and its validation."""
from __future__ import annotations

import numpy as np
import pytest

from core.data.frame_policy import FRAME_POLICIES, FramePolicy, choose_frames, cycle_period
from core.errors import UserError


def beating(frames: int, period: float, size: int = 32, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """(F, size, size) a disk whose radius swings with `period` frames, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    distance = np.hypot(yy, xx)
    out = []
    for k in range(frames):
        radius = size * (0.25 + 0.1 * np.sin(2 * np.pi * k / period))
        out.append((distance < radius) * 200.0 + 20 + rng.normal(0, noise, (size, size)))
    return np.stack(out).astype(np.float32)


def test_uniform_spreads_t_frames_over_the_whole_sequence():
    choice = choose_frames(np.zeros((10, 4, 4)), FramePolicy("uniform", 4), frame_time_ms=40.0)
    assert choice.indices.tolist() == [0, 3, 6, 9]
    assert choice.frame_time_ms == pytest.approx(120.0) and choice.note is None


def test_uniform_on_a_short_sequence_repeats_frames_and_says_so():
    choice = choose_frames(np.zeros((3, 4, 4)), FramePolicy("uniform", 5))
    assert choice.indices.tolist() == [0, 0, 1, 2, 2] and choice.frame_time_ms is None
    assert "fewer than the 5" in choice.note


def test_stride_keeps_every_stride_th_frame_from_the_first():
    choice = choose_frames(np.zeros((100, 4, 4, 3)), FramePolicy("stride", 8, 2), frame_time_ms=20.0)
    assert choice.indices.tolist() == [0, 2, 4, 6, 8, 10, 12, 14]
    assert choice.frame_time_ms == pytest.approx(40.0) and choice.note is None


def test_stride_loops_a_short_sequence_with_a_note():
    choice = choose_frames(np.zeros((5, 4, 4)), FramePolicy("stride", 4, 2))
    assert choice.indices.tolist() == [0, 2, 4, 1]
    assert "looped" in choice.note and "5 frames" in choice.note


@pytest.mark.parametrize("period", [8.0, 10.0, 12.5])
def test_cycle_finds_the_period_from_the_frames_and_resamples_one_cycle(period):
    frames = beating(60, period, noise=5.0)
    assert cycle_period(frames) == pytest.approx(period, abs=0.5)
    choice = choose_frames(frames, FramePolicy("cycle", 8), frame_time_ms=30.0)
    assert choice.note is None and choice.period_frames == pytest.approx(period, abs=0.5)
    assert choice.indices[0] == 0 and choice.indices[-1] < period  # one cycle, not beyond it
    assert np.all(np.diff(choice.indices) >= 0)
    assert choice.frame_time_ms == pytest.approx(30.0 * choice.period_frames / 8)


def test_cycle_works_on_colour_frames_of_any_units():
    grey = beating(40, 10.0) * 100  # 0-22000, not 0-255
    colour = np.stack([grey, grey * 0.5, grey * 0.2], axis=-1)
    assert cycle_period(colour) == pytest.approx(10.0, abs=0.5)


@pytest.mark.parametrize("frames", [np.random.default_rng(1).normal(size=(40, 16, 16)),   # noise: no cycle
                                    np.full((40, 16, 16), 7.0),                            # still: no motion
                                    beating(4, 2.0)])                                      # too short
def test_cycle_without_a_clear_period_falls_back_to_uniform_with_a_note(frames):
    choice = choose_frames(frames, FramePolicy("cycle", 4), frame_time_ms=10.0)
    uniform = choose_frames(frames, FramePolicy("uniform", 4), frame_time_ms=10.0)
    assert choice.indices.tolist() == uniform.indices.tolist()
    assert "no clear cycle" in choice.note and choice.period_frames is None


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"mode": "random"}, "mode"), ({"frames": 1}, "frames"), ({"frames": 257}, "frames"),
    ({"frames": 2.5}, "frames"), ({"frames": True}, "frames"), ({"mode": "stride", "stride": 0}, "stride"),
    ({"mode": "stride", "stride": 65}, "stride"), ({"mode": "uniform", "stride": 2}, "stride"),
    ({"frames": "many"}, "frames"),
])
def test_invalid_fields_are_named(kwargs, field):
    with pytest.raises(UserError, match=f"'{field}'"):
        FramePolicy(**kwargs)


def test_dict_round_trip_and_unknown_fields():
    policy = FramePolicy("stride", 32, 2)
    assert FramePolicy.from_dict(policy.as_dict()) == policy
    assert FramePolicy.from_dict({"mode": "Cycle", "frames": "8"}) == FramePolicy("cycle", 8)
    assert FramePolicy.from_dict({}) == FramePolicy()
    with pytest.raises(UserError, match="'period'"):
        FramePolicy.from_dict({"mode": "cycle", "period": 3})


def test_describe_is_one_sentence_naming_the_policy():
    sentences = {mode: FramePolicy(mode, 16, 3 if mode == "stride" else 1).describe() for mode in FRAME_POLICIES}
    for sentence in sentences.values():
        assert sentence.startswith("Frames: 16 per clip") and sentence.endswith(".") and "\n" not in sentence
    assert "evenly over each whole sequence" in sentences["uniform"]
    assert "cycle" in sentences["cycle"]
    assert "every 3rd frame" in sentences["stride"] and "46 frames" in sentences["stride"]
